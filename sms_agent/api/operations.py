"""What each view takes and returns, recorded on the view for the OpenAPI document.

The same schemas the views load and dump with are named here, so the document cannot drift
from the behaviour; the view's docstring becomes the operation's summary and description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from marshmallow import Schema


@dataclass(frozen=True)
class Operation:
    tag: str
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    paginated: bool = False
    #: The list body also carries a `cursor` to poll with (api/cursors.py).
    cursor: bool = False
    media_type: str = "application/json"
    #: Further media types the success response may have (as text: CSV), chosen by query.
    other_media_types: tuple[str, ...] = ()
    #: Written as it is read (an export): no ETag, as the body is not known up front.
    streamed: bool = False
    errors: tuple[int, ...] = field(default=())
    #: OpenAPI parameter objects for request headers the view reads (Idempotency-Key).
    headers: tuple[dict, ...] = field(default=())


def operation(tag: str, **options) -> Callable[[Callable], Callable]:
    """Describe a view: `query`, `body` and `response` schemas, success `status`,
    `paginated` for list bodies, and any `errors` beyond those every operation can return."""

    def decorate(view: Callable) -> Callable:
        view.api_operation = Operation(tag, **options)
        return view

    return decorate
