"""Page-number pagination with DRF's body: {count, next, previous, results}; lists that
name their order also hand out a `next_cursor`, to read on after the last row given
(api/keyset.py) however rows were added or deleted meanwhile."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, request

from ..extensions import db
from . import keyset
from .errors import ApiError
from .list_statements import PAGE_LIMIT, PAGE_OFFSET, forms_of, page_of


def page_size(query: dict[str, Any]) -> int:
    """The query's page_size (at most API_MAX_PAGE_SIZE: filters.PageQuery), else the default."""
    return query.get("page_size") or current_app.config["API_PAGE_SIZE"]


def _page_url(page: int | None) -> str | None:
    """This request's absolute URL with another page number, other parameters kept."""
    if page is None:
        return None
    return url_with("page", str(page) if page > 1 else None)


def url_with(name: str, value: str | None) -> str:
    """This request's absolute URL with parameter `name` set to `value` (or left out)."""
    args = [(key, kept) for key, kept in request.args.items(multi=True) if key != name]
    if value is not None:
        args.append((name, value))
    return request.base_url + ("?" + urlencode(args) if args else "")


def paginate(
    statement: sa.Select,
    query: dict[str, Any],
    dump: Callable[[Sequence[Any]], list[dict]],
    count: int | None = None,
    *,
    rows: bool = False,
    order: list | None = None,
    shown: Callable[[sa.Select], sa.Select] | None = None,
) -> dict[str, Any]:
    """One COUNT and one page of rows; `dump` turns the rows into JSON (in bulk, so it can
    fetch anything per-row in a fixed number of queries). A caller that knows the count
    exactly some cheaper way (the task rollups) passes it instead. With `rows`, the statement
    selects columns (no objects) and `dump` gets its whole result rows, read as SQLAlchemy
    Core reads them (`_read`), rather than their first column. A caller passing the list's `order`
    (its ORDER BY terms, the primary key last) gets `next_cursor` too, and the page after
    a query's `cursor` instead of a page number. `shown` turns the statement into what a
    page reads of each row, when that is more than counting needs (a correlated subquery
    per row): the COUNT stays the plain statement's, smaller to build and to run."""
    size = page_size(query)
    number = query.get("page", 1)
    forms = forms_of(statement)
    if count is None:
        count = _read(forms.made("count", _count_of)).scalar_one()
    if order is not None and "cursor" in query:
        statement = statement if shown is None else forms.made(shown, shown)
        return _page_after(statement, query["cursor"], order, size, count, dump, rows)
    pages = max(1, math.ceil(count / size))
    if number > pages:
        raise ApiError(404, "Invalid page.", {"page": number, "pages": pages})
    page = forms.made(
        ("page", shown), lambda plain: page_of(plain if shown is None else shown(plain))
    )
    bounds = {PAGE_LIMIT: size, PAGE_OFFSET: (number - 1) * size}
    found = _read(page, bounds).all() if rows else db.session.scalars(page, bounds).all()
    listed = {
        "count": count,
        "next": _page_url(number + 1 if number < pages else None),
        "previous": _page_url(number - 1 if number > 1 else None),
        "results": dump(found),
    }
    if order is not None:
        more = number < pages and bool(found)
        listed["next_cursor"] = keyset.encode(order, found[-1]) if more else None
    return listed


def _read(statement: sa.Select, parameters: dict | None = None) -> sa.CursorResult:
    """Rows of columns, read on the session's connection (its transaction) without the
    ORM's result loading, which for plain columns only adds work: a sixth of a users page."""
    return db.session.connection().execute(statement, parameters)


def _count_of(statement: sa.Select) -> sa.Select:
    return sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())


def _page_after(statement, cursor, order, size, count, dump, rows) -> dict[str, Any]:
    """The `size` rows after the cursor's, and the cursor after them while more follow."""
    after = statement.where(keyset.after(order, cursor)).limit(size + 1)
    found = _read(after).all() if rows else db.session.scalars(after).all()
    more, found = len(found) > size, found[:size]
    following = keyset.encode(order, found[-1]) if more else None
    return {
        "count": count,
        "next": None if following is None else url_with("cursor", following),
        "previous": None,
        "results": dump(found),
        "next_cursor": following,
    }
