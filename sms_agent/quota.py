"""Tier limits, the monthly quota window, bulk resets and tier changes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from .extensions import db
from .models import Tier, User, first_of_next_month, utcnow


class UnknownTier(ValueError):
    """The tier named is not free, premium or enterprise."""


def monthly_limit(tier: str) -> int:
    """Requests a user of `tier` may make per monthly window (QUOTA_<TIER> in config)."""
    return int(current_app.config[f"QUOTA_{tier.upper()}"])


def segment_budget(tier: str) -> int:
    """SMS segments one reply may use for `tier` (SEGMENTS_<TIER> in config)."""
    return int(current_app.config[f"SEGMENTS_{tier.upper()}"])


def remaining(user: User, now: datetime | None = None) -> int:
    user.roll_quota_window(now)
    return max(0, monthly_limit(user.tier) - (user.monthly_requests or 0))


def change_tier(user: User, new_tier: str) -> str:
    """Move a user to another tier and return the old one.

    An upgrade to a paid tier resets the monthly counter; that rule lives in the model's
    flush hook so every path (API, admin, CLI) gets it.
    """
    if new_tier not in Tier.values():
        raise UnknownTier(f"unknown tier {new_tier!r}; choose one of {', '.join(Tier.values())}")
    old_tier = user.tier
    user.tier = new_tier
    return old_tier


def reset_all(now: datetime | None = None) -> int:
    """Start a new monthly window for every user; one UPDATE per distinct timezone."""
    now = now or utcnow()
    timezones = db.session.scalars(sa.select(User.timezone).distinct()).all()
    total = 0
    for timezone_name in timezones:
        result = db.session.execute(
            sa.update(User)
            .where(User.timezone == timezone_name)
            .values(
                monthly_requests=0,
                rate_limit_reset=first_of_next_month(now, timezone_name),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        total += result.rowcount
    db.session.expire_all()
    return total
