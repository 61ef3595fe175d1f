"""A task's answer is stored once: the write of the model's answer stores it only where
the task has none yet.

A worker that stalls between the model's answer and its commit (stopped, starved of CPU,
its host paused) past STALE_TASK_SECONDS has its task handed to a second run by the
sweeper, which answers and texts the texter. The first run, going on, then stored its own
answer over that one and texted it too. Its write now finds the answer there, and the run
stops (AnsweredElsewhere) before any part of its answer is stored or sent; whichever run
writes first texts the answer.

The check costs no statement: the UPDATE that writes the answer (models/plain_flush.py)
says `AND ai_response IS NULL` and its row count tells. Only the ORM's flush (an answer
committed with other rows: a new texter's program notice, a handoff) runs the check as a
statement of its own, just before its UPDATE of the task.
"""

from __future__ import annotations

import sqlalchemy as sa

from .tasks import Task

#: Where a task's state says its answer, just set, is to be stored only where none is.
_ONCE = "answered_once"


class AnsweredElsewhere(Exception):
    """Another run of the task's job stored an answer first (or the task was deleted
    meanwhile): this run's is not sent."""

    def __init__(self, task_id):
        super().__init__(f"task {task_id} was answered by another run meanwhile")
        self.task_id = task_id


def store_once(task: Task) -> None:
    """Mark `task`'s answer, just set, as one to store only where the task has none yet."""
    sa.inspect(task).info[_ONCE] = True


def is_first_answer(task: Task, values) -> bool:
    """Whether writing `values` (column names) of `task` stores an answer marked once."""
    return "ai_response" in values and sa.inspect(task).info.get(_ONCE, False)


def only_unanswered(update: sa.Update) -> sa.Update:
    """`update` of tasks, made to write only a task that has no answer yet."""
    return update.where(Task.__table__.c.ai_response.is_(None))


def check_stored(task: Task, rowcount: int) -> None:
    """After the answer's write: it is stored, or another run's answer was there first."""
    if rowcount == 0:
        raise AnsweredElsewhere(task.id)
    sa.inspect(task).info.pop(_ONCE, None)


_CLAIM_ANSWER = only_unanswered(
    sa.update(Task.__table__)
    .where(Task.__table__.c.id == sa.bindparam("key"))
    .values(ai_response=sa.bindparam("answer"))
)


@sa.event.listens_for(Task, "before_update")
def _store_once_in_a_flush(_mapper, connection: sa.Connection, task: Task) -> None:
    """The ORM's flush of an answer marked once: claimed first, in the flush's own order."""
    state = sa.inspect(task)
    if state.info.get(_ONCE) and state.attrs.ai_response.history.has_changes():
        result = connection.execute(_CLAIM_ANSWER, {"key": task.id, "answer": task.ai_response})
        check_stored(task, result.rowcount)
