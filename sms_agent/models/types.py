"""Column types and time helpers shared by every model."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from config import LARGEST_USD

#: The key under which a stored value that was not a JSON object is kept when it is read
#: (and when migration 0003 repairs it): nothing is thrown away, nothing breaks a reader.
REPAIRED_KEY = "_repaired"

_KINDS = {list: "is an array", tuple: "is an array", str: "is text", bool: "is true or false"}


def _kind(value: Any) -> str:
    if value is None:
        return "is null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "is a number"
    return _KINDS.get(type(value), f"is a {type(value).__name__}")


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "contains NaN or Infinity, which JSON does not allow"
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains text that is not valid Unicode"
    elif not isinstance(value, int | float | type(None)):
        return f"holds a {type(value).__name__}, which is not a JSON value"
    return None


def json_object_problem(value: Any) -> str | None:
    """Why `value` is not a JSON object that both databases store as given, or None.

    Preferences, service state and metadata are read with `.get()` by the service, so
    anything but an object would break every later reader; NaN and Infinity are not JSON
    (PostgreSQL refuses them, SQLite would keep them and serve invalid JSON); PostgreSQL
    refuses NUL characters and lone surrogates.
    """
    if not isinstance(value, dict):
        return _kind(value)
    return None if _plainly_valid(value) else first_problem(value)


def first_problem(value: dict) -> str | None:
    """What is wrong inside `value`, read item by item (json_object_problem's slow path)."""
    for item in _walk(value):
        if isinstance(item, dict) and not all(isinstance(key, str) for key in item):
            return "has a key that is not text"
        if not isinstance(item, dict | list | tuple) and (problem := _scalar_problem(item)):
            return problem
    return None


#: Values that need no further look, by exact type (floats and text are looked at).
_PLAIN_SCALARS = frozenset({int, bool, type(None)})


def _plainly_valid(value: dict) -> bool:
    """True when `value` is certainly fine: dicts with text keys, lists, finite floats,
    whole numbers, booleans, null and text that is valid Unicode without a NUL, each by its
    exact type, and no container met twice. Every write of a JSON column is checked twice
    (the models' validator, then the column), so this is a job's most frequent check; it
    costs a third of the walk below, which runs only for what this cannot vouch for (a
    subclass, a shared list) and says what is wrong."""
    pending, texts, seen = [value], [], set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            texts.append(item)
        elif kind is dict or kind is list or kind is tuple:
            if id(item) in seen:
                return False
            seen.add(id(item))
            if kind is dict:
                if any(type(key) is not str for key in item):
                    return False
                texts.extend(item)
                pending.extend(item.values())
            else:
                pending.extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _PLAIN_SCALARS:
            return False
    text = "".join(texts)
    if "\x00" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _walk(value: Any):
    """Every container, key and value inside `value`, each container once (so a cycle
    cannot loop; json.dumps refuses it later), without recursion: no depth of nesting can
    overflow the stack."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        if isinstance(item, dict | list | tuple):
            if id(item) in seen:
                continue
            seen.add(id(item))
            pending.extend(item)
            if isinstance(item, dict):
                pending.extend(item.values())
        yield item


def check_json_object(field: str, value: Any) -> dict[str, Any]:
    """The models' @validates hook for JSON-object columns: refuse before it is stored."""
    problem = json_object_problem(value)
    if problem:
        raise ValueError(f"{field} must be a JSON object of JSON values; this one {problem}")
    return value


def _finite(value: Any) -> Any:
    """`value` with NaN and Infinity replaced by null (only SQLite can have kept them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


_FLAT = frozenset({str, int, bool, type(None)})


def as_json_object(value: Any) -> dict[str, Any]:
    """What a reader gets for a stored JSON value: always an object, never NaN.

    A value written around the models (raw SQL, an old release) that is not an object is
    kept under REPAIRED_KEY rather than dropped; null is an empty object.
    """
    if value is None:
        return {}
    if type(value) is dict and all(type(item) in _FLAT for item in value.values()):
        return value  # no float in it, and nothing nested: read on every API dump of a user
    if any(isinstance(item, float) and not math.isfinite(item) for item in _walk(value)):
        value = _finite(value)
    return value if isinstance(value, dict) else {REPAIRED_KEY: value}


class JSONObject(TypeDecorator):
    """A column that holds a JSON object: JSONB on PostgreSQL, JSON on SQLite.

    Writes of anything else are refused here, so even a bulk insert that skips the models'
    validators cannot store one; reads go through `as_json_object`, so a value stored some
    other way reaches no reader as a list, a string or NaN.
    """

    impl = sa.JSON
    cache_ok = True
    # None is a value to refuse, not "no value": it would be stored as JSON null.
    should_evaluate_none = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value, dialect):
        return check_json_object("the column", value)

    def process_result_value(self, value, dialect):
        if dialect.name == "postgresql" and type(value) is dict:
            return value  # JSONB holds no NaN or Infinity: nothing to repair
        return as_json_object(value)

    def result_processor(self, dialect, coltype):
        """On SQLite, the stored text parsed by orjson: the standard library's parser, with
        SQLAlchemy's and this type's steps around it, cost 5 microseconds for "{}", on every
        row a users page reads. orjson parses JSON as the standard library does but for
        what it refuses (NaN, Infinity, a lone surrogate), which goes the general way, and
        integers beyond 64 bits, which it would make floats: text with a run of 19 digits
        goes the general way too."""
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return general

        def from_sqlite(value):
            if type(value) is not str or _LONG_NUMBER.search(value):
                return general(value)
            try:
                return as_json_object(orjson.loads(value))
            except orjson.JSONDecodeError:
                return general(value)

        return from_sqlite


#: Digits enough for an integer orjson would not read exactly (beyond 64 bits).
_LONG_NUMBER = re.compile(r"\d{19}")


def check_finite(field: str, value: float | None) -> float | None:
    """Refuse NaN and Infinity in a float column: JSON cannot carry them to API clients.
    A -0.0 is kept as 0.0: PostgreSQL stores the sign, and the API then served "-0.0"."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number, not {value}")
    return unsigned_zero(value)


