"""Recording a task's completion with one Core UPDATE instead of the ORM's unit of work.

The completion is the job's last write, and usually its only pending change: the ORM's
flush of it (finding the dirty rows, their history, the topological sort, the statement
built for this set of columns) cost several times the UPDATE itself. The statement is built
and compiled once, with bind parameters (as the claim's, claim.py), and the loaded task
takes the written values as committed. Anything else pending is left to the ORM, so the
statements, and their order, stay as they were.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Task, utcnow
from ..models.cache_keys import hashed_once
from ..models.tasks import completed_outcome
from ..models.types import check_finite
from ..ops import metrics

#: The columns the completion writes: the outcome's, and the answer's timing.
_COLUMNS = (*completed_outcome(utcnow()), "processing_time", "updated_at", "lease_at")


def _complete() -> sa.Update:
    tasks = Task.__table__
    return (
        sa.update(tasks)
        .where(tasks.c.id == sa.bindparam("key"))
        .values({name: sa.bindparam(name) for name in _COLUMNS})
    )


_COMPLETE = hashed_once(_complete())


def mark_completed(task: Task, processing_time: float) -> None:
    """Record that `task`'s answer went out, for the caller's commit: as
    `Task.mark_completed`, counted in the metrics alike (tasks_finished_total,
    sms_replies_sent_total)."""
    session = db.session()
    if sa.inspect(task).modified or session.new or session.dirty or session.deleted:
        # Other writes are pending: the ORM orders them with the task's, as it always has.
        task.mark_completed(task.ai_response, processing_time=processing_time)
        return
    now = utcnow()
    values = {
        **completed_outcome(now),
        "processing_time": check_finite("processing_time", processing_time),
        "updated_at": now,
        "lease_at": now,
    }
    session.execute(_COMPLETE, {"key": task.id, **values})
    # set_committed_value of each column at once: the values in, their history cleared.
    state = sa.inspect(task)
    state.dict.update(values)
    state._commit(state.dict, values)
    metrics.count_completed(session)
