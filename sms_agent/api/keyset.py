"""The list cursor: where a client stopped in a list, as the sort values of the last row it
was given, so the next page starts right after that row whatever was added or deleted
before it (page numbers count rows, so a row added on page 1 moved its last row onto page
2, and a row deleted there skipped one).

A cursor names the list's ordering; the next page is the rows after its values in that
order, NULLs placed where the database sorts them (PostgreSQL: above every value, SQLite:
below), so it continues the very order the list was read in.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
import zlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from .. import numbers
from ..extensions import db
from .errors import field_errors
from .fields import CURSOR_PATTERN, Text, check_text, cursor_moment, cursor_uuid

#: Above the longest cursor this server hands out (a user list ordered by every field, at
#: the longest name and email the columns hold), and short enough that a request carrying
#: one with the longest filters fits gunicorn's 4,094-byte request line.
MAX_LENGTH = 2_600
NOT_OURS = "Not a cursor this server handed out: start again from a list's `next_cursor`."
#: Far above the JSON of any cursor ours (an inflated cursor stops growing there).
_MAX_JSON = 64 * 1024


class ListCursor(Text):
    """A `next_cursor` from an earlier page of the same list: {"order", "values"}."""

    pattern = CURSOR_PATTERN

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})["maxLength"] = MAX_LENGTH
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, Any]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_LENGTH:
            raise ValidationError(NOT_OURS)
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            decoded = numbers.loads(_inflated(raw))
        except (ValueError, binascii.Error, RecursionError, zlib.error):
            raise ValidationError(NOT_OURS) from None
        if (
            not isinstance(decoded, dict)
            or set(decoded) != {"order", "values"}
            or not isinstance(decoded["order"], list)
            or not isinstance(decoded["values"], list)
            or len(decoded["order"]) != len(decoded["values"])
            or not all(isinstance(name, str) for name in decoded["order"])
        ):
            raise ValidationError(NOT_OURS)
        return decoded


def _inflated(raw: bytes) -> bytes:
    """The JSON of a cursor; one handed out before cursors were deflated is JSON already."""
    if raw.startswith(b"{"):
        return raw
    inflater = zlib.decompressobj()
    text = inflater.decompress(raw, _MAX_JSON)
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("not a whole cursor, or one far larger than ours")
    return text


def _terms(order: list) -> list[tuple[str, sa.ColumnElement, bool]]:
    """(name, column, descending) of each ORDER BY term of a list."""
    terms = []
    for clause in order:
        # Asked of a column, `modifier` is a failed lookup that SQLAlchemy searches its
        # comparator for: a tenth of a users page's cost of its cursor.
        modified = isinstance(clause, UnaryExpression)
        descending = modified and clause.modifier is operators.desc_op
        column = clause.element if modified else clause
        terms.append((("-" if descending else "") + column.key, column, descending))
    return terms


def encode(order: list, row: Any) -> str:
    """The cursor of the rows after `row` in a list sorted by `order`."""
    terms = _terms(order)
    values = [_json_value(getattr(row, column.key)) for _, column, _ in terms]
    # UTF-8 as it is, not \u-escaped (a letter beyond ASCII is 2-4 bytes rather than 6-12),
    # and deflated: the escapes JSON keeps (control characters, quotes) shrink to a byte or so.
    data = {"order": [name for name, _, _ in terms], "values": values}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(_deflated(text.encode())).decode().rstrip("=")


def _deflated(data: bytes) -> bytes:
    """`data` as a zlib stream with a 1 KiB window and the smallest memory level: a cursor
    is a few hundred bytes at most, and zlib.compress's defaults (a 32 KiB window, 256 KiB
    of state cleared per call) took 0.13 ms a list page to set up for it."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 10, 1)
    return deflater.compress(data) + deflater.flush()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def after(order: list, cursor: dict[str, Any]) -> sa.ColumnElement[bool]:
    """The rows that come after the cursor's in a list sorted by `order`; 400 for a cursor
    of another ordering (or values its columns cannot hold)."""
    terms = _terms(order)
    if cursor["order"] != [name for name, _, _ in terms]:
        raise field_errors(
            {"cursor": ["This cursor is for another ordering: send the ordering it came with."]}
        )
    pairs = zip(terms, cursor["values"], strict=True)
    try:
        values = [_python_value(column, value) for (_, column, _), value in pairs]
    except (ValueError, TypeError, OverflowError, ValidationError):
        raise field_errors({"cursor": [NOT_OURS]}) from None
    nulls_high = db.session.get_bind().dialect.name != "sqlite"
    alternatives, ties = [], []
    for (_, column, descending), value in zip(terms, values, strict=True):
        alternatives.append(sa.and_(*ties, _beyond(column, value, descending, nulls_high)))
        ties.append(column.is_(None) if value is None else column == value)
    return sa.or_(*alternatives)


def _python_value(column: sa.ColumnElement, value: Any) -> Any:
    """The cursor's `value` as `column` holds it; ValueError, TypeError or OverflowError for
    one it cannot hold (PostgreSQL refused an INTEGER past 2**31 with a 500, and a moment
    at the calendar's ends with an offset has no UTC time in Python)."""
    if value is None:
        return None
    column_type = getattr(column.type, "impl_instance", column.type)
    kind = column_type.python_type
    if kind is datetime:
        return cursor_moment(value)
    if kind is uuid.UUID:
        return cursor_uuid(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"not a {kind.__name__}")
    if kind is str:
        check_text(value)  # as any text a query gives: no NUL, no lone surrogate
    elif (kind is int and not -(2 ** _bits(column_type)) <= value < 2 ** _bits(column_type)) or (
        kind is float and numbers.problem(value)
    ):
        raise ValueError("not a value the column holds")
    return value


def _bits(column_type: sa.types.TypeEngine) -> int:
    """The bits, sign apart, of the integers a column holds (PostgreSQL's SMALLINT, INTEGER,
    BIGINT; SQLite holds 63 in each, but no cursor of ours carries more than its column)."""
    if isinstance(column_type, sa.BigInteger):
        return 63
    return 15 if isinstance(column_type, sa.SmallInteger) else 31


def _beyond(column: sa.ColumnElement, value: Any, descending: bool, nulls_high: bool):
    """The rows whose `column` sorts strictly after `value`, NULLs where the database puts
    them: at the high end on PostgreSQL, at the low end on SQLite."""
    upward = not descending
    if value is None:  # beyond NULL: the values, when NULLs sort first in this direction
        return column.is_not(None) if nulls_high != upward else sa.false()
    if isinstance(value, bool):  # SQL has no < for booleans: false sorts before true
        beyond = column.is_(upward) if upward != value else sa.false()
    else:
        beyond = column > value if upward else column < value
    if nulls_high == upward:  # NULLs sort last in this direction
        return sa.or_(beyond, column.is_(None))
    return beyond
