"""marshmallow fields for what the API accepts: safe text, phone numbers, dates, JSON objects;
and for what it serves: finite numbers and JSON objects, whatever the database holds.

Every string that reaches the database passes through `Text`, because PostgreSQL refuses NUL
characters and unpaired surrogates; letting one through would turn bad input into a 500.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import ValidationError, fields, validate
from marshmallow.validate import OneOf
from werkzeug.routing import UUIDConverter

from config import BOOL_WORDS, read_bool

from .. import json_text, numbers
from ..clean_text import BLANK_REFUSED, NOT_IN_PROSE, is_blank, name_problem, prose_problem
from ..inbound.media import UnservedChannel, texter_phone
from ..models.types import (
    as_json_object,
    check_timezone,
    iana_timezones,
    timezone_named,
    unsigned_zero,
)
from ..phones import MAX_INPUT_LENGTH, InvalidPhoneNumber
from .path_ids import UUID_FORM


def check_text(value: str) -> str:
    if "\x00" in value:
        raise ValidationError("Text may not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Text must be valid Unicode.") from None
    return value


def cursor_moment(value: Any) -> datetime:
    """A moment a cursor carries (isoformat, with its offset), in UTC; TypeError, ValueError
    or OverflowError for anything else: at the calendar's ends an offset leaves no UTC time
    Python holds, and that failed at the query, a 500."""
    if not isinstance(value, str):
        raise TypeError("not a moment")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a naive time")
    return moment.astimezone(UTC)


#: An id as the API's URLs write one (werkzeug's uuid converter), in bodies and cursors
#: alike: Python's UUID reads braces, "urn:uuid:", 32 digits without hyphens and fullwidth
#: digits too, which the OpenAPI document's `format: uuid` does not offer.
_UUID = re.compile(UUIDConverter.regex)


def cursor_uuid(value: Any) -> uuid.UUID:
    """An id a cursor carries; TypeError or ValueError for anything else (uuid.UUID of a
    number raised AttributeError, a 500)."""
    if not isinstance(value, str):
        raise TypeError("not an id")
    if _UUID.fullmatch(value) is None:
        raise ValueError(f"not written {UUID_FORM}")
    return uuid.UUID(value)


class Id(fields.UUID):
    """An id in a body, written as the URLs write one (8-4-4-4-12 hexadecimal digits)."""

    default_error_messages = {"invalid_uuid": f"Not a valid UUID ({UUID_FORM})."}

    def _validated(self, value) -> uuid.UUID:
        try:
            return cursor_uuid(value)
        except (TypeError, ValueError):
            raise self.make_error("invalid_uuid") from None


#: What `check_text` refuses, as the OpenAPI document says it (a lone surrogate, which
#: JSON Schema patterns cannot name portably, only in words).
NO_NUL = r"^[^\u0000]*$"
#: What clean_text.prose_problem takes.
PROSE_PATTERN = f"^[^{NOT_IN_PROSE}]*$"


class Choice(OneOf):
    """One of `choices`, as written: they are the API's identifiers, in the letter case its
    answers write them, so a value in another ("Completed") is a 400 naming the one meant
    rather than a match (a cursor, an ETag, a cache key name one spelling)."""

    def __call__(self, value: Any) -> Any:
        try:
            return super().__call__(value)
        except ValidationError as exc:
            if meant := as_written(value, self.choices):
                message = self._format_error(value).removesuffix(".")
                raise ValidationError(f"{message}: {value!r} is written {meant!r}.") from exc
            raise


def as_written(value: Any, choices: Iterable[str]) -> str | None:
    """The one of `choices` that `value` names in another letter case, if any."""
    if not isinstance(value, str):
        return None
    folded = value.casefold()
    return next((choice for choice in choices if choice.casefold() == folded), None)


class Text(fields.String):
    """A string the database can store."""

    #: The OpenAPI `pattern` of what this field takes (None: its metadata says it all).
    pattern: str | None = NO_NUL

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.pattern and not any(isinstance(v, OneOf) for v in self.validators):
            self.metadata = {"pattern": self.pattern, **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        return check_text(super()._deserialize(value, attr, data, **kwargs))


class JSONBoolean(fields.Boolean):
    """A boolean in a JSON body: true or false, as the OpenAPI document says. marshmallow's
    also takes 0, 1, "false", "off" and the like, which a query string needs (filters.py) but
    a body does not: a client sending them relied on a leniency the document does not grant."""

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(
                "Not a boolean: send true or false, unquoted (JSON's, not a string or number)."
            )
        return value


class QueryBoolean(fields.Boolean):
    """A boolean in a query string: the words a setting takes (config.read_bool), in any
    letter case. marshmallow's took "TRUE" but not "tRue", and t, y, f and n, which the
    document named nowhere, and its refusal named no word it takes."""

    def __init__(self, **kwargs: Any) -> None:
        description = f"A boolean: {BOOL_WORDS}, in any letter case."
        kwargs.setdefault("metadata", {}).setdefault("description", description)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        answer = read_bool(value) if isinstance(value, str) else None
        if answer is None:
            raise ValidationError(f"Not a boolean: write one of {BOOL_WORDS}.")
        return answer


class JSONNumber(fields.Float):
    """A number in a JSON body: marshmallow's Float also reads a string of one, "2.5"."""

    def _deserialize(self, value, attr, data, **kwargs) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class QueryInteger(fields.Integer):
    """An integer in a query string, written as JSON writes one (numbers.py): Python's int()
    also reads "1_0", " 5", "+5" and digits of other scripts ("١")."""

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        if isinstance(value, str) and (why := numbers.integer_problem(value)):
            raise ValidationError(why)
        return super()._deserialize(value, attr, data, **kwargs)


