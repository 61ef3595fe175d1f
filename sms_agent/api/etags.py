"""ETags: a JSON answer to a GET names its body by a hash of it (If-None-Match gets a 304),
and a PATCH or DELETE sent with If-Match (If-None-Match, If-Unmodified-Since) acts only on
the representation the client read (not one it names, not one changed since a date)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, current_app, request
from werkzeug.http import generate_etag

from ..extensions import db
from ..models.users import BOOKKEEPING_LOCK, take_sqlite_write_lock
from .errors import ApiError, error_response


def answer_conditionally(response: Response) -> Response:
    """The ETag of a whole JSON answer to a GET, and a 304 without a body for a client
    whose If-None-Match names it, or a 412 for one whose If-Match names none of it (werkzeug
    left the answer as its body: every error has the API's shape). A streamed export is not
    held back to be hashed, so it carries no ETag, and an If-Match naming one is a 412 too.
    werkzeug's conditional answer is asked only of a request with a precondition: for any
    other it only added a Date header, which the web server writes."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    if response.mimetype == "application/json" and not response.is_streamed:
        etag = generate_etag(response.get_data())
        response.set_etag(etag)
        environ = request.environ
        if any(header in environ for header in _PRECONDITIONS):
            response.make_conditional(request)
        if response.status_code == 412:
            return _not_as_named(etag)
    elif "ETag" not in response.headers:
        return _untagged(response)
    return response


def _untagged(response: Response) -> Response:
    """An answer without an ETag (a streamed export, the docs page) under RFC 9110 13.1.1
    and 13.1.2: no ETag If-Match names is its own, so that precondition fails (a 412, where
    the answer was given whole as if it held); If-None-Match `*` names any answer there is,
    so a 304 (it was answered whole); an ETag in If-None-Match names none of it."""
    if request.if_match and not request.if_match.star_tag:
        response.close()
        return error_response(
            412,
            "This answer carries no ETag (it is streamed as it is read), so If-Match can "
            "name none of it: send the request without If-Match.",
            {"reason": "no_etag"},
        )
    if request.if_none_match.star_tag:
        response.close()
        # The answer's own headers (Cache-Control): werkzeug drops a body's from a 304.
        not_modified = Response(status=304, headers=response.headers)
        not_modified.headers.pop("Content-Disposition", None)
        return not_modified
    return response


#: The headers werkzeug's conditional answer reads (a Range without accept_ranges it
#: ignores), as the WSGI environ names them.
_PRECONDITIONS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def _not_as_named(etag: str) -> Response:
    failed = error_response(
        412,
        "It is no longer as If-Match names it: read it again without If-Match.",
        {"reason": "changed"},
    )
    failed.set_etag(etag)
    return failed


def require_unchanged(row: Any, dump: Callable[[list], list[dict]]) -> None:
    """412 when the request's preconditions (RFC 9110 13.2.2, in its order) fail on `row`
    as a GET of it would answer (with the body `dump([row])` gives):

    - If-Match names none of its current ETags: another client changed it since this one
      read it (`changed`);
    - without If-Match, If-Unmodified-Since is before its last change (`changed`);
    - If-None-Match names its current ETag, or is `*`: it exists (`matched`).

    The row is locked until the commit, so no change comes between the check and the write."""
    wanted, unwanted = request.if_match, request.if_none_match
    since = None if wanted else request.if_unmodified_since
    if not (wanted or unwanted or since):
        return
    take_sqlite_write_lock()
    db.session.refresh(row, with_for_update=BOOKKEEPING_LOCK)
    etag = _etag_of(dump([row])[0])
    if wanted and not (wanted.star_tag or wanted.contains(etag)):
        raise _failed("Changed since you read it (If-Match)", "changed")
    if since and _modified_after(row, since):
        raise _failed("Changed since the date in If-Unmodified-Since", "changed")
    if unwanted and (unwanted.star_tag or unwanted.contains_weak(etag)):
        raise _failed("It is as If-None-Match names it (or exists, for *)", "matched")


def _modified_after(row: Any, since: datetime) -> bool:
    """Whether `row` changed after `since`, to the second (an HTTP-date's precision). Users
    and tasks keep their last change (updated_at); an error log keeps none, and RFC 9110
    13.1.4 has If-Unmodified-Since ignored then."""
    changed = getattr(row, "updated_at", None)
    return changed is not None and changed.replace(microsecond=0) > since


def _failed(why: str, reason: str) -> ApiError:
    return ApiError(
        412, f"{why}: nothing done. Read it again, then send your change.", {"reason": reason}
    )


def _etag_of(body: dict) -> str:
    return generate_etag(current_app.json.response(body).get_data())
