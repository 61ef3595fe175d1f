"""The browsers a staff account logged in from before (OWASP's "device cookies"): a signed
cookie naming the accounts that logged in there. Whoever guesses an account's password uses
up its failed logins (LOGIN_ACCOUNT_RATE), and so locks out new browsers, but never the
browsers its staff member uses."""

from __future__ import annotations

from flask import Response, current_app, request, url_for
from itsdangerous import BadData, URLSafeTimedSerializer

from ..models.staff import StaffUser, find_staff

COOKIE = "known_browser"
#: A browser not used to log in for a year is a new one again.
MAX_AGE = 365 * 24 * 3600
#: The accounts one browser remembers (a shared desk's), newest first.
MAX_ACCOUNTS = 10
_SALT = "sms_agent.admin.known_browser"


def _signer() -> URLSafeTimedSerializer:
    """Signed with SECRET_KEY; a cookie signed with a SECRET_KEY_FALLBACKS key still reads,
    as a session does (itsdangerous signs with the last key and checks with them all)."""
    keys = [*(current_app.config["SECRET_KEY_FALLBACKS"] or ()), current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt=_SALT)


def known_accounts() -> list[int]:
    """The ids of the accounts that logged in from this browser (none for a cookie that is
    missing, forged, of another SECRET_KEY or older than MAX_AGE)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        ids = _signer().loads(raw, max_age=MAX_AGE)
    except BadData:
        return []
    return [n for n in ids if isinstance(n, int)] if isinstance(ids, list) else []


def is_known_for_typed_username() -> bool:
    """Whether the account the login form names logged in from this browser before."""
    ids = known_accounts()
    if not ids:
        return False
    staff = find_staff(request.form.get("username"))
    return staff is not None and staff.id in ids


def remember(response: Response, staff: StaffUser) -> Response:
    """Mark this browser as one `staff` logs in from (on the login's own path only)."""
    ids = [staff.id, *(n for n in known_accounts() if n != staff.id)][:MAX_ACCOUNTS]
    response.set_cookie(
        COOKIE,
        _signer().dumps(ids),
        max_age=MAX_AGE,
        path=url_for("auth.login"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response
