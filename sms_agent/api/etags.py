"""ETags: a JSON answer to a GET names its body by a hash of it (If-None-Match gets a 304),
and a PATCH or DELETE sent with If-Match acts only on the representation the client read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from werkzeug.http import generate_etag

from ..extensions import db
from ..models.users import BOOKKEEPING_LOCK, take_sqlite_write_lock
from .errors import ApiError


def answer_conditionally(response: Response) -> Response:
    """The ETag of a whole JSON answer to a GET, and a 304 without a body for a client
    whose If-None-Match names it. A streamed export is not held back to be hashed."""
    if (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and response.mimetype == "application/json"
        and not response.is_streamed
    ):
        response.set_etag(generate_etag(response.get_data()))
        response.make_conditional(request)
    return response


def require_unchanged(row: Any, dump: Callable[[list], list[dict]]) -> None:
    """412 when the request's If-Match does not name `row`'s current ETag (the one a GET
    of it would answer, with the body `dump([row])` gives): another client changed it
    since this one read it. The row is locked until the commit, so no change comes
    between."""
    wanted = request.if_match
    if not wanted:
        return
    take_sqlite_write_lock()
    db.session.refresh(row, with_for_update=BOOKKEEPING_LOCK)
    if wanted.star_tag or wanted.contains(_etag_of(dump([row])[0])):
        return
    raise ApiError(
        412,
        "Changed since you read it (If-Match): read it again, then send your change.",
        {"reason": "changed"},
    )


def _etag_of(body: dict) -> str:
    return generate_etag(current_app.json.response(body).get_data())
