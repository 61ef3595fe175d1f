"""The API's one JSON error shape: {"error": "...", "details": {...}}, and nothing else builds it.

Handlers are registered on the app but answer JSON only for paths under /api/, so the admin
and the webhook keep their own error pages. A request that matched no route has no blueprint,
which is why these cannot simply be blueprint handlers.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_limiter.errors import RateLimitExceeded
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound
from werkzeug.routing import RequestRedirect

from ..current import this_request
from ..extensions import db, limiter
from ..ops.unmigrated import schema_problem
from ..outbound import OwnNumber, channels
from .path_ids import unreadable_id

log = logging.getLogger("sms_agent.api")

API_PREFIX = "/api/"


class ApiError(Exception):
    """An error the API answers with `status` and the JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def bad_request(message: str, **details: Any) -> ApiError:
    return ApiError(400, message, details)


def field_errors(errors: dict[str, Any]) -> ApiError:
    """400 with marshmallow-style {field: [messages]} details."""
    return ApiError(400, "Invalid input.", errors)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, f"No such {what}.")


def forbidden(message: str = "You do not have permission to do this.", **details) -> ApiError:
    return ApiError(403, message, details)


def conflict(message: str, **details: Any) -> ApiError:
    return ApiError(409, message, details)


def outside_window(user, message: str) -> ApiError:
    """409 for a WhatsApp texter who has not written within WhatsApp's window: nothing may
    reach them until they write again (send_message/, and a task, whose answer could never
    be sent)."""
    closed = channels.window_closes(user)
    return conflict(
        message,
        reason="whatsapp_window_closed",
        last_message_at=user.last_whatsapp_at.isoformat() if user.last_whatsapp_at else None,
        window_closed_at=closed.isoformat() if closed else None,
    )


def inactive(message: str) -> ApiError:
    """409 for a texter whose account staff deactivated: nothing reaches them, no answer and
    no staff text, until staff reactivate them (send_message/, and a task)."""
    return conflict(message, reason="inactive")


def opted_out() -> ApiError:
    """409 for a texter who texted STOP: nothing may reach them until they text START."""
    return conflict("This user has opted out of SMS (they texted STOP).", reason="opted_out")


def country_not_allowed(refused) -> ApiError:
    """403 for a number outside ALLOWED_COUNTRIES, which nothing is sent to (toll fraud), or
    one of our own (outbound.OwnNumber: it could come back as a text to answer)."""
    if isinstance(refused, OwnNumber):
        return forbidden("This is our own number: nothing is sent to it.", reason="own_number")
    country, allowed = refused.country, refused.allowed
    return forbidden(
        "SMS to this user's country is not allowed (ALLOWED_COUNTRIES).",
        country=country,
        allowed_countries=list(allowed),
    )


def key_reused(what: str) -> ApiError:
    """422 for an Idempotency-Key sent before with another request (the IETF draft's
    answer): nothing was done, and the first request stands."""
    return ApiError(
        422,
        f"This Idempotency-Key was sent before with another {what}: nothing was done. "
        f"Use a new key for each {what}.",
        {"reason": "key_reused"},
    )


def unauthorized(message: str = "Authentication credentials were not provided.") -> ApiError:
    # The challenge tells clients which schemes we take (RFC 9110 requires it with 401).
    return ApiError(401, message, headers={"WWW-Authenticate": 'Token realm="api", Bearer'})


def refused_until(message: str, details: dict[str, Any], until, now) -> ApiError:
    """429 for a limit that lifts at a known time: `Retry-After` gives the seconds left when
    we answered (at least 1, so a client never retries at once), `details` name the time."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return ApiError(429, message, details, headers={"Retry-After": str(seconds)})


def quota_exceeded(reset_at, limit: int, now) -> ApiError:
    """429 for a texter whose monthly quota is used up; retry once the window resets."""
    details = {"monthly_limit": limit, "rate_limit_reset": reset_at.isoformat()}
    return refused_until("Monthly request quota used up.", details, reset_at, now)


def spend_cap_reached(lifts_at, now) -> ApiError:
    """429 for a texter at their tier's monthly spend cap; retry once the UTC month turns."""
    details = {"reason": "over_spend", "spend_cap_lifts": lifts_at.isoformat()}
    return refused_until("Monthly spend cap of this user's tier reached.", details, lifts_at, now)


def daily_cap_reached(lifts_at, now) -> ApiError:
    """429 while the service's daily spend cap is reached; retry after midnight UTC, or
    (`lifts_at` None: DAILY_SPEND_CAP=0) once staff raise it, which no time says."""
    message = "The service's daily spend cap is reached."
    if lifts_at is None:
        return ApiError(429, message, {"reason": "daily_cap", "daily_cap_lifts": None})
    details = {"reason": "daily_cap", "daily_cap_lifts": lifts_at.isoformat()}
    return refused_until(message, details, lifts_at, now)


def sender_rate_exceeded(lifts_at, now) -> ApiError:
    """429 for a texter sending faster than SENDER_RATE; retry once its window resets."""
    details = {"reason": "rate_limited", "sender_rate_lifts": lifts_at.isoformat()}
    message = "This user is sending faster than SENDER_RATE allows."
    return refused_until(message, details, lifts_at, now)


