"""Where an SMS goes: a keyword or command, a refusal (inactive, opted out, empty), or a
task for the model, which admission (limits.py) may still refuse."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..models import User, utcnow
from . import keywords
from .keywords import Keyword


@dataclass
class Received:
    """What the caller does after committing: enqueue `task_id`, or send notice `notice`."""

    outcome: str
    phone: str | None = None
    notice: str | None = None
    sid: str | None = None
    task_id: str | None = None


def route(user: User, body: str, media: int) -> Received:
    phone = user.phone_number
    keyword = keywords.parse(body)
    if keyword is not None:
        return _keyword(user, keyword)
    if not user.is_active:
        return Received("inactive", phone)
    if user.is_opted_out:
        return Received("opted_out", phone)
    if not body.strip():
        # Nobody is left without an answer: a picture alone, or nothing at all, gets a how-to.
        return Received("media" if media else "empty", phone, notice="media" if media else "empty")
    # Pictures are not read yet: the words are answered, and a note says the picture was not.
    return Received("task", phone, notice="media_note" if media else None)


def _keyword(user: User, keyword: Keyword) -> Received:
    """STOP gets one confirmation when it opts the texter out (unless Twilio's Advanced
    Opt-Out sends it); the others may get a notice."""
    phone = user.phone_number
    if keyword is Keyword.STOP:
        newly = not user.is_opted_out
        user.opted_out_at = user.opted_out_at or utcnow()
        confirm = newly and not current_app.config["TWILIO_ADVANCED_OPT_OUT"]
        return Received("stop", phone, notice="opt_out" if confirm else None)
    if keyword is Keyword.START:
        user.opted_out_at = None
    elif keyword is Keyword.RESET:
        user.context_reset_at = utcnow()
    notice = {Keyword.START: "opt_in", Keyword.HELP: "help", Keyword.RESET: "reset"}.get(
        keyword, "usage"
    )
    if keyword is Keyword.HELP and not current_app.config["HELP_REPLY_ENABLED"]:
        notice = None
    if not user.is_active or user.is_opted_out:
        notice = None
    return Received(str(keyword), phone, notice=notice)
