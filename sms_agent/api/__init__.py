"""The token-authenticated JSON API under /api."""

from flask import Blueprint, current_app, jsonify, request

from ..extensions import limiter
from . import auth

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(auth.require_principal)


@bp.before_request
def _options_as_json():
    """OPTIONS names the URL's methods in JSON too (Flask answers an empty text/html body,
    which a JSON client fails to parse); it grants no CORS preflight (api/requests.py)."""
    if request.method != "OPTIONS" or not request.url_rule.provide_automatic_options:
        return None
    allowed = current_app.make_default_options_response().allow
    response = jsonify({"methods": sorted(allowed)})
    response.allow.update(allowed)
    return response


@bp.after_request
def _conditional(response):
    """A JSON answer to a GET names its body in an ETag (a hash of it); a client that sends
    it back in If-None-Match gets a 304 without a body while the answer is unchanged. A
    streamed export is not held back to be hashed."""
    if (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and response.mimetype == "application/json"
        and not response.is_streamed
    ):
        response.add_etag()
        response.make_conditional(request)
    return response


@bp.after_request
def _kept_by_no_one_on_the_way(response):
    """Answers carry texters' numbers and messages: no proxy or browser cache keeps a copy
    (an export says so already, and keeps its own header)."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# One budget per caller across the whole API; anonymous callers share their address's budget.
limiter.shared_limit(
    lambda: current_app.config["API_RATE_ANONYMOUS"],
    scope="api-anonymous",
    key_func=auth.throttle_key,
    exempt_when=auth.skips_anonymous_limit,
)(bp)
limiter.shared_limit(
    lambda: current_app.config["API_RATE_AUTHENTICATED"],
    scope="api-authenticated",
    key_func=auth.throttle_key,
    exempt_when=auth.is_anonymous,
)(bp)

# The child modules add their routes to bp; imported last because they import bp.
from . import (  # noqa: E402, F401
    analytics,
    conversations,
    error_logs,
    exports,
    openapi,
    tasks,
    users,
)
