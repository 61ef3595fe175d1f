"""The OpenAPI 3 document, built by apispec from the views' schemas, and its docs page.

The page is Swagger UI served from the swagger-ui-bundle package's files, so the docs work
offline and call nothing but this server.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import swagger_ui_bundle
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify, render_template, send_from_directory

from . import bp
from .auth import public
from .fields import PHONE_LIMITS
from .keyset import ListCursor
from .operations import Operation, operation
from .schemas import ErrorOut

TITLE = "SMS-to-AI Agent API"
VERSION = "1.0.0"
_PATH_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR_TEXT = {
    400: "Invalid input: bad JSON, field, date (or a range ending before it starts), "
    "boolean, ordering or page, a query parameter this operation does not take, or a phone "
    "number or an id in the path that cannot be read.",
    401: "No valid token or admin session.",
    403: "Not allowed for this caller.",
    404: "No such resource (or not the caller's).",
    409: "Conflicts with the resource's state, or with a concurrent request (send it again).",
    412: "A precondition failed, nothing done: changed since the client read it (If-Match "
    "names none of its current ETag, or If-Unmodified-Since is before its last change), or "
    "it is as If-None-Match names it; or If-Match names an ETag on an answer that carries "
    "none (`no_etag`).",
    413: "Request body too large.",
    415: "Request body is not application/json (another JSON type such as "
    "application/merge-patch+json included), declares a charset other than UTF-8, or is "
    "compressed.",
    422: "An Idempotency-Key sent before with another request: nothing was done.",
    429: "Throttled, or a texter's request was not admitted (quota, spend caps, sender rate).",
    502: "The SMS provider refused or could not be reached.",
}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    415: {
        "Accept-Encoding": {
            "description": "`identity`, when the body was refused for its Content-Encoding.",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait until the throttle's window, the texter's monthly "
            "quota, their monthly spend cap, the service's daily spend cap (at midnight UTC) "
            "or the texter's sender rate window resets.",
            "schema": {"type": "integer"},
        }
    },
}
#: Refused by the web server (gunicorn with sms_agent/web_server.py) before any route runs, so
#: any operation may answer them; one shared response component each.
_SERVER_REFUSALS = {
    414: (
        "UriTooLong",
        "The request line (method, URL, version) is longer than the web server takes; "
        "`details.max_request_line` gives the limit in bytes.",
    ),
    431: (
        "HeaderFieldsTooLarge",
        "Too many header fields, or one too long; `details.max_header_fields` and "
        "`details.max_header_field_size` give the limits.",
    ),
}
DESCRIPTION = (
    "Manage texters, their tasks and error logs; see analytics.\n\n"
    'Every error answers `{"error": "...", "details": {...}}` as `application/json`, also '
    "when the web server refuses a request before it reaches the API: 414 for an over-long "
    "URL, 431 for too many or too large header fields (both documented on every operation) "
    "and 400 for a request it cannot parse, such as a garbled request line "
    "(`details.reason` says what was wrong).\n\n"
    "A query parameter an operation does not list is a 400 naming it (`details.<name>`), "
    "never ignored: a misspelt filter would answer as if there were none. The one "
    "exception is `_`, which every operation takes and ignores: a cache-buster, such as "
    "the `_=<milliseconds>` jQuery's `cache: false` adds."
)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXAMPLE_PHONE = "+15550200123"
EXAMPLE_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
SECURITY = [{"TokenAuth": []}, {"BearerAuth": []}]


def build_document(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        security=SECURITY,
    )
    spec.components.security_scheme(
        "TokenAuth",
        {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`, with a key from `flask token create`.",
        },
    )
    spec.components.security_scheme("BearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorOut)
    for name, description in _SERVER_REFUSALS.values():
        content = {"application/json": {"schema": ErrorOut}}
        spec.components.response(name, {"description": description, "content": content})
    for path, operations in _paths(app).items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    _page_size_as_configured(document, app.config)
    return document


def _page_size_as_configured(document: dict[str, Any], config) -> None:
    """Each list's `page_size` with this server's default and most (API_PAGE_SIZE,
    API_MAX_PAGE_SIZE), which the schemas cannot know: a client reads the numbers."""
    default, most = config["API_PAGE_SIZE"], config["API_MAX_PAGE_SIZE"]
    for operations in document["paths"].values():
        for described in operations.values():
            for parameter in described.get("parameters", []):
                if parameter["name"] == "page_size":
                    parameter["schema"].update(default=default, maximum=most)
                    parameter["description"] = (
                        f"Results per page: {default} unless given, at most {most} "
                        "(a larger page_size is a 400 naming the most)."
                    )


def _paths(app: Flask) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        described: Operation | None = getattr(view, "api_operation", None)
        if described is None:
            continue
        path = _PATH_ARGUMENT.sub(r"{\2}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            entry = _operation(view, described, rule.rule, method)
            paths.setdefault(path, {})[method.lower()] = entry
    return paths


def _operation(view, described: Operation, rule: str, method: str) -> dict[str, Any]:
    doc = inspect.getdoc(view) or ""
    summary, _, description = doc.partition("\n\n")
    entry: dict[str, Any] = {
        "operationId": f"{view.__name__}_{method.lower()}",
        "summary": summary.replace("\n", " "),
        "tags": [described.tag],
        "parameters": _path_parameters(rule),
        "responses": _responses(view, described, rule, method),
    }
    if description:
        entry["description"] = description
    if described.query is not None:
        entry["parameters"].append({"in": "query", "schema": described.query})
    entry["parameters"].extend({"in": "header", **header} for header in described.headers)
    if _conditional(described, method):
        entry["parameters"].extend((IF_NONE_MATCH, IF_MATCH_READ))
    elif method == "GET":
        entry["parameters"].extend((IF_NONE_MATCH_UNTAGGED, IF_MATCH_UNTAGGED))
    if method in PRECONDITIONED:
        entry["parameters"].extend(PRECONDITIONS)
    if described.body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": described.body}},
        }
    if getattr(view, "api_public", False):
        entry["security"] = []
    return entry


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    parameters = []
    for converter, name in _PATH_ARGUMENT.findall(rule):
        parameter = {"in": "path", "name": name, "required": True}
        if converter == "uuid":
            parameter["schema"] = {"type": "string", "format": "uuid"}
            parameter["example"] = EXAMPLE_ID
            parameter["description"] = (
                f"A UUID; anything else (an old integer id) is a 400 saying why (`details.{name}`)."
            )
        else:
            parameter["schema"] = {"type": "string", **PHONE_LIMITS}
            parameter["description"] = (
                "The texter's number, E.164 or any common notation; URL-encode the '+' as "
                "%2B. One that cannot be read is a 400 saying why (`details.phone_number`)."
            )
            parameter["example"] = EXAMPLE_PHONE
        parameters.append(parameter)
    return parameters


def _success(described: Operation) -> dict[str, Any]:
    if described.status == 204:
        return {"description": "Done; no content."}
    schema: Any = described.response
    if schema is None:
        schema = {"type": "object" if described.media_type.endswith("json") else "string"}
    elif described.paginated:
        schema = {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "results": {"type": "array", "items": described.response},
            },
        }
        cursor = described.query and described.query._declared_fields.get("cursor")
        if isinstance(cursor, ListCursor):
            schema["required"].append("next_cursor")
            schema["properties"]["next_cursor"] = {
                "type": "string",
                "nullable": True,
                "description": "Pass back as `cursor` (with the same ordering) for the rows "
                "after this page's last; null after the last page.",
            }
        if described.cursor:
            schema["required"].append("cursor")
            schema["properties"]["cursor"] = {
                "type": "string",
                "description": "Pass back as `cursor` for what is committed after this answer.",
            }
    content = {described.media_type: {"schema": schema}}
    for media_type in described.other_media_types:
        content[media_type] = {"schema": {"type": "string"}}
    return {"description": "Success.", "content": content}


def _optional_header(name: str, description: str) -> dict[str, Any]:
    return {
        "in": "header",
        "name": name,
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


IF_NONE_MATCH = _optional_header(
    "If-None-Match",
    "The ETag of an earlier answer (or `*`, any): while the answer is the same, a 304 "
    "without a body.",
)
IF_MATCH_READ = _optional_header(
    "If-Match",
    "ETags (or `*`): unless one names the answer as it is, a 412 (`details.reason` "
    "`changed`) instead of the answer.",
)
IF_NONE_MATCH_UNTAGGED = _optional_header(
    "If-None-Match",
    "This answer carries no ETag: `*` (any answer there is) gets a 304 without a body, an "
    "ETag the answer.",
)
IF_MATCH_UNTAGGED = _optional_header(
    "If-Match",
    "This answer carries no ETag (it is streamed, or a page): any ETag here is a 412 "
    "(`details.reason` `no_etag`), `*` the answer.",
)
#: Writes that act only on what the client read, given its ETag (api/etags.py).
PRECONDITIONED = frozenset({"PATCH", "DELETE"})
IF_MATCH = _optional_header(
    "If-Match",
    "The ETag of the GET this change is based on: if the resource has changed since "
    "(another client's change), a 412 and nothing done.",
)
#: The other preconditions a write honours, in RFC 9110 13.2.2's order after If-Match.
PRECONDITIONS = (
    IF_MATCH,
    _optional_header(
        "If-Unmodified-Since",
        "An HTTP-date: if the resource has changed since (its `updated_at`, to the second), a "
        "412 and nothing done. A task's `updated_at` moves with all it shows, its cost too; a "
        "user's with its own fields and counters, not with its `stats` or costs (send "
        "If-Match, whose ETag covers them). Ignored with If-Match, on an error log (which keeps "
        "no time of its last change), and when it is not an HTTP-date.",
    ),
    _optional_header(
        "If-None-Match",
        "ETags (or `*`, any): if one names the resource as it is (`*`: if it exists), a 412 "
        "and nothing done.",
    ),
)
_ETAG = {
    "description": "Names this answer's body; send it back in If-None-Match.",
    "schema": {"type": "string"},
}


def _conditional(described: Operation, method: str) -> bool:
    """A GET answered with JSON written whole carries an ETag (api/etags.py)."""
    return method == "GET" and described.media_type == "application/json" and not described.streamed


def _error_codes(view, described: Operation, rule: str, method: str) -> set[int]:
    codes = set(described.errors)
    if not getattr(view, "api_public", False):
        codes |= {401, 403, 429}
    codes.add(400)  # any operation refuses a query parameter it does not take
    if "<" in rule or described.paginated:
        codes.add(404)
    if described.body is not None:
        codes |= {413, 415}
    if method in PRECONDITIONED or method == "GET":
        codes.add(412)  # a GET's If-Match (api/etags.py), one without an ETag's too
    if method in WRITES:
        codes.add(409)  # a transaction aborted for a concurrent one (api/errors.py)
    return codes


def _responses(view, described: Operation, rule: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = {str(described.status): _success(described)}
    if _conditional(described, method):
        responses[str(described.status)]["headers"] = {"ETag": _ETAG}
        responses["304"] = {"description": "Not modified: the If-None-Match names this answer."}
    elif method == "GET":
        responses["304"] = {"description": "Not modified: the If-None-Match is `*`."}
    for code in sorted(_error_codes(view, described, rule, method)):
        response = {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": ErrorOut}},
        }
        if code in _ERROR_HEADERS:
            response["headers"] = _ERROR_HEADERS[code]
        responses[str(code)] = response
    for code, (name, _) in _SERVER_REFUSALS.items():
        responses[str(code)] = name  # apispec turns the name into a $ref
    return responses


@bp.get("/openapi.json")
@operation("docs")
@public
def openapi_document():
    """The OpenAPI 3 description of this API."""
    document = current_app.extensions.get("api_openapi")
    if document is None:
        document = current_app.extensions["api_openapi"] = build_document(current_app)
    return jsonify(document)


# Every other API URL ends with a slash, so /api/docs/ is the same page (it was a 404).
@bp.get("/docs", strict_slashes=False)
@operation("docs", media_type="text/html")
@public
def docs():
    """Interactive documentation (Swagger UI) for this API."""
    return render_template("api/docs.html", title=TITLE)


@bp.get("/docs/assets/<path:filename>")
@public
def docs_asset(filename: str):
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)
