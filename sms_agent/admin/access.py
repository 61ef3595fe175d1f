"""Who may see and change what in the admin: active staff read, admin staff write."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask_login import current_user

#: Methods that only read; every other method changes data and needs an admin.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_staff() -> bool:
    """A logged-in, still-active staff member (deactivation takes effect on the next request)."""
    return bool(current_user and current_user.is_authenticated and current_user.is_active)


def is_admin_staff() -> bool:
    return is_staff() and bool(current_user.is_admin)


def login_redirect():
    """Send the browser to the login page, remembering where it wanted to go. A form staff
    posted (a save, a reply, an action) after their session ended is not done: the login
    page says so, or staff would take the page they return to for their change made."""
    if request.method not in SAFE_METHODS and navigating():
        flash(NOT_DONE, "warning")
    return redirect(url_for("auth.login", next=page_to_return_to()))


def navigating() -> bool:
    """Whether the browser shows the answer as a page: a form staff submitted, not a poll or
    a measure the page's script posts by itself."""
    return request.headers.get("Sec-Fetch-Mode") in (None, "navigate")


def page_to_return_to() -> str:
    """The page asked for, or the page a form was posted from when the address posted to
    answers only POST (a reply's Send, a bulk action): going on to it after the login was a
    bare "Method Not Allowed". The admin's home when the browser does not say (the login
    checks the path is on this site)."""
    rule = request.url_rule
    if rule is None or "GET" in (rule.methods or ()):
        return request.full_path.rstrip("?")
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url):
        # a Referer of http://host//other.example would otherwise be a path to another site
        return site_path("/" + referrer.removeprefix(request.host_url)) or url_for("admin.index")
    return url_for("admin.index")


def site_path(target: str | None) -> str | None:
    """`target` as a path on this site, or None when it is not one: an absolute or
    scheme-relative URL could send staff to a look-alike site."""
    if not target:
        return None
    target = target.replace("\\", "/").strip()
    # Browsers drop tabs and newlines inside URLs, so "/\t/evil.example" would leave the site.
    if any(char.isspace() or not char.isprintable() for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


NOT_DONE = (
    "Not saved: you were logged out (here, in another tab, or your session ended) before "
    "you submitted, so nothing was changed or sent. Log in, then do it again."
)


class StaffAccess:
    """Mixin for admin views: anonymous users go to the login page; non-admin staff may
    look but every POST from them is refused with 403, whatever the view."""

    admin_only = False

    def is_accessible(self) -> bool:
        return is_admin_staff() if self.admin_only else is_staff()

    def inaccessible_callback(self, name, **kwargs):
        if not is_staff():
            return login_redirect()
        return self.forbidden("This page is for admin staff only.")

    def _handle_view(self, name, **kwargs):
        refused = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        if request.method not in SAFE_METHODS and not is_admin_staff():
            return self.forbidden("Your account can look at everything but change nothing.")
        return None

    def forbidden(self, reason: str):
        """A 403 inside the admin's own layout, so staff can find their way back."""
        return self.render("admin/forbidden.html", reason=reason), 403


class ReadOnlyForStaff(StaffAccess):
    """Model views: create, edit, delete and actions exist only for admin staff.

    A view sets `allow_create` / `allow_edit` / `allow_delete` for what admins may do.
    """

    allow_create = True
    allow_edit = True
    allow_delete = True

    @property
    def can_create(self) -> bool:
        return self.allow_create and is_admin_staff()

    @property
    def can_edit(self) -> bool:
        return self.allow_edit and is_admin_staff()

    @property
    def can_delete(self) -> bool:
        return self.allow_delete and is_admin_staff()

    def is_action_allowed(self, name: str) -> bool:
        return is_admin_staff() and super().is_action_allowed(name)
