"""How the service reads a number someone gives it: the API wherever a request gives one (a
JSON body, a list's cursor, a query parameter), the admin's forms and the commands an
integer typed: as JSON writes it, in ASCII digits, and only as a float can hold it.

Python's readers are looser: its JSON parser takes NaN and Infinity, reads 1e999 as Infinity
and 1E-400 as 0, and int() reads digits of every script, underscores and spaces ("١",
"1_0", " 5 "), and both refuse an integer past 4300 digits in words meant for the
programmer. Each of those is a 400 naming the parameter (a form's field error, a command's
usage error), never a number the client did not send.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

NOT_FINITE = "NaN and Infinity are not valid JSON numbers."
TOO_SMALL = (
    "Too close to 0 for a float (it would be read as 0): send 0, or a number of at least "
    "5e-324 either way."
)
#: A number typed in a form or a command in the digits that a float cannot hold: NOT_FINITE
#: would tell someone who typed 1e999 about NaN, Infinity and JSON, none of which they wrote.
TOO_LARGE = (
    "Too large for a float (it would be read as Infinity): at most 1.7976931348623157e308 "
    "either way."
)
NOT_AN_INTEGER = "Not a valid integer: write it in the digits 0-9 alone (a '-' before them)."
NOT_A_NUMBER = (
    "Not a valid number: write it in the digits 0-9, with a '.' and an exponent if need be "
    "(0.25, 2.5e-3)."
)
#: Python reads no longer integer (sys.get_int_max_str_digits' default, against a denial of
#: service), whatever the interpreter was told: the service's own rule, in its own words.
MOST_DIGITS = 4300
TOO_LONG = f"More digits than any number this service takes (at most {MOST_DIGITS})."

_INTEGER = re.compile(r"-?[0-9]+\Z")
#: A number as a form's box takes it: JSON's, and ".25" or "5." as people type them.
_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
#: The digits before a JSON number's exponent: all zeros (or none) means the number is 0.
_SIGNIFICAND = re.compile(r"-?([0-9.]*)")


class TooSmall(float):
    """A JSON number read as 0 although it is not 0 (1E-400): a float cannot hold it."""


class TooLong:
    """A JSON integer of more than MOST_DIGITS digits, left unread: Python's int() refuses
    it with advice to the programmer ("use sys.set_int_max_str_digits()")."""


def read_int(text: str) -> int | TooLong:
    """json.loads' `parse_int`: the integer, or TooLong past MOST_DIGITS digits."""
    return TooLong() if _too_long(text) else int(text)


def _too_long(digits: str) -> bool:
    return len(digits.lstrip("-")) > MOST_DIGITS


def read_float(text: str) -> float:
    """json.loads' `parse_float`: the number as Python reads it, marked TooSmall when a
    number that is not 0 was read as 0."""
    value = float(text)
    if value == 0 and _SIGNIFICAND.match(text).group(1).strip("0."):
        return TooSmall(value)
    return value


def loads(raw: str | bytes, **kwargs: Any) -> Any:
    """JSON from a request, every number in it readable by `problem`."""
    return json.loads(raw, parse_float=read_float, parse_int=read_int, **kwargs)


def problem(value: Any) -> str | None:
    """Why a number read by `loads` is not one a float holds as written (NaN, Infinity,
    1e999, 1E-400) or one too long to read, or None."""
    if isinstance(value, TooSmall):
        return TOO_SMALL
    if isinstance(value, TooLong):
        return TOO_LONG
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    return None


def integer_problem(text: str) -> str | None:
    """Why a query parameter's `text` is not an integer as JSON writes one (or one too long
    to read), or None."""
    if _INTEGER.match(text) is None:
        return NOT_AN_INTEGER
    return TOO_LONG if _too_long(text) else None


def read_integer(text: str) -> int:
    """An integer typed in a form or a command, spaces around it ignored; ValueError saying
    why `text` is not one (integer_problem)."""
    text = text.strip()
    if why := integer_problem(text):
        raise ValueError(why)
    return int(text)


def read_number(text: str) -> float:
    """A number typed in a form, spaces around it ignored, as the float it names; ValueError
    saying why `text` is not one a float holds as written. Python's readers take "1_0" as
    10, a fullwidth "２" as 2 and 1e-400 as 0."""
    text = text.strip()
    if _DECIMAL.match(text) is None:
        raise ValueError(NOT_A_NUMBER)
    value = read_float(text)
    if math.isinf(value):
        raise ValueError(TOO_LARGE)
    if why := problem(value):
        raise ValueError(why)
    return float(value)
