"""Claiming a task for one worker, and keeping its rows across the pipeline's commits.

The claim is the first of the pipeline's steps (see pipeline.py). On PostgreSQL it commits
with the job's first reads (the texter, the conversation so far), one transaction fewer per
job: its row lock is held for those reads only, and a second worker's claim of the same
task waits for them and then finds it taken. SQLite has no row locks, only one writer for
the whole database, so there the claim commits at once."""

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


def _claim() -> sa.Update:
    """Queued, or processing but stale (its worker died): built once, with bind parameters,
    so SQLAlchemy reuses its cache key and compiled form on every claim."""
    stale, now = (sa.bindparam(name, type_=Task.updated_at.type) for name in ("stale", "now"))
    claimable = sa.or_(
        Task.status == TaskStatus.QUEUED.value,
        sa.and_(Task.status == TaskStatus.PROCESSING.value, Task.updated_at < stale),
    )
    return (
        sa.update(Task)
        .where(Task.id == sa.bindparam("key"), claimable)
        .values(status=TaskStatus.PROCESSING.value, updated_at=now)
        .returning(Task)  # the claimed row comes back with the UPDATE: no second query
        .execution_options(synchronize_session=False, populate_existing=True)
    )


_CLAIM = _claim()


def claim(task_id) -> Task | None:
    """Move a task to processing, or None when it is done or another worker holds it. On
    PostgreSQL the caller's next commit commits the claim (see above).

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
    if task is None or db.session.connection().dialect.name == "sqlite":
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
