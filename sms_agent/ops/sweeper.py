"""The sweeper: re-enqueue tasks a broker outage or a killed worker left behind, the
notices a webhook could not queue (PendingNotice), and the pictures of texts held for staff
whose fetch a webhook could not queue.

A task is stranded when its job never reached the broker (the webhook stored it while the
broker was down) or when the worker holding it died. Either way its row says queued or
processing and its clock (lease_at, which every write of the task moves) has not moved for
STALE_TASK_SECONDS. Re-enqueueing is safe because the
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
from ..models import PendingNotice, RefusalReason, Task, TaskMedia, TaskStatus, utcnow
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
        .where(Task.status.in_(_UNFINISHED), Task.lease_at < cutoff)
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
        .values(lease_at=now)
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


#: How far back a sweep looks for held texts whose attachments were never read: a broker
#: outage is over long before, and staff read a day-old text without its pictures anyway.
HELD_MEDIA_LOOKBACK = timedelta(days=1)


def unread_held_media(now: datetime | None = None, limit: int = BATCH_SIZE) -> list:
    """Texts held for staff, stored over STALE_TASK_SECONDS ago (within HELD_MEDIA_LOOKBACK),
    that came with attachments none of which has a row: the job that fetches their pictures
    for staff (media.read.read_for_staff, which gives every attachment a row) never reached
    the broker. Oldest first; none while the broker is down."""
    if broker_problem():
        return []
    now = now or utcnow()
    stale = now - timedelta(seconds=current_app.config["STALE_TASK_SECONDS"])
    query = (
        sa.select(Task.id, Task.metadata_)
        .where(
            Task.refusal_reason == RefusalReason.HELD_FOR_STAFF.value,
            Task.created_at < stale,
            Task.created_at >= now - HELD_MEDIA_LOOKBACK,
            ~sa.exists().where(TaskMedia.task_id == Task.id),
        )
        .order_by(Task.created_at)
        .limit(limit)
    )
    return [task_id for task_id, meta in db.session.execute(query) if (meta or {}).get("media")]
