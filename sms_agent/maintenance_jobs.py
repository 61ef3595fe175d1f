"""Periodic jobs run by Celery beat: the stale-task sweeper and the quota-window safety net."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from celery import shared_task

from .extensions import db
from .models import User, first_of_next_month, utcnow

log = logging.getLogger("sms_agent.maintenance")


@shared_task(name="sms_agent.maintenance_jobs.sweep_stale_tasks", ignore_result=True)
def sweep_stale_tasks() -> int:
    """Answer tasks stranded by a broker outage or a killed worker (see sweeper.py)."""
    from .sweeper import sweep

    return sweep()


@shared_task(name="sms_agent.maintenance_jobs.roll_quota_windows", ignore_result=True)
def roll_quota_windows() -> int:
    """Users' windows also roll lazily when they text; this keeps counters right for
    users who have not texted since their window ended (what the admin and API show)."""
    rolled = roll_expired_quota_windows()
    db.session.commit()
    if rolled:
        log.info("started a new quota window for %d users", rolled)
    return rolled


def roll_expired_quota_windows(now: datetime | None = None) -> int:
    """Reset the monthly counter of every user whose window has passed; one UPDATE per
    timezone among them, since the next window ends at local midnight."""
    now = now or utcnow()
    expired = User.rate_limit_reset <= now
    timezones = db.session.scalars(sa.select(User.timezone).where(expired).distinct()).all()
    total = 0
    for timezone_name in timezones:
        result = db.session.execute(
            sa.update(User)
            .where(expired, User.timezone == timezone_name)
            .values(
                monthly_requests=0,
                rate_limit_reset=first_of_next_month(now, timezone_name or "UTC"),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        total += result.rowcount
    db.session.expire_all()
    return total
