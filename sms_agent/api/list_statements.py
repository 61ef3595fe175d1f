"""A list's statements, built once per distinct query rather than on every request.

SQLAlchemy caches each statement's compiled SQL, but finds it by a key it computes from
the whole statement tree, once per statement object: a users page built its select, its
COUNT and its LIMIT/OFFSET form anew on every request, and computing their keys was a
tenth of the page's instructions. Kept here, the same objects serve every request asking
the same thing (same view, same URL arguments but the page, same caller's scope), their keys
computed once; the page's size and offset are bind parameters, so every page shares them.

Nothing time-dependent is baked in: statements read the clock through bind parameters
that take their value as each execution runs (quota.used_in_sql, costs.report).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import sqlalchemy as sa
from flask import request

from ..models.cache_keys import hashed_once
from .auth import current_principal
from .requests import CACHE_BUSTER

#: The arguments that choose a page of a list rather than the list, or nothing at all (a
#: client's cache-buster, a new value on every request).
PAGING = frozenset({"page", "page_size", "cursor", CACHE_BUSTER})

#: Distinct lists kept (the least recently asked for goes first).
KEPT = 256

#: The bind parameters of a page's size and offset (`page_of`).
PAGE_LIMIT, PAGE_OFFSET = "page_limit", "page_offset"


class Forms:
    """A list's statement and what is built from it (its COUNT, its page), each once."""

    __slots__ = ("statement", "_made")

    def __init__(self, statement: sa.Select) -> None:
        self.statement = statement
        self._made: dict[Hashable, sa.Select] = {}

    def made(self, name: Hashable, build: Callable[[sa.Select], sa.Select]) -> sa.Select:
        if (form := self._made.get(name)) is None:
            form = self._made[name] = hashed_once(build(self.statement))
        return form


_kept: OrderedDict[tuple, Forms] = OrderedDict()
_by_statement: dict[int, Forms] = {}
_lock = threading.Lock()


def kept_statement(build: Callable[[], sa.Select]) -> sa.Select:
    """This request's list statement: the one kept for the same query, else `build()`'s,
    kept from now on. Call it after the query has been validated."""
    key = _list_key()
    with _lock:
        forms = _kept.get(key)
        if forms is not None:
            _kept.move_to_end(key)
            return forms.statement
    statement = build()
    with _lock:
        if key not in _kept:
            forms = _kept[key] = Forms(statement)
            _by_statement[id(statement)] = forms
            while len(_kept) > KEPT:
                _, gone = _kept.popitem(last=False)
                del _by_statement[id(gone.statement)]
        return _kept[key].statement


def forms_of(statement: sa.Select) -> Forms:
    """The kept forms of a kept statement; fresh ones (built for this request) otherwise."""
    return _by_statement.get(id(statement)) or Forms(statement)


def page_of(statement: sa.Select) -> sa.Select:
    """`statement` limited to a page whose size and offset are bound as it runs."""
    return statement.limit(sa.bindparam(PAGE_LIMIT)).offset(sa.bindparam(PAGE_OFFSET))


def _list_key() -> tuple:
    """What a list depends on: the view, its URL's parts and arguments (but the page), and
    who asks (a texter's token sees only their own rows)."""
    principal = current_principal()
    caller = None
    if principal is not None:
        caller = (principal.kind, principal.user_phone, principal.staff_id, principal.is_admin)
    arguments = tuple(item for item in request.args.items(multi=True) if item[0] not in PAGING)
    return request.endpoint, tuple(sorted((request.view_args or {}).items())), caller, arguments
