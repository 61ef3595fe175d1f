"""Staff login and logout for the admin, and the Flask-Login user loader."""

from __future__ import annotations

import hashlib

from flask import (
    after_this_request,
    current_app,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask_admin import BaseView, expose
from flask_admin.helpers import get_current_view
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from ..extensions import db, limiter, login_manager
from ..models import StaffUser, utcnow
from ..models.staff import (
    MAX_PASSWORD,
    clean_username,
    find_staff,
    password_matches,
    username_key,
)
from . import idle, known_browsers
from .access import is_staff, site_path
from .base import trimmed

FAILED_LOGIN = 401


class LoginForm(FlaskForm):
    # As the login reads it, without the spaces around it (a pasted " ann"), length included.
    username = StringField(
        "Username", validators=[InputRequired(), Length(max=80)], **trimmed(clean_username)
    )
    password = PasswordField("Password", validators=[InputRequired(), Length(max=MAX_PASSWORD)])
    next = HiddenField()


@login_manager.user_loader
def load_staff(user_id: str) -> StaffUser | None:
    """Flask-Login keeps "<id>:<session token>" in the session (StaffUser.get_id); a bad id
    or a token the account no longer holds (after a logout, a new password or a
    deactivation) simply means logged out."""
    staff_id, _, token = str(user_id).partition(":")
    try:
        staff = db.session.get(StaffUser, int(staff_id))
    except (TypeError, ValueError):
        return None
    return staff if staff is not None and staff.holds_session(token) else None


def safe_next(target: str | None) -> str:
    """Where a login goes on to: the page asked for, when it is on this site."""
    return site_path(target) or url_for("admin.index")


def is_return_url(target: str) -> bool:
    """Flask-Admin's check of the ?url= its pages go back to (after a save, a delete, an
    action, a missing record). Its own let "http:evil.example" through, as a relative URL,
    which the redirect then wrote as "http:///evil.example": browsers went to evil.example."""
    return site_path(target) == target


def authenticate(username: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials, or None.

    The password is checked whether or not the account exists or is active, so every
    refusal takes the same time.
    """
    staff = find_staff(username)
    if not password_matches(staff, password) or not staff.is_active:
        return None
    return staff


def _login_rate() -> str:
    return current_app.config["LOGIN_RATE"]


def _login_account_rate() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE"]


def _typed_account() -> str:
    """The account a login form names, as logins read it ("Ann" and " ANN " are one),
    hashed to a key of one size whatever was typed; unknown usernames count alike, so the
    throttle does not tell which exist. A browser that account logged in from before
    counts apart, in a budget of its own, so guessers do not lock its staff member out."""
    typed = hashlib.sha256(username_key(request.form.get("username")).encode()).hexdigest()
    browser = known_browsers.browser_for_typed_username()
    return f"login-browser:{browser}:{typed}" if browser else f"login-account:{typed}"


def _only_failures_count(response):
    """Every login POST takes an attempt from LOGIN_RATE (and LOGIN_ACCOUNT_RATE) before it
    runs, in one atomic step, so attempts sent together cannot all pass a limit none of them
    has counted yet (they did while the count was made after each password check). All but
    a refused password give theirs back, so staff who log in often are fine."""
    if response.status_code != FAILED_LOGIN:
        for taken in limiter.current_limits:
            limiter.limiter.storage.incr(taken.key, taken.limit.get_expiry(), amount=-1)
    return response


def _too_many(_limit, message: str = ""):
    """The login page again, with a 429 and a plain explanation instead of a bare error."""
    form = LoginForm(formdata=None, next=request.form.get("next", ""))
    message = message or (
        "Too many failed logins from your address. Please wait a minute and try again."
    )
    page = get_current_view().render("admin/login.html", form=form, error=message)
    return make_response(page, 429)


def _too_many_for_account(limit):
    return _too_many(
        limit,
        "Too many failed logins for this account. Please try again later, or from a "
        "browser you have logged in with before.",
    )


class AuthView(BaseView):
    """Login and logout pages; always reachable and never shown in the menu."""

    def is_visible(self) -> bool:
        return False

    @expose("/", methods=("GET",))
    def index(self):
        return redirect(url_for(".login"))

    @expose("/login/", methods=("GET", "POST"))
    @limiter.limit(_login_rate, methods=["POST"], on_breach=_too_many)
    # Guesses from many addresses (a botnet, the 65,536 /64s of a free IPv6 tunnel's /48)
    # are held to each account's own budget; its staff's own browsers each have theirs.
    @limiter.limit(
        _login_account_rate,
        key_func=_typed_account,
        methods=["POST"],
        on_breach=_too_many_for_account,
    )
    def login(self):
        if request.method == "POST":
            after_this_request(_only_failures_count)
        if request.method == "GET" and is_staff():
            return redirect(safe_next(request.args.get("next")))
        form = LoginForm(next=request.args.get("next", ""))
        if not form.validate_on_submit():
            status = 400 if request.method == "POST" else 200
            return self.render("admin/login.html", form=form, error=None), status
        staff = authenticate(form.username.data, form.password.data)
        if staff is None:
            error = "Wrong username or password, or the account is inactive."
            return self.render("admin/login.html", form=form, error=error), FAILED_LOGIN
        # A new session: one planted before the login must not bring in a CSRF secret
        # (or anything else) that whoever planted it knows.
        session.clear()
        login_user(staff)
        idle.start()
        staff.last_login_at = utcnow()
        db.session.commit()
        return known_browsers.remember(redirect(safe_next(form.next.data)), staff)

    @expose("/logout/", methods=("POST",))
    def logout(self):
        """Ends this staff member's sessions everywhere, copies of the cookie included."""
        if current_user.is_authenticated:
            current_user.end_sessions()
            db.session.commit()
        logout_user()
        return redirect(url_for(".login"))


def init_login() -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to use the admin."
