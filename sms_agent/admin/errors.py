"""The admin's own page for a submission too large to take (past MAX_CONTENT_LENGTH), in
the admin's layout, so staff read what happened and what the limit is, and find their way
back. The API keeps its JSON 413 (api/errors.py) and the webhook its line of text."""

from __future__ import annotations

from flask import Flask, request
from flask_admin import Admin
from werkzeug.exceptions import RequestEntityTooLarge


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

    app.register_error_handler(RequestEntityTooLarge, too_large)


def _is_admin_path(admin: Admin) -> bool:
    return request.path == admin.url or request.path.startswith(admin.url.rstrip("/") + "/")


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)