#: What the cursors this server hands out are made of: base64url without its padding.
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"


class RuledText(Text):
    """Text held to one of clean_text's rules: `problem` says why a value breaks it (a 400),
    `description` what the OpenAPI document tells of it."""

    description = ""

    @staticmethod
    def problem(text: str) -> str | None:
        return None

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("description", self.description)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if why := self.problem(text):
            raise ValidationError(why)
        return text


class SmsText(RuledText):
    """What a texter could have texted: something that shows (clean_text.is_blank), as a
    text of only spaces or invisible characters gets a how-to instead of an answer."""

    description = "Some text that shows: only spaces or invisible characters is a 400."

    @staticmethod
    def problem(text: str) -> str | None:
        return BLANK_REFUSED if is_blank(text) else None


class Name(RuledText):
    """A name staff read (a texter's): no control or format character (clean_text.name_problem)."""

    description = (
        "A name as staff will read it: no control or format characters (a direction "
        "override such as U+202E, a zero-width space), but the joiners U+200C and U+200D; "
        'one of only spaces or invisible characters is no name (stored as ""); null is '
        "refused."
    )
    problem = staticmethod(name_problem)
    # A client clearing a name as an email is cleared (null) needed to hear how to have none.
    default_error_messages = {"null": 'Not null: to have no name, send "".'}


class Prose(RuledText):
    """Free text staff read (notes, an answer): line breaks and tabs, but no direction or
    other control character (clean_text.prose_problem)."""

    pattern = PROSE_PATTERN
    description = (
        "Free text, line breaks and tabs included; a control character or a direction "
        "embedding, override or isolate (U+202A-U+202E, U+2066-U+2069) is a 400 naming it."
    )
    problem = staticmethod(prose_problem)


