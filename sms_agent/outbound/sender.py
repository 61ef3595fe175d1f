"""Which of our numbers a message goes out from: the one the texter wrote to (Twilio's To),
so that it lands in the thread they wrote in, not in one with TWILIO_PHONE_NUMBER that they
may never have texted; the backend's own number when that is not known."""

from __future__ import annotations

import sqlalchemy as sa

from ..current import app_config
from ..extensions import db
from ..models import Channel, Task, User
from .channels import PREFIX

#: Where a task's metadata keeps the number of ours its text was written to (Twilio's To,
#: "whatsapp:+1..." on WhatsApp), which everything sent about the task goes out from.
OUR_NUMBER = "our_number"


def is_our_number(phone: str) -> bool:
    """Whether `phone` is a number of ours we know by configuration: TWILIO_PHONE_NUMBER or
    our WhatsApp sender."""
    config = app_config()
    return phone in (config["TWILIO_PHONE_NUMBER"], config.get("TWILIO_WHATSAPP_NUMBER"))


def written_to(task: Task | None) -> str | None:
    """The number of ours the task's text was written to; None for tasks stored before it
    was kept and for those the API created."""
    return (task.metadata_ or {}).get(OUR_NUMBER) if task is not None else None


def thread_number(user: User) -> str | None:
    """The number of ours the texter wrote to last, as their latest stored text says: what
    a message with no text to answer (staff's, the API's) goes out from, so it lands in the
    thread the texter is in. None when that text did not keep it (see `written_to`)."""
    latest = sa.select(Task.metadata_).where(Task.user_phone == user.phone_number)
    meta = db.session.scalar(latest.order_by(Task.created_at.desc()).limit(1))
    return (meta or {}).get(OUR_NUMBER)


def sender_number(written_to: str | None, channel: str) -> str | None:
    """The number a message on `channel` goes out from, given the address of ours the
    texter wrote to ("whatsapp:+1..." or "+1..."): that number when it was written to on
    the same channel, since a WhatsApp sender may take no SMS and an SMS number may not be
    on WhatsApp. None otherwise, and when unknown: the backend's own number then."""
    if not written_to:
        return None
    whatsapp = written_to.startswith(PREFIX)
    if whatsapp != (channel == Channel.WHATSAPP):
        return None
    return written_to.removeprefix(PREFIX)
