"""Request data no view should have to think about: a NUL character in a URL parameter or a
form field. PostgreSQL can neither store nor compare text holding one (the query fails with a
DataError), so such a request is refused with a 400 before any view runs, on every surface.

The webhook is left to itself: Twilio's fields are checked there (sid and number formats) and
an SMS body keeps everything but the NUL, which becomes U+FFFD.
"""

from __future__ import annotations

from flask import Flask, abort, request

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _holds_nul(pairs) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def refuse_nul_characters() -> None:
    if request.blueprint == "webhook":
        return
    if _holds_nul(request.args.items(multi=True)):
        abort(400, "URL parameters may not contain NUL characters.")
    if request.mimetype in FORM_TYPES and _holds_nul(request.form.items(multi=True)):
        abort(400, "Form fields may not contain NUL characters.")


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
