"""Reading JSON someone wrote (an API request's body, an admin form's JSON field) as it was
written, or saying where it cannot be: one rule for both, so a value the API refuses is not
saved by the admin with another meaning.

Python's parser keeps the last of a key given twice in one object, silently dropping the
other, and reads numbers no float holds as other numbers (1E-400 as 0, 1e999 as Infinity:
numbers.py); both are places to name, never values to store.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from . import numbers

TWICE = "A key is given twice in one JSON object: give it once."

#: How deeply a JSON object someone gives the service (preferences, metadata) may nest, in
#: the API and the admin alike: what one takes, the other takes back.
MAX_DEPTH = 10
TOO_DEEP = "JSON is nested too deeply."

#: Where a problem is, as the keys and list positions (as text) leading to it, and what it is.
Unclear = list[tuple[tuple[str, ...], str]]


def loads(raw: str | bytes) -> tuple[Any, Unclear]:
    """The document in `raw`, and every place in it that does not hold what was written (a
    key given twice in an object is one place, whatever its values hold). Raises as
    json.loads does for text that is not JSON (ValueError, UnicodeDecodeError,
    RecursionError)."""
    duplicated: dict[int, list[str]] = {}
    value = numbers.loads(raw, object_pairs_hook=_noting_repeats(duplicated))
    return value, _unclear(value, duplicated)


def too_deep(value: Any) -> bool:
    """Whether something in `value` lies more than MAX_DEPTH objects or lists below it;
    walked without recursion."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
    return False


def said(path: tuple[str, ...], why: str) -> str:
    """A problem as a person reads it: `At tries.1.at: Too close to 0 ...`."""
    return f"At {'.'.join(path)}: {why}" if path else why


def _noting_repeats(duplicated: dict[int, list[str]]):
    """A parser hook that builds each object as usual, noting (by the object's id) the keys
    it was given more than once."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) < len(pairs):
            counts = Counter(key for key, _ in pairs)
            duplicated[id(built)] = [key for key, count in counts.items() if count > 1]
        return built

    return build


def _unclear(value: Any, duplicated: dict[int, list[str]]) -> Unclear:
    """Each key given twice, before anything inside its object, and each number a float
    does not hold as written; walked without recursion, so any nesting the parser accepted
    is walked safely."""
    found: Unclear = []
    pending: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            found.extend((path + (key,), TWICE) for key in duplicated.get(id(item), ()))
            pending.extend((path + (key,), inner) for key, inner in item.items())
        elif isinstance(item, list):
            pending.extend((path + (str(index),), inner) for index, inner in enumerate(item))
        elif why := numbers.problem(item):
            found.append((path, why))
    return found
