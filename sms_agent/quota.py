"""The monthly quota, in one place: limits per tier, the window, admission, counting,
giving a request back, resets and tier changes.

A request counts when it is admitted, not when it is answered: counting on completion let
five requests through at 99 of 100, because each was checked before any had finished.
Admission is one conditional UPDATE, so the database decides between racing requests (the
row's write lock on PostgreSQL, the single writer on SQLite) and N requests at quota - 1
admit exactly one, whichever path they came by (webhook or API).
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .current import app_config
from .extensions import db, listen_on_every_session
from .models import Task, Tier, User, first_of_next_month, relock_tier, utcnow
from .models.cache_keys import hashed_once


class UnknownTier(ValueError):
    """The tier named is not free, premium or enterprise."""


def monthly_limit(tier: str) -> int:
    """Requests a user of `tier` may make per monthly window (QUOTA_<TIER> in config)."""
    return int(app_config()[_quota_setting(tier)])


def _quota_setting(tier: str) -> str:
    return f"QUOTA_{tier.upper()}"


def segment_budget(tier: str) -> int:
    """SMS segments one reply may use for `tier` (SEGMENTS_<TIER> in config)."""
    return int(app_config()[f"SEGMENTS_{tier.upper()}"])


# -- the window ---------------------------------------------------------------------------
def window_has_ended(user: User, now: datetime | None = None) -> bool:
    return _has_ended(user.rate_limit_reset, now or utcnow())


def _has_ended(reset: datetime | None, now: datetime) -> bool:
    return reset is None or now >= reset


def start_new_window(user: User, now: datetime | None = None) -> None:
    """A fresh monthly window that ends on the first of next month, the user's local time."""
    now = now or utcnow()
    user.monthly_requests = 0
    user.window_started_at = now
    user.rate_limit_reset = first_of_next_month(now, user.timezone or "UTC")


def window_end(user: User, now: datetime | None = None) -> datetime:
    """When the quota resets: the end of the running window, or of the one the next
    request would start once it has ended (windows roll when a texter is admitted)."""
    return end_of_running_window(user.rate_limit_reset, user.timezone, now)


def end_of_running_window(
    reset: datetime | None, timezone: str | None, now: datetime | None = None
) -> datetime:
    """`window_end` from a texter's stored reset and timezone (a row read as values, as the
    API's users list reads them): shown beside the running window's count (`used`), a reset
    already past said "0 used, resets yesterday"."""
    now = now or utcnow()
    if _has_ended(reset, now):
        return first_of_next_month(now, timezone or "UTC")
    return reset


def used(user: User, now: datetime | None = None) -> int:
    """Requests counted in the current window (0 once the window has ended)."""
    return 0 if window_has_ended(user, now) else (user.monthly_requests or 0)