def unsigned_zero(value: float) -> float:
    """`value`, with a zero as 0.0: a -0.0 (stored before check_finite kept it so, or an
    average of one) reads "-0.0", a number below zero, where none can be."""
    return 0.0 if value == 0 else value


class Money(TypeDecorator):
    """US dollars to the millionth (a part of a cent per token adds up), as Decimal in Python
    and NUMERIC(12, 6) in the database, so sums are exact on PostgreSQL and SQLite alike."""

    impl = sa.Numeric(12, 6)
    cache_ok = True
    #: The largest amount NUMERIC(12, 6) holds.
    LARGEST = LARGEST_USD

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = Decimal(str(value))
        if not amount.is_finite():  # SQLite would store NaN as NULL: no amount at all
            raise ValueError(f"{value!r} is not an amount of money")
        return amount.quantize(MICRODOLLAR)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).quantize(MICRODOLLAR)


#: The smallest amount Money keeps.
MICRODOLLAR = Decimal("0.000001")


class UTCDateTime(TypeDecorator):
    """Timestamps are always timezone-aware UTC in Python.

    SQLite drops the offset on the way in, so values read back from it would be naive and
    could not be compared with aware ones; this type puts UTC back on.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect, coltype):
        """On SQLite, the stored text read as UTC in one parse: `replace(tzinfo=UTC)` on
        the naive datetime SQLAlchemy parses costs six times the parse itself, paid for
        every timestamp of every row (a hundred on a users page). Text the fast parse does
        not take (an offset already written, anything not ISO 8601) goes the general way."""
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return general

        def from_sqlite(value):
            if value is None:  # not to the TypeError below, which costs as much as the parse
                return None
            try:
                return _from_iso(value + "+00:00")
            except (TypeError, ValueError):
                return general(value)

        return from_sqlite


_from_iso = datetime.fromisoformat


def utcnow() -> datetime:
    return clock()


#: Where utcnow() reads the time. Tests that must stay inside one UTC day or month put a
#: clock of a fixed moment here (tests/conftest.py: mid_month_noon); nothing else sets it.
clock: Callable[[], datetime] = functools.partial(datetime.now, UTC)


#: Names a host's zoneinfo directory holds that are no IANA zone: `localtime` is whatever the
#: host's own zone is (another host reads it differently), `posixrules` a file of defaults,
#: `Factory` tzdata's placeholder for "no zone set"; `posix/` and `right/` hold copies.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def iana_timezones() -> frozenset[str]:
    """The IANA timezone names a texter may have (Europe/Paris, UTC, ...)."""
    from zoneinfo import available_timezones

    return frozenset(available_timezones()) - _NOT_ZONES


@functools.cache
def _timezones_by_case() -> dict[str, str]:
    return {name.casefold(): name for name in iana_timezones()}


def timezone_named(typed: str) -> str:
    """The IANA name that `typed` writes in any letter case, with spaces around it ("utc",
    " america/new_york"), or `typed` as it is when it names no zone."""
    return _timezones_by_case().get(typed.strip().casefold(), typed)


def check_timezone(value: str) -> str:
    """The API and the admin (through the model) accept the same names."""
    if value not in iana_timezones():
        raise ValueError(f"{value!r} is not a known timezone")
    return value


def first_of_next_month(now: datetime, timezone_name: str = "UTC") -> datetime:
    """Midnight on the first of the next month in the user's timezone, returned in UTC."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(timezone_name))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    reset_local = local.replace(
        year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return reset_local.astimezone(now.tzinfo)
