"""The sweeper: re-enqueue tasks a broker outage or a killed worker left behind, and the
notices a webhook could not queue (PendingNotice).

A task is stranded when its job never reached the broker (the webhook stored it while the
broker was down) or when the worker holding it died. Either way its row says queued or
processing and has not changed for STALE_TASK_SECONDS. Re-enqueueing is safe because the
pipeline claims a task with a conditional UPDATE (queued, or processing and stale, becomes
processing) and keeps what it already did (the stored answer, each sent part), so a second
job for a live task is skipped and a job for a half-done task finishes it without repeating
a send.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import PendingNotice, Task, TaskStatus, utcnow
from .health import broker_problem

log = logging.getLogger("sms_agent.sweeper")

#: Most tasks one sweep re-enqueues; the next sweep takes the rest.
BATCH_SIZE = 1000

_UNFINISHED = (TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value)


def stale_task_ids(now: datetime, limit: int = BATCH_SIZE) -> list:
    """Oldest first, so the texters who waited longest are answered first."""
    cutoff = now - timedelta(seconds=current_app.config["STALE_TASK_SECONDS"])
    query = (
        sa.select(Task.id)
        .where(Task.status.in_(_UNFINISHED), Task.updated_at < cutoff)
        .order_by(Task.created_at)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def claim_stranded(now: datetime | None = None) -> list:
    """The stale tasks to enqueue again, their clocks restarted; the caller commits, then
    enqueues. Nothing while the broker is down, since the jobs would be lost again (the
    next sweep retries)."""
    problem = broker_problem()
    if problem:
        log.warning("sweep skipped, broker unreachable: %s", problem)
        return []
    now = now or utcnow()
    ids = stale_task_ids(now)
    if ids:
        _touch_queued(ids, now)
    return ids


def _touch_queued(ids: list, now: datetime) -> None:
    """Restart the clock on queued tasks, so a task whose job is simply waiting in a long
    queue is not enqueued again every sweep. Processing ones keep their old time: the
    pipeline claims them only while they look stale."""
    db.session.execute(
        sa.update(Task)
        .where(Task.id.in_(ids), Task.status == TaskStatus.QUEUED.value)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )


def pending_notices(limit: int = BATCH_SIZE) -> list[PendingNotice]:
    """The notices webhooks could not queue, oldest first; none while the broker is down.
    The caller deletes each one it queues, and commits."""
    problem = broker_problem()
    if problem:
        return []
    query = sa.select(PendingNotice).order_by(PendingNotice.id).limit(limit)
    return list(db.session.scalars(query))
