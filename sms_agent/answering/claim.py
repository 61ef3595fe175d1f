"""Claiming a task for one worker, and keeping its rows across the pipeline's commits.

The claim commits at once: it is the first of the pipeline's steps (see pipeline.py).
Committing it with the job's first reads instead saves a transaction (about 0.4 ms of a
job's CPU on PostgreSQL), but the claim's UPDATE also moves the task between the rollups'
buckets (models/rollups.py), rows every webhook and every claim of the day write: holding
their locks through the reads, and through a busy worker's waits for its GIL, would queue
every other writer behind them."""

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


def _claim() -> sa.Select:
    """Queued, or processing but stale (its worker died): built once, with bind parameters.

    A Core UPDATE of the table, read into the Task by `from_statement`: SQLAlchemy keys and
    compiles it once. The ORM's own UPDATE of the entity is annotated afresh on every
    execution, so each claim paid for a new cache key (about 0.1 ms of a job's CPU)."""
    tasks = Task.__table__
    stale, now = (sa.bindparam(name, type_=tasks.c.updated_at.type) for name in ("stale", "now"))
    claimable = sa.or_(
        tasks.c.status == TaskStatus.QUEUED.value,
        sa.and_(tasks.c.status == TaskStatus.PROCESSING.value, tasks.c.updated_at < stale),
    )
    update = (
        sa.update(tasks)
        .where(tasks.c.id == sa.bindparam("key"), claimable)
        .values(status=TaskStatus.PROCESSING.value, updated_at=now)
        .returning(*tasks.c)  # the claimed row comes back with the UPDATE: no second query
    )
    # populate_existing: a task already in the session takes the claimed row's values.
    return sa.select(Task).from_statement(update).execution_options(populate_existing=True)


_CLAIM = _claim()


def claim(task_id) -> Task | None:
    """Move a task to processing, or None when it is done or another worker holds it.

    A task left in processing for STALE_TASK_SECONDS belonged to a worker that died, so it
    may be claimed again."""
    try:
        key = uuid.UUID(str(task_id))
    except ValueError:
        log.error("job for a malformed task id %r dropped", task_id)
        return None
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["STALE_TASK_SECONDS"])
    task = db.session.scalar(_CLAIM, {"key": key, "stale": stale, "now": now})
    db.session.commit()
    if task is None:
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