class Email(fields.Email):
    """An email address the database can store: marshmallow's own check lets a lone
    surrogate through in the domain ("ada@\\ud800.example")."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        # A client clearing the address sends "" and needed to hear how to have none.
        if isinstance(value, str) and not value.strip():
            raise ValidationError(BLANK_EMAIL)
        text = check_text(super()._deserialize(value, attr, data, **kwargs))
        # An address pasted with a space or line break around it: the address itself is
        # fine, which "Not a valid email address." did not tell the client.
        if text != text.strip() and _an_address(text.strip()):
            raise ValidationError(SPACES_AROUND_EMAIL)
        return text


def _an_address(text: str) -> bool:
    try:
        validate.Email()(text)
    except ValidationError:
        return False
    return True


BLANK_EMAIL = "Not a valid email address: to have none, send null."
SPACES_AROUND_EMAIL = (
    "Not a valid email address: it has spaces or line breaks around it; send it without."
)

#: A digit somewhere and no NUL: the least a phone number in any notation has.
PHONE_PATTERN = r"^[^\u0000]*[0-9][^\u0000]*$"
PHONE_DESCRIPTION = (
    "A phone number in any common notation (+1 555 020 0123, (555) 020-0123), read in the "
    "service's region (DEFAULT_PHONE_REGION) without a country code; stored as E.164. "
    "One copied from a link (tel:+1..., sms:+1...) is the number it names, and a WhatsApp "
    "sender as Twilio writes it (whatsapp:+1...) the texter its texts are filed under; "
    "another channel's address (messenger:...), a number without its area code, with an "
    "extension (ext. 12), with letters or with digits other than 0-9 is a 400."
)
PHONE_LIMITS = {"minLength": 1, "maxLength": MAX_INPUT_LENGTH, "pattern": PHONE_PATTERN}


class Phone(Text):
    """A phone number in any common notation, normalised to E.164."""

    pattern = PHONE_PATTERN

    def __init__(self, **kwargs: Any) -> None:
        metadata = kwargs.setdefault("metadata", {})
        said = metadata.get("description")
        metadata["description"] = f"{said} {PHONE_DESCRIPTION}" if said else PHONE_DESCRIPTION
        metadata.update(PHONE_LIMITS)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return texter_phone(text)
        except (InvalidPhoneNumber, UnservedChannel) as exc:
            raise ValidationError(str(exc)) from None


class TimeZone(Text):
    """An IANA timezone name such as Europe/Paris (the model's rule, models/types.py)."""

    pattern = None

    def __init__(self, **kwargs: Any) -> None:
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("description", "An IANA timezone name, such as Europe/Paris.")
        metadata["enum"] = sorted(iana_timezones())
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return check_timezone(text)
        except ValueError as exc:
            # The document lists the names as written; one in another case ("utc") is that
            # zone to the admin's box, so the client is told how to write it.
            if (named := timezone_named(text)) != text:
                raise ValidationError(f"{exc}: it is written {named!r}.") from None
            raise ValidationError(f"{exc}.") from None


def _check_json(value: Any) -> None:
    """Every key and text in `value`, nested at most json_text.MAX_DEPTH deep (checked
    first), as safe text."""
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            _check_json(item)
    elif isinstance(value, list):
        for item in value:
            _check_json(item)


class JSONObject(fields.Dict):
    """A free-form JSON object (metadata, preferences)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault(
            "description",
            f"Any JSON object, nested at most {json_text.MAX_DEPTH} deep, with no NUL character "
            "in any of its keys or text.",
        )
        super().__init__(keys=fields.String(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> dict:
        result = super()._deserialize(value, attr, data, **kwargs)
        if json_text.too_deep(result):
            raise ValidationError(json_text.TOO_DEEP)
        _check_json(result)
        return result


class JSONObjectOut(fields.Dict):
    """A JSON object in a response: a stored value that is not one (written around the
    models) is served as the object the models read it as, never as a 500."""

    def _serialize(self, value, attr, obj, **kwargs) -> dict:
        return as_json_object(value)


class FiniteFloat(fields.Float):
    """A number in a response; NaN and Infinity, which JSON cannot express, are null, and a
    zero is 0.0 (models.types.unsigned_zero)."""

    def _serialize(self, value, attr, obj, **kwargs) -> float | None:
        number = super()._serialize(value, attr, obj, **kwargs)
        return unsigned_zero(number) if number is not None and math.isfinite(number) else None


#: What ISO 8601 writes (upper-cased): a date in its extended, basic or week notation, then
#: maybe a time after a T (or RFC 3339's space) and an offset. Python's fromisoformat reads
#: more: 2026011512 as 2026-01-15, its 12 dropped; forty 1s as 1111-11-11 11:11:11; any
#: character for the T. Its digits are 0-9 (re.ASCII): \d alone takes "٢" and "２" too.
_ISO_8601 = re.compile(
    r"(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}-W\d{2}(-\d)?|\d{4}W\d{2}\d?)"
    r"([T ](\d{2}(:\d{2}(:\d{2})?)?|\d{2}(\d{2}(\d{2})?)?)([.,]\d+)?"
    r"(Z|[+-]\d{2}(:?\d{2}(:?\d{2}([.,]\d+)?)?)?)?)?",
    re.ASCII,
)
#: A date-time whose offset's "+" a URL turned into a space: 2026-01-01T00:00:00 05:00.
_PLUS_AS_SPACE = re.compile(r"T[0-9:.]+ [0-9]{2}(:?[0-9]{2})?$")


def _date_problem(value: str) -> str:
    """What a client needs to hear: in a query string an unencoded "+" reads as a space, and
    a date written right may name a day the calendar has not (30 February, a 25th hour)."""
    problem = "Enter a date (YYYY-MM-DD) or an ISO 8601 date-time."
    if _PLUS_AS_SPACE.search(value.strip()):
        return f"{problem} A + in a URL must be written %2B (it reads as a space)."
    if not value.isascii() and any(char.isdigit() for char in value):
        return f"{problem} Write it in the digits 0-9."
    if _ISO_8601.fullmatch(value.strip().upper()):
        return (
            f"{value.strip()!r} is written as ISO 8601 has it, but there is no such day or "
            "time: check its month, day, hour, minute and offset."
        )
    return problem


class DateOrDateTime(fields.Field):
    """A filter bound: an ISO 8601 date or date-time; naive values are taken as UTC.

    With `end=True` a bare date means the whole of that day, so `created_before=2024-01-31`
    (or 20240131) includes the 31st, as a person reading the filter would expect.
    """

    def __init__(self, *, end: bool = False, **kwargs: Any) -> None:
        # The OpenAPI document says what is accepted: a string holding either form.
        metadata = kwargs.setdefault("metadata", {})
        metadata.update(type="string", anyOf=[{"format": "date"}, {"format": "date-time"}])
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("Enter a date (YYYY-MM-DD) or an ISO 8601 date-time.")
        try:
            # RFC 3339 (OpenAPI's date-time) allows a lower-case 'z', which Python refuses.
            return self._parse(check_text(value.strip()).upper())
        except (ValueError, OverflowError):
            raise ValidationError(_date_problem(value)) from None

    def _parse(self, text: str) -> datetime:
        if _ISO_8601.fullmatch(text) is None:
            raise ValueError("not an ISO 8601 date or date-time")
        try:
            # Any ISO 8601 date is a day, written 2026-01-31, 20260131 or 2026-W05-6 alike.
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return datetime.combine(day, time.max if self.end else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00: valid, but in UTC a moment
            # before or after the last datetime Python has; it bounds nothing, so the edge.
            edge = datetime.min if moment.year == datetime.min.year else datetime.max
            return edge.replace(tzinfo=UTC)
