"""What the commands accept of free text: no more than its column holds (PostgreSQL would
refuse it with a traceback; SQLite would keep it, unlike every other door), and email
addresses by the API's rule (marshmallow's), so the CLI, the admin and the API agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from marshmallow import ValidationError, validate

from .. import numbers
from ..clean_text import name_problem


def fits(column, strip: bool = False) -> Callable:
    """A click callback refusing text longer than `column` (a mapped String column) holds;
    with `strip`, measured (and given on) without the spaces around it, as it is saved: a
    value that fits once they are dropped was refused, as the admin refused it."""
    limit = column.type.length

    def check(_ctx, _param, value):
        if value is not None and strip:
            value = value.strip()
        if value is not None and len(value) > limit:
            raise click.BadParameter(f"at most {limit} characters, not {len(value)}")
        return value

    return check


def readable_name(column) -> Callable:
    """A click callback for a name staff read (a token's label): `fits(column, strip=True)`,
    and no control or format character, as the admin and the API take one
    (clean_text.name_problem)."""
    check = fits(column, strip=True)

    def name(ctx, param, value):
        value = check(ctx, param, value)
        if value and (why := name_problem(value)):
            raise click.BadParameter(why)
        return value

    return name


def email_address(ctx, param, value):
    """A staff email address the API would take and the column holds, or None."""
    from ..models import StaffUser

    value = fits(StaffUser.email, strip=True)(ctx, param, value)
    if value:
        try:
            validate.Email()(value)
        except ValidationError:
            raise click.BadParameter(f"{value!r} is not a valid email address") from None
    return value or None


class _ReadByTheNumberRule:
    """An option read by one of numbers.py's readers (`read`), as the API and the admin's
    forms read a number, then checked against the range given."""

    read: Callable[[str], Any]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Without bounds it is no range: click's help showed "INTEGER RANGE [x<=None]".
        if self.unbounded:
            self.name = self.name.removesuffix(" range")

    @property
    def unbounded(self) -> bool:
        return self.min is None and self.max is None

    def _describe_range(self) -> str:
        return "" if self.unbounded else super()._describe_range()

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            try:
                value = type(self).read(value)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        return super().convert(value, param, ctx)


class Integer(_ReadByTheNumberRule, click.IntRange):
    """An integer in the digits 0-9 (numbers.read_integer): click's int() also read digits
    of other scripts, and called one of more than 4,300 digits "not a valid integer", quoted
    whole."""

    read = staticmethod(numbers.read_integer)


class Number(_ReadByTheNumberRule, click.FloatRange):
    """A number as the admin's number boxes take one (numbers.read_number): click's float()
    also read "1_0" as 10, a fullwidth "２" as 2, and took "nan" and "inf"."""

    read = staticmethod(numbers.read_number)
