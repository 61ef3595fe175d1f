"""The message cursor: a poller's position in a texter's thread (threads.Position), handed
to the client as an opaque string and read back from it."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from ..models import write_marks
from ..threads import Position
from .fields import CURSOR_PATTERN, Text, cursor_moment, cursor_uuid

#: Above any cursor this server hands out (two marks of at most write_marks.MAX_TEXT and a
#: message's key), and short enough that a request carrying one fits gunicorn's 4,094-byte
#: request line.
MAX_LENGTH = 3_000
NOT_OURS = "Not a cursor this server handed out: start again from a cursor a list gave you."


def encode(position: Position) -> str:
    past = position.past
    data = {
        "since": position.since,
        "until": position.until,
        "past": [past[0].isoformat(), past[1], str(past[2])] if past else None,
    }
    text = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(text: str) -> Position:
    """The position a cursor stands for; ValidationError for anything else."""
    if len(text) > MAX_LENGTH:
        raise ValidationError(NOT_OURS)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        return _position(data)
    except (ValueError, TypeError, KeyError, OverflowError, binascii.Error, RecursionError):
        raise ValidationError(NOT_OURS) from None


def _position(data: Any) -> Position:
    if not isinstance(data, dict) or set(data) != {"since", "until", "past"}:
        raise ValueError("not a position")
    until = data["until"]
    past = data["past"]
    if (until is None) != (past is None):
        raise ValueError("a window is read from a message on")
    return Position(
        since=write_marks.checked(data["since"]),
        until=None if until is None else write_marks.checked(until),
        past=None if past is None else _key(past),
    )


def _key(past: Any) -> tuple[datetime, str, uuid.UUID]:
    at, direction, message_id = past
    if direction not in ("in", "out"):
        raise ValueError("not a message's key")
    return cursor_moment(at), direction, cursor_uuid(message_id)


class Cursor(Text):
    """A `cursor` from an earlier answer (api/cursors.py)."""

    pattern = CURSOR_PATTERN

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})["maxLength"] = MAX_LENGTH
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> Position:
        return decode(super()._deserialize(value, attr, data, **kwargs))