def _ended(reset: sa.ColumnElement, now: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """`window_has_ended` in SQL."""
    return sa.or_(reset.is_(None), reset <= now)


def used_in_sql() -> sa.ColumnElement[int]:
    """`used` in SQL, at the time each execution runs: the admin sorts texters by the count
    it shows. It costs what sorting by the stored count did (neither has an index)."""
    now = sa.bindparam("used_at", callable_=utcnow, type_=User.rate_limit_reset.type)
    counted = sa.func.coalesce(User.monthly_requests, 0)
    return sa.case((_ended(User.rate_limit_reset, now), 0), else_=counted)


def remaining(user: User, now: datetime | None = None) -> int:
    return max(0, monthly_limit(user.tier) - used(user, now))


def has_room(user: User, now: datetime | None = None) -> bool:
    """What the loaded row says; `admit` is what decides."""
    return remaining(user, now) > 0


# -- admission and counting ---------------------------------------------------------------
def _admission() -> sa.Update:
    """The one UPDATE that admits a request, built once with bind parameters: SQLAlchemy
    then reuses its cache key and compiled form, where a statement built per call cost a
    third of a webhook's CPU. The row's own tier picks its limit (a CASE over the
    `limit_<tier>` parameters), so a tier change racing an admission is exact."""
    users = User.__table__
    now = sa.bindparam("now", type_=users.c.rate_limit_reset.type)
    ended = _ended(users.c.rate_limit_reset, now)
    used = sa.func.coalesce(users.c.monthly_requests, 0)
    limit = sa.case(
        {tier: sa.bindparam(f"limit_{tier}", type_=sa.Integer) for tier in Tier.values()},
        value=users.c.tier,
        else_=0,
    )
    next_reset = sa.bindparam("next_reset", type_=users.c.rate_limit_reset.type)
    return (
        sa.update(users)
        # An ended window rolls and counts the request in the new one, if the tier has any.
        .where(
            users.c.phone_number == sa.bindparam("phone"),
            sa.or_(sa.and_(ended, limit > 0), used < limit),
        )
        .values(
            monthly_requests=sa.case((ended, 1), else_=used + 1),
            rate_limit_reset=sa.case((ended, next_reset), else_=users.c.rate_limit_reset),
            window_started_at=sa.case((ended, now), else_=users.c.window_started_at),
            total_requests=sa.func.coalesce(users.c.total_requests, 0) + 1,
            last_active=now,
        )
        .returning(
            users.c.monthly_requests,
            users.c.total_requests,
            users.c.rate_limit_reset,
            users.c.window_started_at,
        )
    )


_ADMISSION = hashed_once(_admission())
#: Each of _ADMISSION's `limit_<tier>` parameters and the setting monthly_limit reads for
#: it, named once rather than at every admission.
_LIMIT_SETTINGS = [(f"limit_{tier}", _quota_setting(tier)) for tier in Tier.values()]


def admit(user: User, now: datetime | None = None) -> datetime | None:
    """Count one request for `user` if the quota has room, and return the start of the
    window it was counted in (store it as the task's quota_window, for give_back); None
    when the quota is used up.

    One UPDATE rolls an ended window, checks the limit and counts, and returns the new
    counter; the loaded `user` is brought up to date without another read. The caller
    commits (and must roll back if it then stores nothing)."""
    now = now or utcnow()
    config = app_config()
    limits = {name: int(config[key]) for name, key in _LIMIT_SETTINGS}
    next_reset = first_of_next_month(now, user.timezone or "UTC")
    row = db.session.execute(
        _ADMISSION,
        {"phone": user.phone_number, "now": now, "next_reset": next_reset, **limits},
    ).first()
    if row is None:
        return None
    # Read by key: a Row finds a column named as an attribute only after Python has raised
    # (and worded) an AttributeError for it, about 4,000 instructions a name.
    counted = row._mapping
    for name in ("monthly_requests", "total_requests", "rate_limit_reset", "window_started_at"):
        set_committed_value(user, name, counted[name])
    set_committed_value(user, "last_active", now)
    return counted["window_started_at"]


def give_back(task: Task) -> None:
    """A failed task returns its request: to the monthly count while the window it was
    counted in still runs, and to the total in any case. At most once per task.

    The window is known by its start: a reset or an upgrade within the month starts a new
    one ending when the old one did, whose count a request of the old one must not lower
    (a free request), and a new timezone moves the end of the same window."""
    if task.quota_window is None:
        return
    give_back_request(task.user_phone, task.quota_window)
    task.quota_window = None


def give_back_request(phone: str, window: datetime) -> None:
    """Return a request counted in `window`: give_back's, and that of a text just admitted
    that is not answered after all (one sent again while the first is being answered)."""
    same_window = User.window_started_at == window
    db.session.execute(
        sa.update(User)
        .where(User.phone_number == phone)
        .values(
            monthly_requests=sa.case(
                (sa.and_(same_window, User.monthly_requests > 0), User.monthly_requests - 1),
                else_=User.monthly_requests,
            ),
            total_requests=sa.case(
                (User.total_requests > 0, User.total_requests - 1), else_=User.total_requests
            ),
        )
        .execution_options(synchronize_session=False)
    )
    user = db.session.identity_map.get(db.session.identity_key(User, phone))
    if user is not None:
        db.session.expire(user, ["monthly_requests", "total_requests"])


# -- resets and tiers ---------------------------------------------------------------------
def _reset_windows(condition, now: datetime) -> int:
    """One UPDATE per timezone among the users matching `condition`, since each window
    ends at local midnight."""
    timezones = db.session.scalars(sa.select(User.timezone).where(condition).distinct()).all()
    total = 0
    for timezone_name in timezones:
        result = db.session.execute(
            sa.update(User)
            .where(condition, User.timezone == timezone_name)
            .values(
                monthly_requests=0,
                rate_limit_reset=first_of_next_month(now, timezone_name or "UTC"),
                window_started_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        total += result.rowcount
    db.session.expire_all()
    return total


def reset_all(now: datetime | None = None) -> int:
    """Start a new monthly window for every user (flask quota reset)."""
    return _reset_windows(sa.true(), now or utcnow())


def roll_expired_windows(now: datetime | None = None) -> int:
    """Start a new window for every user whose window has passed. Windows also roll when a
    texter writes; this keeps what the admin and API show right for those who have not."""
    now = now or utcnow()
    return _reset_windows(User.rate_limit_reset <= now, now)


def reset_user(user: User, now: datetime | None = None) -> None:
    """Reset one user's counter (the admin's bulk action)."""
    start_new_window(user, now)


def is_upgrade(old_tier: str, new_tier: str) -> bool:
    """free < premium < enterprise, the order of Tier."""
    order = Tier.values()
    return order.index(new_tier) > order.index(old_tier)


def change_tier(user: User, new_tier: str) -> str:
    """Move a user to another tier and return the old one. An upgrade to a paid tier
    resets the monthly counter (see `_window_rules`, which holds on every path).

    The old tier is read under the texter's lock: of two changes at once (a request sent
    twice), the second finds the first's tier, so the texter is told of it once."""
    if new_tier not in Tier.values():
        raise UnknownTier(f"unknown tier {new_tier!r}; choose one of {', '.join(Tier.values())}")
    relock_tier(user)
    old_tier = user.tier
    user.tier = new_tier
    return old_tier


def _window_rules(session: Session, _context, _instances) -> None:
    """An admin form or an API PATCH may set the tier, the timezone or the monthly count
    without calling this module; checking at flush time makes the rules hold for every
    writer.

    A count staff set by hand (the admin's edit form) starts a new window, as their reset
    does: it is the figure they chose, which a request counted before it that fails after
    must not lower (a free request); so is one set in the same save as an upgrade, which
    reset it to 0 over the figure staff typed. A new timezone moves the window's end to
    midnight there, unless the same change sets the end too."""
    for obj in session.dirty:
        if not isinstance(obj, User):
            continue
        state = inspect(obj).attrs
        history = state.tier.history
        count = state.monthly_requests.history
        count_set = count.added and count.deleted
        upgraded = history.added and history.deleted
        if upgraded and is_upgrade(history.deleted[0], history.added[0]) and not count_set:
            obj.monthly_requests = 0
            obj.window_started_at = utcnow()
        if count_set and not state.window_started_at.history.added:
            obj.window_started_at = utcnow()
        history = state.timezone.history
        # A reset set in the same change is the one its writer chose, kept as given.
        moved = history.added and history.deleted and not state.rate_limit_reset.history.added
        if moved and obj.rate_limit_reset is not None:
            obj.rate_limit_reset = _same_midnight(
                obj.rate_limit_reset, history.deleted[0] or "UTC", history.added[0] or "UTC"
            )


def _same_midnight(reset: datetime, old_timezone: str, new_timezone: str) -> datetime:
    """A window ends on a first of the month at midnight, the texter's time: in a new
    timezone it still ends on that day, at midnight there. Counting from now instead would
    let a texter who moves west just after (or before) the end, where the old month still
    runs, roll into a second window within one month."""
    day = reset.astimezone(ZoneInfo(old_timezone)).date()
    midnight = datetime.combine(day, time.min, tzinfo=ZoneInfo(new_timezone))
    return midnight.astimezone(reset.tzinfo)


def init_app(_app: Flask) -> None:
    """Register the tier and timezone rules on every ORM session (once per process)."""
    listen_on_every_session(before_flush=_window_rules)
