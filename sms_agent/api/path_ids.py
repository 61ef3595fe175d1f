"""Why a URL under /api/ matched no route when the reason is an id in it that is not a UUID.

Routing stays as it is (`<uuid:task_id>`), so a static path beside an id
(/api/tasks/analytics/) keeps its own methods, 405 and OPTIONS: this is asked only once
routing has found nothing, and asks it again with a UUID in place of each segment.
"""

from __future__ import annotations

import re
import uuid

from flask import current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter, RequestRedirect, UUIDConverter

#: How the API's URLs write an id, the one notation their routes take.
UUID_FORM = "8-4-4-4-12 hexadecimal digits"
#: What stands in for a segment: a UUID no resource has, so a match names only the rule.
_STAND_IN = uuid.UUID(int=0)


def unreadable_id() -> tuple[str, dict[str, list[str]]] | None:
    """Why (a message and its details, for a 400) this request's path matched no route, if
    the reason is an id in it that is not a UUID: a UUID in its place would name a resource
    (/api/tasks/abc/ for /api/tasks/<uuid>/). None for a URL the API does not have. A user's
    URL with a phone number that cannot be read says why as well (users.py)."""
    adapter = current_app.create_url_adapter(request)
    segments = request.path.split("/")
    for index, segment in enumerate(segments):
        if not segment or _is_uuid(segment):
            continue
        candidate = "/".join([*segments[:index], str(_STAND_IN), *segments[index + 1 :]])
        arguments = _arguments(adapter, candidate)
        name = next((key for key, value in arguments.items() if value == _STAND_IN), None)
        if name is not None:
            message = f"The {name.replace('_', ' ')} in the URL cannot be read."
            return message, {name: [f"{segment!r} is not a UUID ({UUID_FORM})."]}
    return None


def _arguments(adapter: MapAdapter, path: str) -> dict:
    """The arguments of the rule `path` matches with any method, with or without the
    trailing slash the API's URLs end with; {} if it matches none."""
    for tried in dict.fromkeys((path, path.rstrip("/") + "/")):
        method = request.method
        for _attempt in range(2):
            try:
                return adapter.match(tried, method=method)[1]
            except MethodNotAllowed as exc:
                method = sorted(exc.valid_methods or ["GET"])[0]
            except (NotFound, RequestRedirect):
                break
    return {}


def _is_uuid(segment: str) -> bool:
    """Whether the route's converter takes `segment` (8-4-4-4-12 hexadecimal digits, not
    the other notations Python's UUID reads, "urn:uuid:..." or 32 digits)."""
    return re.fullmatch(UUIDConverter.regex, segment) is not None
