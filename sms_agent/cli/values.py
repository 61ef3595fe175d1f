"""What the commands accept of free text: no more than its column holds (PostgreSQL would
refuse it with a traceback; SQLite would keep it, unlike every other door), and email
addresses by the API's rule (marshmallow's), so the CLI, the admin and the API agree."""

from __future__ import annotations

from collections.abc import Callable

import click
from marshmallow import ValidationError, validate


def fits(column) -> Callable:
    """A click callback refusing text longer than `column` (a mapped String column) holds."""
    limit = column.type.length

    def check(_ctx, _param, value):
        if value is not None and len(value) > limit:
            raise click.BadParameter(f"at most {limit} characters, not {len(value)}")
        return value

    return check


def email_address(ctx, param, value):
    """A staff email address the API would take and the column holds, or None."""
    from ..models import StaffUser

    value = fits(StaffUser.email)(ctx, param, value)
    if value:
        try:
            validate.Email()(value)
        except ValidationError:
            raise click.BadParameter(f"{value!r} is not a valid email address") from None
    return value or None
