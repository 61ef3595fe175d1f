"""The short service messages a texter can get besides an answer: help, usage, quota, media,
opt-in, reset and apology texts, kept together so their wording stays consistent, and
sending one at most once per inbound SMS."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from . import outbound, quota
from .extensions import db
from .models import Task, User, relock_bookkeeping

log = logging.getLogger("sms_agent.notices")

SERVICE = "SMS-to-AI Agent"
COMMANDS = "RESET starts over, USAGE shows your quota, STOP opts out."


def _reset_day(user: User) -> str:
    when = user.rate_limit_reset.astimezone(ZoneInfo(user.timezone or "UTC"))
    return f"{when:%b} {when.day}"


def help_text(user: User) -> str:
    left = quota.remaining(user)
    return (
        f"{SERVICE}: text a question and an AI answers. {COMMANDS} "
        f"{left} of {quota.monthly_limit(user.tier)} requests left this month."
    )


def usage_text(user: User) -> str:
    limit = quota.monthly_limit(user.tier)
    used = min(quota.used(user), limit)
    return (
        f"You have used {used} of {limit} requests this month ({user.tier} plan). "
        f"Your quota resets on {_reset_day(user)}."
    )


def quota_text(user: User) -> str:
    return (
        f"You've used all {quota.monthly_limit(user.tier)} requests for this month. "
        f"Your quota resets on {_reset_day(user)}. Reply USAGE to check it any time."
    )


def media_text(_user: User) -> str:
    return "Sorry, pictures and other media aren't supported yet. Please text your question."


def opt_in_text(_user: User) -> str:
    return f"You're subscribed to {SERVICE} again. Text any question. Reply STOP to opt out."


def reset_text(_user: User) -> str:
    return "OK, I've forgotten our conversation. Your next message starts fresh."


def apology_text(_user: User) -> str:
    return "Sorry, something went wrong and I couldn't answer your message. Please try again later."


#: Notice kinds (stored as OutboundMessage.kind) and how each is worded.
NOTICES = {
    "help": help_text,
    "usage": usage_text,
    "quota": quota_text,
    "media": media_text,
    "opt_in": opt_in_text,
    "reset": reset_text,
    "apology": apology_text,
}


def compose(kind: str, user: User) -> str:
    if kind not in NOTICES:
        raise ValueError(f"unknown notice {kind!r}; one of {', '.join(NOTICES)}")
    return NOTICES[kind](user)


def _first_notice_for(user: User, inbound_sid: str) -> bool:
    """Record, before sending, that this SMS got its notice: at most one notice per SMS.

    service_state is read again under the row lock the webhook takes too, so a webhook of
    the same texter committing meanwhile cannot lose this sid, nor this commit theirs. The
    record is committed here, ahead of the send, because that order is what makes a
    redelivered job harmless."""
    relock_bookkeeping(user)
    if not user.remember_sid("noticed_sids", inbound_sid):
        db.session.rollback()
        return False
    db.session.commit()
    return True


def send_notice(
    user: User, kind: str, task: Task | None = None, *, reply_to: str | None = None
) -> bool:
    """Send one of the notices; False when it could not be sent (opted out, or Twilio
    refused, which is already logged) or was already sent in reply to the inbound SMS
    `reply_to` (a redelivered job). The caller commits what the send recorded."""
    if reply_to and not _first_notice_for(user, reply_to):
        log.info("%s notice for %s already sent", kind, reply_to)
        return False
    try:
        outbound.send(user, compose(kind, user), kind=kind, task=task)
    except outbound.OptedOut:
        log.info("%s notice not sent: opted out", kind)
        return False
    except outbound.SendFailed:
        return False
    return True
