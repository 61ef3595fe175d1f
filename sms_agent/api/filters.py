"""List filters and ordering: query-string schemas and the SQL conditions they stand for.

The conditions are plain SQLAlchemy expressions, so a list and its analytics (tasks/analytics/)
filter the same rows by construction.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import current_app
from marshmallow import Schema, ValidationError, validate, validates_schema

from ..analytics import task_conditions
from ..models import (
    Category,
    ConversationState,
    ErrorLog,
    ErrorType,
    RefusalReason,
    Task,
    TaskStatus,
    Tier,
    User,
)
from ..phones import whole_phone_number
from ..quota import used_in_sql
from .cursors import Cursor
from .fields import Choice, DateOrDateTime, Phone, QueryBoolean, QueryInteger, Text, as_written
from .keyset import ListCursor

__all__ = ["task_conditions"]  # the list's filters are the analytics' (one definition)


class Ordering(Text):
    """`ordering=-created_at,tier`: fields from a whitelist, "-" for descending."""

    def __init__(self, allowed: dict[str, sa.ColumnElement], **kwargs: Any) -> None:
        names = ", ".join(sorted(allowed))
        kwargs.setdefault("metadata", {})["description"] = (
            f"Comma-separated fields, each once, '-' for descending; one of: {names}."
        )
        # As read below: comma-separated, spaces around a part ignored; blank, the default.
        one = r"\s*-?(" + "|".join(sorted(allowed)) + r")\s*"
        self.pattern = f"^(\\s*|{one}(,{one})*)$"
        super().__init__(**kwargs)
        self.allowed = allowed

    def _deserialize(self, value, attr, data, **kwargs) -> list[sa.ColumnElement]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return []
        clauses, named = [], set()
        for position, raw in enumerate((part.strip() for part in text.split(",")), 1):
            # An empty item is a field the client meant to name and lost ("tier," built
            # from a list with a blank in it): sorting without it answers another question.
            if not raw:
                raise ValidationError(
                    f"Item {position} is empty: name a field between each two commas."
                )
            name = raw.removeprefix("-")
            if not name:
                raise ValidationError(
                    f"Item {position} is '-' alone: write the field after it (-created_at)."
                )
            if name not in self.allowed:
                meant = as_written(name, self.allowed)
                raise ValidationError(
                    f"Cannot order by {name!r}; choose from {', '.join(sorted(self.allowed))}"
                    + (f": {name!r} is written {meant!r}." if meant else ".")
                )
            # A second mention sorts nothing further, and each one would be a sort term.
            if name in named:
                raise ValidationError(f"Order by each field once; {name!r} is named twice.")
            named.add(name)
            column = self.allowed[name]
            clauses.append(column.desc() if raw.startswith("-") else column.asc())
        return clauses


def _at_most_the_configured(size: int) -> int:
    """A page_size of at most API_MAX_PAGE_SIZE, read for each request (one schema serves
    every app): a larger one was cut to it silently, and a client asking for 1000 rows could
    take the 100 it got for all."""
    most = current_app.config["API_MAX_PAGE_SIZE"]
    if size > most:
        raise ValidationError(
            f"At most {most} results a page: ask for {most} or fewer, and read on with `next`."
        )
    return size


class PageQuery(Schema):
    page = QueryInteger(validate=validate.Range(min=1, max=10**9))
    #: Its description and most, as configured, are the OpenAPI document's (openapi.py).
    page_size = QueryInteger(validate=[validate.Range(min=1), _at_most_the_configured])


class KeysetQuery(PageQuery):
    """A list that hands out `next_cursor`s: `cursor` reads on from one, instead of `page`."""

    cursor = ListCursor(
        metadata={
            "description": "The `next_cursor` of an earlier answer, with the same ordering: "
            "the rows after the last one that answer gave, none repeated or skipped "
            "however many were added or deleted before it (page numbers shift). Not with "
            "`page`."
        }
    )

    @validates_schema
    def _cursor_or_page(self, data: dict[str, Any], **_kwargs) -> None:
        if "cursor" in data and "page" in data:
            raise ValidationError("Read on with `cursor` or `page`, not both.", "cursor")


USER_ORDERING = {
    name: getattr(User, name)
    for name in (
        "phone_number",
        "tier",
        "email",
        "full_name",
        "last_active",
        "total_requests",
        "created_at",
        "updated_at",
    )
}
#: As a user's entry shows it (the running window's count, 0 once the texter's month has
#: ended, as the admin sorts it), not the stored count, which rolls only with their next
#: request. The list reads this very column for its entries and its cursors (api/users.py).
USER_ORDERING["monthly_requests"] = used_in_sql().label("monthly_requests")
TASK_ORDERING = {
    name: getattr(Task, name)
    for name in (
        "created_at",
        "updated_at",
        "completed_at",
        "category",
        "status",
        "success",
        "processing_time",
        "tokens_used",
        "complexity_score",
    )
}
ERROR_ORDERING = {name: getattr(ErrorLog, name) for name in ("timestamp", "error_type", "resolved")}


class UserQuery(KeysetQuery):
    tier = Text(validate=Choice(Tier.values()))
    is_active = QueryBoolean()
    search = Text(
        validate=validate.Length(max=100),
        metadata={
            "description": "Matches part of the phone number, email or full name; a whole "
            'number in any notation ("+1 (555) 123-0000") is that texter\'s.'
        },
    )
    ordering = Ordering(USER_ORDERING)


def _in_order(data: dict[str, Any], first: str, last: str) -> None:
    """A range that ends before it starts selects nothing: bounds swapped by mistake would
    read as "none", so they are a 400 naming both."""
    if first in data and last in data and data[first] > data[last]:
        raise ValidationError(f"Comes after {last}: give the earlier moment here.", first)


class TaskFilterQuery(Schema):
    category = Text(validate=Choice(Category.values()))
    success = QueryBoolean()
    status = Text(validate=Choice(TaskStatus.values()))
    refusal_reason = Text(validate=Choice(RefusalReason.values()))
    user_phone = Phone()
    created_after = DateOrDateTime()
    created_before = DateOrDateTime(end=True)

    @validates_schema
    def _range_in_order(self, data: dict[str, Any], **_kwargs) -> None:
        _in_order(data, "created_after", "created_before")


class TaskQuery(KeysetQuery, TaskFilterQuery):
    ordering = Ordering(TASK_ORDERING)


class ErrorLogQuery(KeysetQuery):
    error_type = Text(validate=Choice(ErrorType.values()))
    resolved = QueryBoolean()
    user_phone = Phone()
    start_date = DateOrDateTime()
    end_date = DateOrDateTime(end=True)
    ordering = Ordering(ERROR_ORDERING)

    @validates_schema
    def _range_in_order(self, data: dict[str, Any], **_kwargs) -> None:
        _in_order(data, "start_date", "end_date")


def _contains(column, text: str):
    """`text` anywhere in `column`, either case: both lowered by the database, as Python and
    PostgreSQL lower some letters apart (İ, a Greek word's last Σ)."""
    pattern = "%" + re.sub(r"([/%_])", r"/\1", text) + "%"
    return sa.func.lower(column).like(sa.func.lower(pattern), escape="/")


def user_conditions(query: dict[str, Any]) -> list:
    conditions = []
    if "tier" in query:
        conditions.append(User.tier == query["tier"])
    if "is_active" in query:
        conditions.append(User.is_active.is_(query["is_active"]))
    if query.get("search"):
        text = query["search"]
        columns = (User.phone_number, User.email, User.full_name)
        matches = [_contains(column, text) for column in columns]
        # A whole number written as people write it ("+1 (555) 020-0777") is the texter's
        # number, as the admin's search reads it; the stored one has none of its spaces.
        if (number := whole_phone_number(text)) is not None:
            matches.append(User.phone_number == number)
        conditions.append(sa.or_(*matches))
    return conditions


def error_conditions(query: dict[str, Any]) -> list:
    conditions = [
        getattr(ErrorLog, name) == query[name]
        for name in ("error_type", "user_phone")
        if name in query
    ]
    if "resolved" in query:
        conditions.append(ErrorLog.resolved.is_(query["resolved"]))
    if "start_date" in query:
        conditions.append(ErrorLog.timestamp >= query["start_date"])
    if "end_date" in query:
        conditions.append(ErrorLog.timestamp <= query["end_date"])
    return conditions


def ordering(query: dict[str, Any], default: list, tiebreak) -> list:
    """The requested order (or `default`), then the primary key so pages never overlap."""
    return [*(query.get("ordering") or default), tiebreak]


class ConversationQuery(PageQuery):
    state = Text(validate=Choice(ConversationState.values()))


class MessageQuery(PageQuery):
    after = DateOrDateTime(
        metadata={
            "description": "Only messages created after this moment, oldest page first. "
            "A message whose writer stamped it earlier but committed it later is skipped: "
            "poll with `cursor` to miss none.",
        }
    )
    cursor = Cursor(
        metadata={
            "description": "The `cursor` of an earlier answer: the messages committed "
            "since it was handed out, oldest first, `page_size` at a time (no `page`), "
            "each once, whatever time their writers stamped on them. Poll with the "
            "`cursor` of each answer.",
        }
    )

    @validates_schema
    def _one_way_to_poll(self, data: dict[str, Any], **_kwargs) -> None:
        if "cursor" in data and ("after" in data or "page" in data):
            raise ValidationError("Poll with `cursor` alone (not with after or page).", "cursor")


class ExportQuery(Schema):
    format = Text(
        validate=Choice(["json", "csv"]),
        metadata={
            "description": "json or csv (an attachment); without it, the one Accept prefers "
            "(text/csv, or application/json), json when it prefers neither."
        },
    )
