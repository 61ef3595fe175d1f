"""Booking the sending slots of what is about to be sent, so that a send whose slot is far
off gives its worker back instead of sleeping in it.

Each of our numbers sends TWILIO_MPS messages a second (vendors/pacing.py), so the slots
are booked on the number the messages go out from (the one the texter wrote to, as
outbound.send picks it): a burst answered from one number holds back no other. A worker thread
that slept until its slot would hold back every model call queued behind it: at 1 message
a second, the hundredth answer of a burst waits 100 s. So a job that can run again later
(the answer job, the notice job) first books the slots of everything it is about to send.
When the first is further off than PACING_MAX_SLEEP_SECONDS, `book` raises SendLater before
anything is stored or sent: the job keeps the booking, gives its worker back, and runs
again shortly before the slot with the booking, which it then sends in. A nearer slot is
slept in the thread. Slots booked together are used in the order the messages go out, so a
reply's parts (after a new number's program notice) go together, and a burst goes out in
the order it booked.

Notices sent to many texters at once (a bulk tier change) must not book the slots of the
next half hour ahead of every answer and STOP confirmation. So they do not book when they
are queued: `spread` gives each a time to run, one slot of the number's bulk lane (at
BULK_NOTICE_SHARE of TWILIO_MPS) per message, and each books its real slots only then,
like any other notice. Whatever texters send meanwhile books the slots in between.
"""

from __future__ import annotations

from itertools import accumulate

from flask import current_app

from ..current import app_config
from ..models import Task, User
from ..vendors.pacing import Slots
from ..vendors.twilio import get_sms_backend
from .channels import channel_of
from .sender import sender_number, written_to

__all__ = ["SendLater", "Slots", "book", "spread"]


class SendLater(Exception):
    """The slots booked are further off than PACING_MAX_SLEEP_SECONDS. `booking` is what the
    next run passes back to `book`; `countdown` is when to run it: a little before the
    first slot, to sleep the rest in the thread."""

    def __init__(self, slots: Slots, max_sleep: float):
        super().__init__(f"the next sending slot is {slots.wait:.1f}s away")
        self.booking = slots.booking
        self.wait = slots.wait
        self.countdown = max(0.0, slots.wait - max_sleep / 2)


def book(
    user: User,
    count: int,
    booking: dict | None = None,
    *,
    sender: str | None = None,
    task: Task | None = None,
) -> Slots | None:
    """The slots for the next `count` messages to `user`, on the number they go out from
    (`sender`, else the `task`'s, as outbound.send takes them): the ones an earlier run
    booked (`booking`, from SendLater) when they are that number's, else new ones; None
    when nothing is paced. Raises SendLater when the first is further off than
    PACING_MAX_SLEEP_SECONDS."""
    backend = get_sms_backend()
    channel = channel_of(user)
    number = sender_number(sender or written_to(task), channel)
    slots = backend.look_up(booking, channel, number) if booking else None
    if slots is None:
        slots = backend.book(count, channel, number)
    max_sleep = app_config()["PACING_MAX_SLEEP_SECONDS"]
    if slots is not None and slots.wait > max_sleep:
        raise SendLater(slots, max_sleep)
    return slots


def spread(counts: list[int]) -> list[float]:
    """In how many seconds to run each of a batch of bulk notices taking `counts` messages
    each (one more for a due program notice): one bulk lane slot per message, the batch
    after any batch booked before it. Each lane slot starts with the part of it left to
    conversation, so even the batch's first notice leaves the next slot to an answer.
    Zeros when nothing is paced."""
    share = current_app.config["BULK_NOTICE_SHARE"]
    lane = get_sms_backend().book_bulk(sum(counts), share)
    if lane is None:
        return [0.0] * len(counts)
    start = lane.wait + lane.interval * (1 - share)
    before = accumulate(counts[:-1], initial=0)
    return [start + messages * lane.interval for messages in before]