def error_response(
    status: int, message: str, details: dict | None = None, headers: dict | None = None
) -> Response:
    response = jsonify({"error": message, "details": details or {}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _is_api_request() -> bool:
    return request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/")


def _from_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.message, error.details, error.headers)


def _from_validation_error(error: ValidationError) -> Response:
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return error_response(400, "Invalid input.", messages)


def _from_rate_limit(error: RateLimitExceeded) -> Response:
    """429 with Retry-After from the breached window's real reset time."""
    breached = limiter.current_limit
    wait = (
        math.ceil(breached.reset_at - time.time()) if breached else error.limit.limit.get_expiry()
    )
    return error_response(
        429,
        "Request was throttled.",
        {"limit": str(error.limit.limit)},
        {"Retry-After": str(max(1, wait))},
    )


def _from_http_exception(error: HTTPException) -> Response:
    if isinstance(error, RateLimitExceeded):
        return _from_rate_limit(error)
    headers = {}
    if error.code == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if error.code == 413:
        return _too_large()
    if isinstance(error, NotFound) and request.url_rule is None and (why := unreadable_id()):
        return error_response(400, *why)
    # A refusal made before the API's views may name what it refused (security.py's NUL).
    details = getattr(error, "details", None)
    return error_response(error.code or 500, error.description or error.name, details, headers)


def _too_large() -> Response:
    """413 with the limit, as the web server's 414 and 431 give theirs (web_server.py)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = f"Request body too large: send at most {limit} bytes."
    return error_response(413, message, {"max_content_length": limit})


def _from_deleted_meanwhile(_error: Exception) -> Response:
    """The row this request read was deleted by another one before it wrote or read it
    again (a texter deleted while staff changed them, say): gone, as a 404 says."""
    db.session.rollback()
    return error_response(404, "No such resource: it was deleted while this request ran.")


#: SQLSTATEs of a transaction PostgreSQL aborted for a concurrent one: a deadlock or a
#: serialization failure. Writers of a texter take the texter's row first, so none is known
#: (a deletion while staff texted them was one); this is the backstop for the next.
CONCURRENCY_FAILURES = frozenset({"40P01", "40001"})


def _from_operational_error(error: OperationalError) -> Response:
    """409 with Retry-After for a transaction aborted for a concurrent one; any other
    database failure is unexpected (500). What the request had not committed is undone,
    but a step committed before (a staff text sent) stays: the client reads again first."""
    if getattr(error.orig, "sqlstate", None) not in CONCURRENCY_FAILURES:
        return _from_unexpected(error)
    db.session.rollback()
    log.warning("%s %s stopped by a concurrent request: %s", request.method, request.path, error)
    return error_response(
        409,
        "Stopped by a concurrent request on the same data: read it again, then retry.",
        {"reason": "concurrent_change"},
        {"Retry-After": "1"},
    )


def _from_unexpected(error: Exception) -> Response:
    problem = schema_problem(error)
    if problem:
        return error_response(503, f"Service unavailable: {problem}")
    log.exception("unhandled error in %s %s", request.method, request.path)
    db.session.rollback()
    return error_response(500, "Internal server error.")


def _redirect_as_json() -> Response | None:
    """A URL without its trailing slash is redirected (308) to the one with it, which Flask
    does before any error handler could answer, with an HTML page as the body: under /api/
    the body says it in the API's shape instead, for a client that does not follow it."""
    redirect = this_request().routing_exception
    if not isinstance(redirect, RequestRedirect) or not _is_api_request():
        return None
    message = f"The API's URLs end with a slash: send this request to {redirect.new_url}"
    headers = {"Location": redirect.new_url}
    return error_response(redirect.code, message, {"location": redirect.new_url}, headers)


def _api_only(handler: Callable, previous: Callable | None) -> Callable:
    """Answer with `handler` under /api/, otherwise with whatever handled this before us."""

    def handle(error):
        if _is_api_request():
            return handler(error)
        if previous is not None:
            return previous(error)
        if isinstance(error, HTTPException):
            return error
        raise error

    return handle


def register_api_errors(app: Flask) -> None:
    """JSON errors for /api/; other paths keep the app's handlers (or Flask's defaults)."""
    app.before_request(_redirect_as_json)
    handlers: list[tuple[type[Exception], Callable]] = [
        (ApiError, _from_api_error),
        (ValidationError, _from_validation_error),
        (ObjectDeletedError, _from_deleted_meanwhile),
        (StaleDataError, _from_deleted_meanwhile),
        (OperationalError, _from_operational_error),
        (DBAPIError, _from_unexpected),
        (RateLimitExceeded, _from_rate_limit),
        (HTTPException, _from_http_exception),
        (InternalServerError, _from_unexpected),
        (Exception, _from_unexpected),
    ]
    for exc_class, handler in handlers:
        previous = app.error_handler_spec[None][None].get(exc_class)
        app.register_error_handler(exc_class, _api_only(handler, previous))
    # Handlers registered by status code win over class handlers, so take those codes too.
    for code, by_class in list(app.error_handler_spec[None].items()):
        if code is None:
            continue
        for exc_class, previous in list(by_class.items()):
            by_class[exc_class] = _api_only(_from_http_exception, previous)
