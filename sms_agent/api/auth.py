"""Who is calling the API, and what they may do.

Three kinds of caller: a staff token or a staff member logged into the admin (admins may do
anything, other staff only read), and a texter's token (a companion app), which sees and
changes only its own user record and tasks. Throttling keys come from here too.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, request, session
from flask_login import current_user
from marshmallow import Schema

from ..extensions import client_network, db
from ..models import ApiToken, StaffUser, utcnow
from ..models.staff import presented, token_expiry
from .errors import forbidden, unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SCHEMES = ("token", "bearer")
#: A token's last_used_at is refreshed at most this often, to spare a write per request.
TOUCH_INTERVAL = timedelta(minutes=1)
_ENVIRON_KEY = "sms_agent.api.principal"
_ERROR_KEY = "sms_agent.api.auth_error"
#: A bare key or Basic credentials: "invalid or revoked" sent a good key's owner looking why.
FORM = "'Authorization: Token <key>' or 'Authorization: Bearer <key>'"
WRONG_SCHEME = f"Send the key as {FORM}."
#: A key in the query string is never read: "credentials were not provided" sent its owner
#: looking for a wrong key, not for where a good one goes.
KEY_IN_URL = (
    f"Send the key as {FORM}, never in the URL, which proxies' logs and browsers' history keep."
)


@dataclass(frozen=True)
class Principal:
    kind: str  # "staff" or "texter"
    # Identifies the caller for throttling: the token's public prefix, which (unlike its row
    # id) is never reused, or the staff account.
    key: str
    is_admin: bool = False
    user_phone: str | None = None
    staff_id: int | None = None

    @property
    def is_texter(self) -> bool:
        return self.kind == "texter"


def current_principal() -> Principal | None:
    """The authenticated caller of this request, or None; looked up once per request.

    Kept in the WSGI environ rather than `g`: `g` lives as long as the app context, which
    tests (and CLI code) may keep across several requests.
    """
    environ = request.environ  # each read through the request proxy costs a lookup that fails first
    if _ENVIRON_KEY not in environ:
        environ[_ENVIRON_KEY] = _authenticate()
    return environ[_ENVIRON_KEY]


INACTIVE = "This key's account is inactive: it works again once staff reactivate the account."


def _authenticate() -> Principal | None:
    header = request.headers.get("Authorization", "").strip()
    if header:
        return _from_header(header)
    return _from_session()


def _from_header(header: str) -> Principal | None:
    # Read as Django REST framework's TokenAuthentication reads it: words apart by any
    # whitespace, the scheme in any letter case, then the key alone.
    scheme, *words = header.split()
    if scheme.lower() not in SCHEMES:
        request.environ[_ERROR_KEY] = WRONG_SCHEME
        return None
    if len(words) != 1:
        # No key (an unset variable in `Token $KEY`) or words after it are not "revoked".
        problem = f"No key after '{scheme}'" if not words else "A key holds no spaces"
        request.environ[_ERROR_KEY] = f"{problem}: send {FORM}."
        return None
    token = presented(words[0])
    if token is None:
        request.environ[_ERROR_KEY] = "Invalid or revoked token."
        return None
    if not token.owner_is_active:
        # The key is good: it works again once staff reactivate the account.
        request.environ[_ERROR_KEY] = INACTIVE
        return None
    days = current_app.config["API_TOKEN_DAYS"]
    expires = token_expiry(token.created_at, days)
    if expires is not None and utcnow() >= expires:
        request.environ[_ERROR_KEY] = (
            f"This token expired (tokens last {days} days): ask for a new one."
        )
        return None
    if token.staff_user_id is not None:
        principal = Principal(
            "staff",
            f"token:{token.prefix}",
            is_admin=token.staff_is_admin,
            staff_id=token.staff_user_id,
        )
    else:
        principal = Principal("texter", f"token:{token.prefix}", user_phone=token.user_phone)
    _touch(token)
    return principal


def _touch(token: sa.Row) -> None:
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_INTERVAL:
        return
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    db.session.commit()


def _from_session() -> Principal | None:
    """A staff member logged into the admin (Flask-Login), read only when a login is present."""
    if not session.get("_user_id"):
        return None
    staff = current_user
    if not isinstance(staff, StaffUser) or not staff.is_authenticated or not staff.is_active:
        return None
    return Principal("staff", f"staff:{staff.id}", is_admin=staff.is_admin, staff_id=staff.id)


def public(view: Callable) -> Callable:
    """Mark a view that anonymous callers may use (the OpenAPI document and its docs page)."""
    view.api_public = True
    return view


def staff_only(view: Callable) -> Callable:
    """Texters' tokens get 403 here: error logs, global analytics and staff-only actions."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        principal = current_principal()
        if principal is not None and principal.is_texter:
            raise forbidden("This endpoint is for staff only.")
        return view(*args, **kwargs)

    wrapper.api_staff_only = True
    return wrapper


