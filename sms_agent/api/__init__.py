"""The token-authenticated JSON API under /api."""

from flask import Blueprint, current_app, jsonify, request

from ..extensions import limiter
from . import auth, etags, requests

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def _options_as_json():
    """OPTIONS names the URL's methods in JSON too (Flask answers an empty text/html body,
    which a JSON client fails to parse), to any caller, as Flask does: a preflight or a
    discovery request carries no token. It grants no CORS preflight (api/requests.py)."""
    if request.method != "OPTIONS" or not request.url_rule.provide_automatic_options:
        return None
    allowed = current_app.make_default_options_response().allow
    response = jsonify({"methods": sorted(allowed)})
    response.allow.update(allowed)
    return response


# After _options_as_json, which answers OPTIONS before any token is asked for.
bp.before_request(auth.require_principal)
bp.before_request(requests.refuse_unknown_parameters)
bp.after_request(etags.answer_conditionally)


@bp.after_request
def _kept_by_no_one_on_the_way(response):
    """Answers carry texters' numbers and messages: no proxy or browser cache keeps a copy
    (an export says so already, and keeps its own header)."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.after_request
def _no_type_without_content(response):
    """A 204 (a deletion) has no body, so no type of one: Flask's default `text/html` made a
    client reading the type first take it for an HTML error page."""
    if response.status_code == 204:
        response.headers.pop("Content-Type", None)
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
