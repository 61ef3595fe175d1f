"""The short service messages a texter can get besides an answer: help, usage, quota, media,
opt-in, reset and apology texts, kept together so their wording stays consistent."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from . import quota
from .models import User

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
    used = limit - quota.remaining(user)
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
