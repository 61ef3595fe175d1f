"""Claiming a task for one worker, and keeping its rows across the pipeline's commits.

The pipeline's claim (`begin_claim`) is committed by the job's first commit, with its first
reads (the texter, the conversation so far) before the model call: one transaction where
there were two, a BEGIN and a COMMIT fewer on every job. Until then the claimed row stays
locked, so a second worker's claim of the same task waits for that commit and then finds
it taken. Holding the claim that long costs nobody else: on PostgreSQL the rollup triggers
its UPDATE fires run at commit (models/at_commit.py), so the day's buckets, which every
webhook and claim write, are locked only while PostgreSQL commits, never through the reads
or a busy worker's waits for its GIL; SQLite has one writer at a time, and the reads take
it a fraction of a millisecond. `claim` commits at once, for callers with nothing to read.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import Task, TaskStatus, utcnow
from ..ops import metrics

log = logging.getLogger("sms_agent.pipeline")


#: How long a question waits for the answer to the one its texter sent just before it, so
#: that "And its population?" sent right after "What is the capital of France?" is asked
#: with that exchange as its context (answering/history.py), and answered after it. Longer
#: than a model's usual answer with a retry; past it (a model retrying for long, an earlier
#: text stuck until the sweeper) the question is answered with what context there is.
WAIT_FOR_EARLIER_SECONDS = 60


class WaitForEarlier(Exception):
    """The texter's text just before this one has no answer yet: this one is answered after
    it, with it as context; the job runs again shortly."""


_tasks = Task.__table__
_UNANSWERED = [TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value]


def _waits_for_earlier() -> sa.ColumnElement[bool]:
    """The task (a row of `tasks`, not answered yet) has an earlier one of its texter's,
    sent since `waiting_since`, that has no answer yet either."""
    earlier = _tasks.alias("earlier")
    return sa.and_(
        _tasks.c.ai_response.is_(None),
        sa.exists().where(
            earlier.c.user_phone == _tasks.c.user_phone,
            earlier.c.status.in_(_UNANSWERED),
            earlier.c.ai_response.is_(None),
            earlier.c.created_at >= sa.bindparam("waiting_since", type_=_tasks.c.created_at.type),
            earlier.c.created_at < _tasks.c.created_at,
        ),
    )


def _claim() -> sa.Select:
    """Queued, or processing but stale (its worker died), and not waiting for an earlier
    text of its texter's (unless `wait` is false): built once, with bind parameters.

    A Core UPDATE of the table, read into the Task by `from_statement`: SQLAlchemy keys and
    compiles it once. The ORM's own UPDATE of the entity is annotated afresh on every
    execution, so each claim paid for a new cache key (about 0.1 ms of a job's CPU)."""
    tasks = _tasks
    stale, now = (sa.bindparam(name, type_=tasks.c.updated_at.type) for name in ("stale", "now"))
    claimable = sa.or_(
        tasks.c.status == TaskStatus.QUEUED.value,
        sa.and_(tasks.c.status == TaskStatus.PROCESSING.value, tasks.c.updated_at < stale),
    )
    in_turn = sa.or_(sa.not_(sa.bindparam("wait", type_=sa.Boolean)), sa.not_(_waits_for_earlier()))
    update = (
        sa.update(tasks)
        .where(tasks.c.id == sa.bindparam("key"), claimable, in_turn)
        .values(status=TaskStatus.PROCESSING.value, updated_at=now)
        .returning(*tasks.c)  # the claimed row comes back with the UPDATE: no second query
    )
    # populate_existing: a task already in the session takes the claimed row's values.
    return sa.select(Task).from_statement(update).execution_options(populate_existing=True)


_CLAIM = _claim()
_WAITING = sa.select(sa.exists().where(_tasks.c.id == sa.bindparam("key"), _waits_for_earlier()))


def claim(task_id) -> Task | None:
    """Move a task to processing, committed, or None when it is done or another worker
    holds it."""
    task = begin_claim(task_id, wait_for_earlier=False)
    db.session.commit()
    return task


def begin_claim(task_id, wait_for_earlier: bool = True) -> Task | None:
    """Move a task to processing, for the caller's next commit to carry (see above), or None
    when it is done or another worker holds it. While the texter's text before it has no
    answer yet, raises WaitForEarlier instead (when `wait_for_earlier`): texts sent in
    quick succession are answered in turn, each with the one before as context.

    A task left in processing for STALE_TASK_SECONDS belonged to a worker that died, so it
    may be claimed again."""
    try:
        key = uuid.UUID(str(task_id))
    except ValueError:
        log.error("job for a malformed task id %r dropped", task_id)
        return None
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["STALE_TASK_SECONDS"])
    waiting_since = now - timedelta(seconds=WAIT_FOR_EARLIER_SECONDS)
    params = {"key": key, "stale": stale, "now": now, "wait": wait_for_earlier}
    task = db.session.scalar(_CLAIM, {**params, "waiting_since": waiting_since})
    if task is None:
        waiting = wait_for_earlier and db.session.scalar(
            _WAITING, {"key": key, "waiting_since": waiting_since}
        )
        db.session.rollback()  # the UPDATE wrote nothing; the transaction ends here
        if waiting:
            raise WaitForEarlier(f"task {key} waits for its texter's earlier text")
        log.info("task %s not claimed (done, held by another worker, or unknown)", key)
        return None
    metrics.observe_queue_wait(task)
    return task


@contextlib.contextmanager
def kept_across_commits():
    """Keep loaded rows after each commit instead of reading them all again.

    A claimed task belongs to this worker, so reloading it, its parts and its texter after
    every commit only costs round trips (a third of a job's CPU). What others may change
    meanwhile is handled on purpose: the texter's opt-out is read again before each send,
    and the activity counters are SQL increments."""
    session = db.session()
    expiring = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expiring
        session.expire_all()  # whoever uses the session next reads fresh rows again
