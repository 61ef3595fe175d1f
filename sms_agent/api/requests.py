"""Reading a request's JSON body and query string through schemas, with the API's errors.

Writes must be sent as application/json. Besides being the API's format, that keeps a staff
member's admin session cookie from being ridden by a cross-site form post: browsers send JSON
across sites only after a CORS preflight, which this API never grants.
"""

from __future__ import annotations

import codecs
import json
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import current_app, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import json_text
from ..clean_text import first_unseen
from .errors import ApiError, bad_request, field_errors


def json_body() -> dict[str, Any]:
    """The request's JSON object; 415 for another media type, 400 for malformed JSON.

    Only application/json: werkzeug's is_json takes any `+json` type too, and a JSON Merge
    Patch (application/merge-patch+json) read as plain JSON replaced the objects it meant to
    merge, losing the keys it left out."""
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "Send the request body as JSON.",
            {"content_type": request.mimetype or None, "expected": "application/json"},
        )
    _refuse_other_charsets()
    _refuse_content_codings()
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if request.content_length is None and _cut_at_the_limit(raw):
        raise RequestEntityTooLarge()
    try:
        data, unclear = json_text.loads(raw or b"null")
    except UnicodeDecodeError as exc:
        raise bad_request("The body is not valid UTF-8.", body=[str(exc)]) from None
    except ValueError as exc:
        raise bad_request("Malformed JSON.", body=[str(exc)]) from None
    except RecursionError:
        raise bad_request("JSON is nested too deeply.", body=["nested too deeply"]) from None
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.", body=["expected an object"])
    _refuse_unclear_values(unclear)
    return data


#: JSON's own encodings (RFC 8259 asks for UTF-8; the parser also tells UTF-16 and UTF-32 by
#: their bytes), and ASCII, a part of UTF-8.
_UNICODE = frozenset(
    {"utf-8", "utf-8-sig", "ascii"}
    | {f"utf-{bits}{order}" for bits in (16, 32) for order in ("", "-le", "-be")}
)


def _refuse_other_charsets() -> None:
    """415 for a body declared in another charset: read as UTF-8, Latin-1 "José" was a
    confusing 400, and Latin-1 bytes that happen to be valid UTF-8 were stored as other
    characters."""
    for charset in _declared_charsets():
        if not _is_unicode(charset):
            raise ApiError(
                415,
                "Send the JSON body encoded as UTF-8.",
                {"charset": charset, "expected": "utf-8"},
            )


def _declared_charsets() -> list[str]:
    """Every charset the Content-Type names, as the standard library's MIME parser reads
    them: any case, quoted or not, spaces around the '=' (werkzeug's parser drops such a
    parameter, and all but the last of a repeated one, so they were read as UTF-8)."""
    header = Message()
    header["Content-Type"] = request.headers.get("Content-Type", "")
    parameters = header.get_params(failobj=[])[1:]
    return [collapse_rfc2231_value(value) for name, value in parameters if name == "charset"]


