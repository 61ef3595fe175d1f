"""The streamed HTTP answer the API and the admin give an export: written as the rows are
read, inside the request's context (the database session lives there), never cached."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, stream_with_context

from .formats import chunked, csv_text, json_text
from .rows import Conversation

CSV_TYPE = "text/csv; charset=utf-8"
JSON_TYPE = "application/json"


def _streamed(pieces: Iterable[str], content_type: str) -> Response:
    response = Response(stream_with_context(chunked(pieces)), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"  # texters' messages: no copies on the way
    return response


def csv_download(conversations: Iterable[Conversation], filename: str) -> Response:
    response = _streamed(csv_text(conversations), CSV_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_download(conversations: Iterable[Conversation]) -> Response:
    """One texter's JSON object (`conversations` holds just theirs)."""
    pieces = (piece for conversation in conversations for piece in json_text(conversation))
    return _streamed(pieces, JSON_TYPE)
