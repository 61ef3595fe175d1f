"""The admin's idle timeout: a staff session nobody used for ADMIN_IDLE_MINUTES ends."""

from __future__ import annotations

from flask import current_app, flash, request, session
from flask_login import logout_user

from ..models import utcnow
from .access import SAFE_METHODS, navigating

#: Where the session keeps when staff last did something (seconds since the epoch).
SEEN = "seen_at"
#: The mark is written at most this often, so the cookie is not set again on every page.
REFRESH_SECONDS = 60


def start() -> None:
    """A login is activity: the session's clock starts."""
    session[SEEN] = _now()


def end_idle_session() -> None:
    """Every request's first step: a staff session idle too long is logged out (this
    browser only; the account's other sessions keep their own clocks), and the login page
    says why. A page's own polling (a script's GET) is no activity: a tab left open on a
    conversation must still time out. A session from before the mark existed has none,
    and ends too."""
    if "_user_id" not in session:
        return
    minutes = current_app.config["ADMIN_IDLE_MINUTES"]
    now, seen = _now(), session.get(SEEN)
    if minutes and (not isinstance(seen, int) or now - seen > minutes * 60):
        logout_user()
        session.pop(SEEN, None)
        flash(f"You were logged out after {minutes} minutes without activity.", "info")
        return
    if _is_activity() and (not isinstance(seen, int) or now - seen >= REFRESH_SECONDS):
        session[SEEN] = now


def _is_activity() -> bool:
    return request.method not in SAFE_METHODS or navigating()


def _now() -> int:
    return int(utcnow().timestamp())
