"""The design document's signals, as session hooks so they hold on every write path.

Views, jobs, admin actions and CLI commands all change rows through the ORM session, so a
rule enforced at flush time holds for all of them without each caller remembering it.
"""

from __future__ import annotations

import logging

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from ..phones import mask
from .errors import ErrorLog
from .tasks import Task
from .types import CRITICAL_ERROR_TYPES, Tier
from .users import User

log = logging.getLogger("sms_agent.models")

_PAID_TIERS = {Tier.PREMIUM.value, Tier.ENTERPRISE.value}


def _changed_to(obj, attribute: str):
    """The new value when `attribute` changed in this flush, else None."""
    history = inspect(obj).attrs[attribute].history
    if history.added and history.deleted:
        return history.added[0]
    return None


def _upgrade_resets_quota(user: User) -> None:
    new_tier = _changed_to(user, "tier")
    if new_tier in _PAID_TIERS:
        user.monthly_requests = 0


def _became_successful(session: Session, task: Task) -> bool:
    if not task.success:
        return False
    if task in session.new:
        return True
    history = inspect(task).attrs.success.history
    return bool(history.added) and True not in history.deleted


def _count_completed_task(session: Session, task: Task) -> None:
    """A task that turns successful counts once towards its user's activity."""
    if not _became_successful(session, task):
        return
    user = task.user or session.get(User, task.user_phone)
    if user is not None:
        user.update_activity()


@event.listens_for(Session, "before_flush")
def _apply_model_rules(session: Session, _context, _instances) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, User) and obj not in session.new:
            _upgrade_resets_quota(obj)
        elif isinstance(obj, Task):
            _count_completed_task(session, obj)


@event.listens_for(Session, "after_flush")
def _announce_new_rows(session: Session, _context) -> None:
    for obj in session.new:
        if isinstance(obj, User):
            log.info("new user %s on tier %s", mask(obj.phone_number), obj.tier)
        elif isinstance(obj, ErrorLog):
            log.error(
                "%s for %s: %s", obj.error_type, mask(obj.user_phone), obj.error_message[:200]
            )
            if obj.error_type in CRITICAL_ERROR_TYPES:
                from ..alerts import alert_critical_error

                alert_critical_error(obj)
