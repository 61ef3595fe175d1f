"""Booking the sending slots of what is about to be sent, so that a send whose slot is far
off gives its worker back instead of sleeping in it.

The sending number sends TWILIO_MPS messages a second (vendors/pacing.py). A worker thread
that slept until its slot would hold back every model call queued behind it: at 1 message
a second, the hundredth answer of a burst waits 100 s. So a job that can run again later
(the answer job, the notice job) first books the slots of everything it is about to send.
When the first is further off than PACING_MAX_SLEEP_SECONDS, `book` raises SendLater before
anything is stored or sent: the job keeps the booking, gives its worker back, and runs
again shortly before the slot with the booking, which it then sends in. A nearer slot is
slept in the thread. Slots booked together are used in the order the messages go out, so a
reply's parts (after a new number's program notice) go together, and a burst goes out in
the order it booked.
"""

from __future__ import annotations

from flask import current_app

from ..vendors.pacing import Slots
from ..vendors.twilio import get_sms_backend

__all__ = ["SendLater", "Slots", "book"]


class SendLater(Exception):
    """The slots booked are further off than PACING_MAX_SLEEP_SECONDS. `booking` is what the
    next run passes back to `book`; `countdown` is when to run it: a little before the
    first slot, to sleep the rest in the thread."""

    def __init__(self, slots: Slots, max_sleep: float):
        super().__init__(f"the next sending slot is {slots.wait:.1f}s away")
        self.booking = slots.booking
        self.wait = slots.wait
        self.countdown = max(0.0, slots.wait - max_sleep / 2)


def book(count: int, booking: dict | None = None) -> Slots | None:
    """The slots for the next `count` messages: the ones an earlier run booked (`booking`,
    from SendLater), else new ones; None when nothing is paced. Raises SendLater when the
    first is further off than PACING_MAX_SLEEP_SECONDS."""
    backend = get_sms_backend()
    slots = backend.look_up(booking) if booking else backend.book(count)
    max_sleep = current_app.config["PACING_MAX_SLEEP_SECONDS"]
    if slots is not None and slots.wait > max_sleep:
        raise SendLater(slots, max_sleep)
    return slots
