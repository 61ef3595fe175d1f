"""Statements run on every webhook or job whose cache key is hashed once, not at every
execution.

SQLAlchemy keeps a statement's cache key with the statement (it is worked out once), but
looks its compiled form up by that key at every execution, and a key is nested tuples,
whose hash Python works out again each time: 607 items for the task's INSERT, 443 for the
admission's UPDATE, 14 µs a webhook. The key kept here is the same tuple, but remembers
its hash; SQLAlchemy finds the same compiled statement with it.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.cache_key import CacheKey

Statement = TypeVar("Statement", bound=Executable)


class _HashedOnce(tuple):
    """A tuple (a cache key) that works out its hash once."""

    _hash: int

    def __hash__(self) -> int:
        return self._hash


def hashed_once(statement: Statement) -> Statement:
    """`statement`, whose cache key is hashed once: for a statement built once and run
    unchanged. A statement made from it (`.where()`, `.values()`...) makes its own key."""
    key = statement._generate_cache_key()
    if key is None:  # a statement SQLAlchemy does not cache
        return statement
    kept = _HashedOnce(key.key)
    kept._hash = hash(key.key)
    memo = CacheKey(kept, key.bindparams)
    # Where SQLAlchemy's memoization keeps the key it worked out (HasMemoized); a statement
    # derived from this one starts without it, as `_memoized_keys` names it.
    statement.__dict__["_generate_cache_key"] = lambda: memo
    return statement
