"""The texts staff never saw when they hand a conversation back to the AI: the AI answers.

A texter who wrote while staff held the conversation, after staff last looked at it, was
answered by nobody: staff never saw the text, and the AI took it for context only. Handed
back, the newest of those texts is answered as if it had just arrived (admitted as one:
quota, spend caps, sender rate); the older unseen ones are the model's context for it
(answering/history.py reads held texts), so the texter gets one answer, not one a text.
Texts staff were shown stay theirs: read, answered by staff or left as context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from . import limits
from .extensions import db
from .inbound.routing import asks_nothing
from .models import Conversation, RefusalReason, Task, TaskStatus, User
from .outbound import written_to


@dataclass(frozen=True)
class Owed:
    """What the texter is owed once the hand-back is committed: the answer to the task
    `answer` names, or the notice of the limit that refused it (as a text refused on
    arrival gets it, once per window); neither when staff saw everything."""

    phone: str
    answer: uuid.UUID | None = None
    notice: str | None = None
    reply_to: str | None = None
    sender: str | None = None
    #: Why nothing may be sent to the texter (opted out, inactive): their unseen text stays
    #: held, unanswered, and staff are told so.
    withheld: str | None = None

    @property
    def anything(self) -> bool:
        return self.answer is not None or self.notice is not None

    def enqueue(self) -> None:
        """Queue the answer or the notice; only after the commit that made it owed."""
        from .jobs import enqueue_answer, enqueue_notice

        if self.answer is not None:
            enqueue_answer(self.answer)
        elif self.notice is not None:
            enqueue_notice(self.phone, self.notice, self.reply_to, sender=self.sender)


def answer_unseen(user: User, conversation: Conversation, withheld: str | None = None) -> Owed:
    """The newest text still unread once staff's reading is counted goes to the model
    (queued for the exactly-once claim, answering/claim.py); the unread count is then 0.
    Called under the texter's lock, on the hand-back, so of two hand-backs at once (a double
    click) the second finds nothing unread and owes nothing. `withheld`: why nothing may be
    sent to the texter (they opted out since, say): nothing is queued, only to end unsent,
    and the Owed says why."""
    db.session.flush()  # the reading, written in SQL (handoff._read)
    db.session.refresh(conversation, ["unread"])
    if conversation.unread <= 0:
        return Owed(user.phone_number)
    unread, conversation.unread = conversation.unread, 0
    if withheld is not None:
        return Owed(user.phone_number, withheld=withheld)
    task = _newest_question(user, unread)
    if task is None:
        return Owed(user.phone_number)
    admission = limits.admit(user, metadata=task.metadata_, sid=task.message_sid)
    if admission.refusal is not None:
        task.refusal_reason = admission.refusal.value
        return Owed(
            user.phone_number,
            notice=admission.notice,
            reply_to=task.message_sid,
            sender=written_to(task),
        )
    task.status = TaskStatus.QUEUED.value
    task.refusal_reason = None
    task.quota_window = admission.window
    task.date_the_outcome()
    return Owed(user.phone_number, answer=task.id)


def _newest_question(user: User, unread: int) -> Task | None:
    """The newest of the `unread` texts held (the newest held ones) that asks the model
    something (inbound.routing.asks_nothing): the conversation was waiting for staff or
    with them when each came, so one more request for a person asked for nothing new, and
    a tapback or a blank text asks nothing at all."""
    held = db.session.scalars(
        sa.select(Task)
        .where(
            Task.user_phone == user.phone_number,
            Task.refusal_reason == RefusalReason.HELD_FOR_STAFF.value,
        )
        .order_by(Task.created_at.desc(), Task.id.desc())
        .limit(unread)
    )
    return next(
        (
            task
            for task in held
            if not asks_nothing(user.phone_number, task.sms_content, task.media)
        ),
        None,
    )