def _is_unicode(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name in _UNICODE
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return False


def _refuse_content_codings() -> None:
    """415 for a compressed body (RFC 9110 15.5.16, with Accept-Encoding saying what we
    take): it was read as it came, gzip's bytes a 400 saying they were not UTF-8."""
    coding = request.headers.get("Content-Encoding", "").strip()
    if coding and coding.lower() != "identity":
        raise ApiError(
            415,
            "Send the request body uncompressed (no Content-Encoding).",
            {"content_encoding": coding, "expected": "identity"},
            {"Accept-Encoding": "identity"},
        )


def _cut_at_the_limit(raw: bytes) -> bool:
    """A chunked body (no Content-Length) is read only up to MAX_CONTENT_LENGTH, and the
    rest silently left unread: one that filled the limit and has more behind it is too
    large, not malformed."""
    limit = request.max_content_length
    return limit is not None and len(raw) >= limit and bool(request.environ["wsgi.input"].read(1))


def _refuse_unclear_values(unclear: json_text.Unclear) -> None:
    """400 naming every place that holds NaN, Infinity or -Infinity (or a number too large
    for a float, such as 1e999, which parses as Infinity, or too close to 0, such as
    1E-400, which parses as 0: numbers.py), and every key given twice in one object
    (json_text.py). The details nest like marshmallow's, list positions as strings:
    {"metadata": {"scores": {"2": [...]}}}.
    """
    details: dict[str, Any] = {}
    problems: set[str] = set()
    for path, why in unclear:
        _place(details, path, why, problems)
    if details:
        raise ApiError(400, " ".join(sorted(problems)), details)


def _place(details: dict[str, Any], path: tuple[str, ...], message: str, given: set) -> None:
    """`message` at `path` in `details` (and in `given`), unless a place on the way has a
    message already: a key given twice, whatever either of its values holds."""
    *parents, last = path
    for key in parents:
        details = details.setdefault(key, {})
        if not isinstance(details, dict):
            return
    details.setdefault(last, [message])
    given.add(message)


def load_body(schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    try:
        return schema.load(json_body(), partial=partial)
    except ValidationError as exc:
        raise field_errors(_read_only_named(_as_dict(exc.messages))) from None


UNKNOWN_FIELD = "Unknown field."
READ_ONLY = "Read-only: the service sets this field, a request cannot."


def _read_only_named(errors: dict[str, Any]) -> dict[str, Any]:
    """A field the operation's answer shows (an id, `created_at`, `monthly_requests`) that
    no request sets is read-only, not "Unknown field.", which read as a misspelling."""
    view = current_app.view_functions.get(request.endpoint)
    described = getattr(view, "api_operation", None)
    if described is None or described.response is None:
        return errors
    shown = _names(described.response().fields)
    return {
        name: [READ_ONLY] if messages == [UNKNOWN_FIELD] and name in shown else messages
        for name, messages in errors.items()
    }


def load_query(schema: Schema) -> dict[str, Any]:
    """Query parameters through `schema` (any it does not know were refused before the view
    ran: `refuse_unknown_parameters`). One given twice is a 400: taking either value
    (`tier=premium&tier=free`) would answer a question the caller did not ask. One whose
    value is not UTF-8 is a 400 too."""
    known = _names(schema.fields)
    _refuse_repeated(known)
    _refuse_other_encodings(known)
    given = request.args.to_dict()
    given.pop(CACHE_BUSTER, None)
    try:
        return schema.load(given)
    except ValidationError as exc:
        raise field_errors(_as_dict(exc.messages)) from None


def _names(fields: dict[str, Any]) -> set[str]:
    return {field.data_key or name for name, field in fields.items()}


#: The query parameter a client adds to defeat caches (jQuery's `cache: false` sends
#: `_=<milliseconds>`): every operation takes it, and ignores it.
CACHE_BUSTER = "_"


def refuse_unknown_parameters() -> None:
    """The API's before_request: 400 naming each query parameter the operation does not take
    (its `query` schema, as the OpenAPI document lists them, or CACHE_BUSTER). Ignored, a
    misspelt filter (`teir=premium`) answered as if there were none: every texter, with
    nothing said."""
    view = current_app.view_functions.get(request.endpoint)
    described = getattr(view, "api_operation", None)
    if described is None or request.method == "OPTIONS":
        return
    known = _names(described.query._declared_fields) if described.query else set()
    unknown = sorted(set(request.args) - known - {CACHE_BUSTER})
    if unknown:
        takes = f"it takes {', '.join(sorted(known)) or 'none'}."
        raise ApiError(
            400,
            f"Unknown query parameter: {', '.join(map(_shown, unknown))}.",
            {name: [f"Not a parameter of this operation: {takes}"] for name in unknown},
        )


def _shown(name: str) -> str:
    """A parameter's name as a message can show it: `?=x` named "", which read as nothing
    ("Unknown query parameter: ."), and a name of spaces or invisible characters is quoted
    with JSON's escapes ("\u202e")."""
    if not name:
        return 'one with no name (nothing before its "=")'
    if name.strip() != name or first_unseen(name) is not None:
        return json.dumps(name)
    return name


def _refuse_repeated(known: set[str]) -> None:
    repeated = sorted(
        name for name, values in request.args.lists() if name in known and len(values) > 1
    )
    if repeated:
        raise field_errors({name: ["Give this parameter once."] for name in repeated})


NOT_UTF8 = "Not UTF-8: percent-encode the text's UTF-8 bytes (é is %C3%A9)."


def _refuse_other_encodings(known: set[str]) -> None:
    """werkzeug reads bytes that are not UTF-8 as U+FFFD: `search=Jos%E9` (Latin-1) looked
    for "Jos\ufffd" and found nobody, where a body that is not UTF-8 is a 400."""
    wrong = set()
    for pair in request.query_string.split(b"&"):
        name, _, value = (unquote_to_bytes(p.replace(b"+", b" ")) for p in pair.partition(b"="))
        try:
            name.decode(), value.decode()
        except UnicodeDecodeError:
            wrong.add(name.decode(errors="replace"))
    if wrong & known:
        raise field_errors({name: [NOT_UTF8] for name in sorted(wrong & known)})


def _as_dict(messages) -> dict[str, Any]:
    return messages if isinstance(messages, dict) else {"_schema": messages}


IDEMPOTENCY_KEY = "Idempotency-Key"
#: The header as an OpenAPI parameter, for the operations that honour it.
IDEMPOTENCY_KEY_PARAMETER = {
    "name": IDEMPOTENCY_KEY,
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[\\x21-\\x2b\\x2d-\\x7e]+$",
    },
    "description": "Any unique string (a UUID) of printable ASCII but for spaces and commas, "
    "sent once: a request repeated with the same key, after a "
    "timeout say, does not act twice but answers 409: on send_message/ with `details.reason` "
    "`already_sent` and the first request's answer (`message_sid`, `messages`, `shortened`; "
    "null while it is still sending or if it stopped part-way), on tasks/ with "
    "`already_created` and the task's `id`. The same key with another request answers 422 "
    "(`key_reused`) and does nothing. Keys are each caller's own, for each texter, and kept "
    "as long as the texter is.",
}
#: Printable ASCII but for spaces and commas. Servers (gunicorn, werkzeug's) join a header
#: sent twice with a comma, which would make two keys one new key.
_KEY_CHARACTERS = frozenset(map(chr, range(0x21, 0x7F))) - {","}
_KEY_RULE = "1 to 255 printable ASCII characters without spaces or commas, in one header"


def idempotency_key() -> str | None:
    """The request's Idempotency-Key header (None without one); 400 for one sent twice or
    not 1-255 printable ASCII characters, which no generated key is."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if "," in key:
        raise bad_request(
            "Send one Idempotency-Key header: it came more than once (or held a comma), "
            "so nothing was done.",
            **{IDEMPOTENCY_KEY: [_KEY_RULE]},
        )
    if not 1 <= len(key) <= 255 or not _KEY_CHARACTERS.issuperset(key):
        raise bad_request("Invalid Idempotency-Key header.", **{IDEMPOTENCY_KEY: [_KEY_RULE]})
    return key
