"""The browsers a staff account logged in from before (OWASP's "device cookies"): a signed
cookie naming the browser and the accounts that logged in there. Whoever guesses an
account's password uses up its failed logins (LOGIN_ACCOUNT_RATE), and so locks out new
browsers, but never the browsers its staff member uses: each of those has a budget of its
own for that account. The cookie is a bearer value, so that budget is the browser's, not
each copy's: a cookie copied onto a botnet's machines (by someone who once logged in, with
a password since changed) guesses no more than one browser may."""

from __future__ import annotations

import hashlib
import secrets

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


def _read() -> tuple[str | None, list[int]]:
    """(the browser's id, the ids of the accounts that logged in from it); (None, []) for a
    cookie that is missing, forged, of another SECRET_KEY or older than MAX_AGE. A cookie
    of the first release, a bare list of accounts, is known by a digest of itself, which
    every cookie re-issued from it keeps."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None, []
    try:
        data = _signer().loads(raw, max_age=MAX_AGE)
    except BadData:
        return None, []
    if isinstance(data, list):
        data = {"browser": hashlib.sha256(raw.encode()).hexdigest()[:32], "accounts": data}
    if not isinstance(data, dict) or not isinstance(data.get("browser"), str):
        return None, []
    accounts = data.get("accounts")
    ids = [n for n in accounts if isinstance(n, int)] if isinstance(accounts, list) else []
    return data["browser"], ids


def browser_for_typed_username() -> str | None:
    """This browser's id when the account the login form names logged in from it before,
    else None (a new browser, for this account)."""
    browser, ids = _read()
    if browser is None or not ids:
        return None
    staff = find_staff(request.form.get("username"))
    return browser if staff is not None and staff.id in ids else None


def remember(response: Response, staff: StaffUser) -> Response:
    """Mark this browser as one `staff` logs in from (on the login's own path only). It
    keeps its id, so a login does not hand it a fresh budget of failures."""
    browser, known = _read()
    ids = [staff.id, *(n for n in known if n != staff.id)][:MAX_ACCOUNTS]
    data = {"browser": browser or secrets.token_urlsafe(24), "accounts": ids}
    response.set_cookie(
        COOKIE,
        _signer().dumps(data),
        max_age=MAX_AGE,
        path=url_for("auth.login"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response