def require_principal() -> None:
    """The blueprint's before_request: 401 for anonymous callers, 403 for read-only staff."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "api_public", False):
        return
    principal = current_principal()
    if principal is None:
        raise unauthorized(request.environ.get(_ERROR_KEY) or _why_anonymous())
    if principal.kind == "staff" and not principal.is_admin and request.method not in SAFE_METHODS:
        raise forbidden("Your staff account is read-only.")


def _why_anonymous() -> str:
    """The 401's words for a request with no credentials: where a key goes, when one came
    in the query string (?token=sat_...)."""
    values = request.args.listvalues()
    if any(value.startswith(ApiToken.KEY_PREFIX) for value in itertools.chain(*values)):
        return KEY_IN_URL
    return unauthorized().message


def current_staff() -> StaffUser | None:
    """The staff member calling (token or admin session), or None for a texter's token."""
    principal = current_principal()
    if principal is None or principal.staff_id is None:
        return None
    return db.session.get(StaffUser, principal.staff_id)


def sees_staff_details() -> bool:
    """Whether the caller may see what is for staff's eyes in the rows it reads: which staff
    member wrote or holds what (staff usernames are staff logins: a texter's token sees only
    "staff", threads.STAFF), the service's diagnosis of a failure (a task's or an SMS's
    error message, the text of the ErrorLog a texter may not read: a model server's answer,
    the operator's key or credit, internal host names), and the answer the AI wrote before
    staff took the conversation over (kept for staff, never sent)."""
    principal = current_principal()
    return principal is not None and not principal.is_texter


def owns(phone: str | None) -> bool:
    """Whether the caller may see the rows of the user `phone` (staff see everyone's)."""
    principal = current_principal()
    return principal is not None and (not principal.is_texter or principal.user_phone == phone)


def scope_to_caller(column) -> list:
    """SQL conditions restricting a query to the caller's own rows (none for staff)."""
    principal = current_principal()
    if principal is not None and principal.is_texter:
        return [column == principal.user_phone]
    return []


def forbid_fields(data: dict, allowed: set[str], schema: Schema) -> None:
    """Texters may change only some fields of their own rows (`allowed`, as `schema` loads
    them); the 403 names the others as the request did ("metadata", not "metadata_")."""
    principal = current_principal()
    if principal is None or not principal.is_texter:
        return
    sent_as = {
        field.attribute or name: field.data_key or name for name, field in schema.fields.items()
    }
    refused = sorted(sent_as.get(name, name) for name in set(data) - allowed)
    if refused:
        raise forbidden("You may not change these fields.", fields=refused)


# Throttling: anonymous callers by address (an IPv6 one by its /64, client_network),
# authenticated ones by token or staff account.
def is_anonymous() -> bool:
    return current_principal() is None


def is_authenticated() -> bool:
    return current_principal() is not None


def skips_anonymous_limit() -> bool:
    """Authenticated callers have their own budget, and the docs page's static files should
    not use up an anonymous reader's (one page view loads several)."""
    return request.endpoint == "api.docs_asset" or is_authenticated()


def throttle_key() -> str:
    principal = current_principal()
    return principal.key if principal else client_network()
