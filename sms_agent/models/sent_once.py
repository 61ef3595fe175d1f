"""A part of a task's answer is stored once: the INSERT of a part stores it only where the
task has no part of that kind and number yet.

A run that stalls while Twilio has one part of an answer (past STALE_TASK_SECONDS) has its
task handed to a second run by the sweeper, which skips the parts it finds stored and sends
the rest. The first run, going on, stored and sent those same parts again from what it had
read before the stall: the texter got them twice. Its INSERT of such a part now finds the
other run's there, and the run stops (PartSentElsewhere) before Twilio sees it.

The check costs no statement: the part's INSERT (models/plain_flush.py) is an
`INSERT ... SELECT ... WHERE NOT EXISTS`, and the row it returns, or none, tells (an
INSERT's row count is not reported on PostgreSQL). Only the ORM's flush
(a part written with other rows: a new texter's program notice, a handoff) runs the check
as a statement of its own, just before its INSERT. Two runs inserting the same part in the
same instant, before either commits, both pass it: only a unique index could stop that, and
the stall it takes makes it rarer than the crash of a worker mid-send.
"""

from __future__ import annotations

import sqlalchemy as sa

from .answered_once import AnsweredElsewhere
from .messages import OutboundMessage

#: Where a part's state says it is to be stored only where no run stored it yet.
_ONCE = "sent_once"

_MESSAGES = OutboundMessage.__table__


class PartSentElsewhere(AnsweredElsewhere):
    """Another run of the task's job stored this part of its answer first: this run stops,
    and that one sends it."""

    def __init__(self, task_id, part: int):
        super().__init__(task_id)
        self.args = (f"part {part} of task {task_id}'s answer was sent by another run",)


def send_once(message: OutboundMessage) -> None:
    """Mark `message`, a new part of a task's answer, as one to store only where its task
    has no such part yet."""
    sa.inspect(message).info[_ONCE] = True


def is_sent_once(message) -> bool:
    return sa.inspect(message).info.get(_ONCE, False)


def _same_part():
    return sa.exists().where(
        _MESSAGES.c.task_id == sa.bindparam("task_id"),
        _MESSAGES.c.kind == sa.bindparam("kind"),
        _MESSAGES.c.part == sa.bindparam("part"),
    )


def insert_once() -> sa.Insert:
    """The part's INSERT, of the same values as the plain one, writing no row where the part
    is stored already."""
    columns = list(_MESSAGES.columns)
    values = sa.select(*(sa.bindparam(c.key, type_=c.type) for c in columns))
    insert = _MESSAGES.insert().from_select(columns, values.where(~_same_part()))
    return insert.returning(_MESSAGES.c.id)


def check_stored(message: OutboundMessage, values: dict, stored: bool) -> None:
    """After the part's write: it is stored, or another run's was there first."""
    if not stored:
        raise PartSentElsewhere(values["task_id"], values["part"])
    sa.inspect(message).info.pop(_ONCE, None)


_ALREADY_STORED = sa.select(_same_part())


@sa.event.listens_for(OutboundMessage, "before_insert")
def _send_once_in_a_flush(_mapper, connection: sa.Connection, message: OutboundMessage) -> None:
    """The ORM's flush of a part marked once: looked for first, in the flush's own order."""
    if is_sent_once(message):
        values = {"task_id": message.task_id, "kind": message.kind, "part": message.part}
        if connection.scalar(_ALREADY_STORED, values):
            raise PartSentElsewhere(message.task_id, message.part)
        sa.inspect(message).info.pop(_ONCE, None)
