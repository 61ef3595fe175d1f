"""Local texting: a Twilio-style inbound SMS, signed as Twilio signs it, sent through the real
/sms/inbound view in-process, and the reply read back from the outbox.

A picture or voice note is put in the local media store (vendors/twilio_media.py) under a
URL of the form Twilio uses, and the worker reads it from there: the service still fetches
only Twilio-shaped URLs of its own account, and no server has to run. That needs
SMS_BACKEND=console; with Twilio configured the worker would ask Twilio for a media sid it
never issued."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from twilio.request_validator import RequestValidator

from .extensions import db
from .inbound.keywords import Keyword
from .inbound.routing import twilio_confirms
from .models import OutboundMessage, Task, TaskStatus, User
from .ops.health import broker_problem
from .phones import normalise_phone
from .vendors.twilio import quiet_console
from .vendors.twilio_media import LocalMediaStore, account_sid

#: The URL simulated texts are posted to when no PUBLIC_BASE_URL is configured.
LOCAL_BASE_URL = "http://localhost"


class SimulationRejected(RuntimeError):
    """The app refused the simulated webhook (the message says why)."""


#: An attachment to simulate: (the file's bytes, its content type).
Attachment = tuple[bytes, str]


def inbound_form(
    from_number: str,
    body: str,
    num_media: int = 0,
    *,
    channel: str = "sms",
    media_urls: Sequence[tuple[str, str]] = (),
    sid: str | None = None,
) -> dict[str, str]:
    """The fields Twilio posts for an incoming SMS, MMS or WhatsApp message; `sid` the
    MessageSid when it must be this one (a message delivered again), else a new one."""
    config = current_app.config
    to = config["TWILIO_PHONE_NUMBER"]
    if channel == "whatsapp":
        from_number = f"whatsapp:{from_number}"
        to = f"whatsapp:{config.get('TWILIO_WHATSAPP_NUMBER') or to}"
    form = {
        "MessageSid": sid or ("MM" if media_urls else "SM") + secrets.token_hex(16),
        "AccountSid": account_sid(config),
        "From": from_number,
        "To": to,
        "Body": body,
        "NumMedia": str(num_media or len(media_urls)),
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    for n, (url, content_type) in enumerate(media_urls):
        form[f"MediaUrl{n}"], form[f"MediaContentType{n}"] = url, content_type
    return form


def store_media(attachments: Sequence[Attachment]) -> list[tuple[str, str]]:
    """Put the files in the local media store; their (URL, content type) for the form."""
    if not attachments:
        return []
    if current_app.config["SMS_BACKEND"] != "console":
        raise SimulationRejected(
            "pictures and voice notes can be simulated only with SMS_BACKEND=console, "
            "where the worker reads them from the local media store (MEDIA_STORE_DIR)"
        )
    store = LocalMediaStore(current_app.config)
    return [(store.save(data, content_type), content_type) for data, content_type in attachments]


def own_base_url() -> str:
    """Where a simulated text is posted, in-process: PUBLIC_BASE_URL, else localhost, else
    (production with only ALLOWED_HOSTS) the first host the app answers for: another host
    would be refused by the host check (security.py)."""
    public = current_app.config.get("PUBLIC_BASE_URL")
    hosts = current_app.config.get("TRUSTED_HOSTS")
    if public or not hosts or "localhost" in hosts:
        return public or LOCAL_BASE_URL
    return "http://" + hosts[0].lstrip(".")


def signature_for(path: str, form: dict[str, str]) -> str:
    base = own_base_url()
    token = current_app.config.get("TWILIO_AUTH_TOKEN") or ""
    return RequestValidator(token).compute_signature(base.rstrip("/") + path, form)


def simulate_inbound(
    from_number: str,
    body: str,
    num_media: int = 0,
    *,
    channel: str = "sms",
    media: Sequence[Attachment] = (),
    sid: str | None = None,
) -> Task | None:
    """Deliver one SMS (on `channel`, with `media` attached) to our own webhook as Twilio
    would; the stored Task, or None when the message was a keyword, a command or otherwise
    not a question. A `sid` delivered before is a duplicate, as Twilio's retries are: the
    webhook stores and answers it once."""
    form = inbound_form(
        normalise_phone(from_number),
        body,
        num_media,
        channel=channel,
        media_urls=store_media(media),
        sid=sid,
    )
    response = current_app.test_client().post(
        "/sms/inbound",
        base_url=own_base_url(),
        data=form,
        headers={"X-Twilio-Signature": signature_for("/sms/inbound", form)},
    )
    if response.status_code != 200:
        raise SimulationRejected(response.get_data(as_text=True).strip())
    db.session.rollback()  # read what the view committed, not a stale snapshot
    return db.session.scalar(sa.select(Task).where(Task.message_sid == form["MessageSid"]))


def gets_nothing_back(phone: str, since: datetime | None = None, text: str = "") -> str | None:
    """Why a text from this number gets nothing back, neither an answer nor a notice: the
    texter opted out or was made inactive (inbound/routing.py stores none of their texts;
    only START or STOP may change that). None for anyone else, and for a texter a STOP
    (`text`) sent at or after `since` opted out: its confirmation is the one SMS even an
    inactive texter gets (unless Twilio's Advanced Opt-Out sends it, as it does for the
    carriers' own words only, and on SMS only)."""
    user = db.session.get(User, phone)
    if user is not None and user.is_opted_out:
        just_now = since is not None and user.opted_out_at >= since
        by_twilio = twilio_confirms(Keyword.STOP, text, user.channel)
        if just_now and not by_twilio:
            return None
        return "this number has opted out; nothing is sent to it until it texts START"
    if user is not None and not user.is_active:
        return "this texter is inactive; nothing is sent to them"
    return None


@contextlib.contextmanager
def jobs_inline() -> Iterator[None]:
    """Run jobs in this process while the block runs (no worker needed)."""
    celery = current_app.extensions["celery"]
    before = celery.conf.task_always_eager, celery.conf.task_eager_propagates
    # Not propagating: a job's retry (or failure) must not turn into a 500 from the webhook.
    celery.conf.task_always_eager, celery.conf.task_eager_propagates = True, False
    quiet = quiet_console.set(True)
    try:
        yield
    finally:
        celery.conf.task_always_eager, celery.conf.task_eager_propagates = before
        quiet_console.reset(quiet)


def replies_since(phone: str, since: datetime, task: Task | None) -> list[OutboundMessage]:
    """The SMS sent back since `since`: a task's, and the notices sent beside it (a note on
    a file we do not read, the confirmation of a "Yes" under a picture), which belong to no
    task."""
    query = sa.select(OutboundMessage).order_by(OutboundMessage.created_at, OutboundMessage.part)
    notices = sa.and_(OutboundMessage.to_number == phone, OutboundMessage.created_at >= since)
    if task is not None:
        notices = sa.or_(
            OutboundMessage.task_id == task.id,
            sa.and_(notices, OutboundMessage.task_id.is_(None)),
        )
    return list(db.session.scalars(query.where(notices)))


def wait_for_reply(
    phone: str, since: datetime, task: Task | None, timeout: float, poll: float = 0.2
) -> list[OutboundMessage]:
    """The SMS sent back: for a task, once it is completed or failed; for a notice, once one
    arrives and no more parts follow. Empty when nothing came within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[OutboundMessage] = []
    while time.monotonic() < deadline:
        db.session.rollback()
        messages = replies_since(phone, since, task)
        if (
            task is not None
            and _finished(task)
            and all(m.status != "queued" or m.sid for m in messages)
        ):
            return messages
        if task is None and messages and len(messages) == len(seen):
            return messages
        seen = messages
        time.sleep(poll)
    return seen


#: A task in one of these will not change any more (a refused one was never going to).
_FINAL = (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.REFUSED.value)


def _finished(task: Task) -> bool:
    db.session.refresh(task)
    return task.status in _FINAL


#: Why a stored text has no reply when nothing else holds it back.
NO_WORKER = (
    "is a worker running? None has taken it yet; it is answered once one starts (`make run`)"
)


def why_unanswered(task: Task | None) -> str:
    """What holds a reply back, read from the broker and the task rather than guessed ("is
    a worker running?" was said of a broker that was down and of a worker still at work
    too): for `flask sms simulate` and Try it, which each add how to wait longer."""
    problem = broker_problem()
    if problem:
        return (
            f"the job queue's broker (CELERY_BROKER_URL) is unreachable, {problem}; the "
            "message is stored and the sweeper queues it once the broker is back"
        )
    if task is not None and task.status == TaskStatus.PROCESSING:
        return "a worker is still answering it (a slow model?); the reply is sent when it is ready"
    if task is not None and task.ai_response:
        return "the answer is ready and waits for its sending slot (TWILIO_MPS)"
    return NO_WORKER
