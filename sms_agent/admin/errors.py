"""The admin's own answers to a submission it cannot take: one too large (past
MAX_CONTENT_LENGTH), in the admin's layout, so staff read what happened and what the limit
is, and find their way back; a form of a session that has ended (its CSRF token refused).
The API keeps its JSON 413 (api/errors.py) and the webhook its line of text."""

from __future__ import annotations

from flask import Flask, flash, redirect, request
from flask_admin import Admin
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from .access import is_staff, login_redirect, navigating, page_to_return_to

#: Flask-WTF's words for a token signed here for another session (none forges one), and
#: for a session with no CSRF secret (its cookie gone).
MISMATCH, NO_SESSION_SECRET = "The CSRF tokens do not match.", "The CSRF session token is missing."
#: A form of the session before the one staff are logged in with now.
STALE_FORM = (
    "Not done: this page was opened before you last logged in (here or in another tab), so "
    "its form no longer counts and nothing was changed or sent. Do it again here (Back "
    "shows the page with what you had typed)."
)


def init_app(app: Flask, admin: Admin) -> None:
    """Register before the API's handlers, which answer /api/ themselves and hand every
    other path back to this one."""

    def too_large(error: RequestEntityTooLarge):
        if not _is_admin_path(admin):
            return error
        # The limit of the page posted to: the Try-it page takes a picture besides.
        limit = request.max_content_length or app.config["MAX_CONTENT_LENGTH"]
        setting = "MAX_CONTENT_LENGTH"
        if limit != app.config["MAX_CONTENT_LENGTH"]:
            setting += " + MEDIA_MAX_BYTES"
        back = request.referrer if _same_site(request.referrer) else None
        page = admin.index_view.render(
            "admin/too_large.html", limit=limit, setting=setting, back=back
        )
        return page, 413

    def stale_form(error: CSRFError):
        """A form posted with a CSRF token of another session: logged out meanwhile (the
        login page says nothing was done), or logged in again since, here or in another
        tab (the page again, saying so). Any other refused token (none, one that cannot be
        read, a login form's) gets a page in the admin's layout saying the form expired and
        leading back to it: Flask's bare 400 left staff nowhere. A script's own post keeps
        the plain 400."""
        if not _is_admin_path(admin) or not navigating():
            return error
        if request.endpoint != "auth.login":
            if not is_staff() and error.description in (MISMATCH, NO_SESSION_SECRET):
                return login_redirect()
            if is_staff() and error.description == MISMATCH:
                flash(STALE_FORM, "warning")
                return redirect(page_to_return_to())
        page = admin.index_view.render("admin/form_expired.html", back=page_to_return_to())
        return page, 400

    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(CSRFError, stale_form)


def _is_admin_path(admin: Admin) -> bool:
    return request.path == admin.url or request.path.startswith(admin.url.rstrip("/") + "/")


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)
