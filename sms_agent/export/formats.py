"""Conversations written as CSV or JSON, a piece at a time, for the API, the admin and the
CLI alike: nothing here holds more than the entry it is writing.

CSV: a header row, then each texter's entries and a `total` row (direction "total": SMS in
price_usd, model calls in model_cost_usd, both in cost_usd, the counts in body). JSON: one
object per texter, {"phone_number", "exported_at", "entries": [...], "totals": {...}}; the
API answers one, the CLI writes one per line (JSON Lines).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..costs.prices import money
from ..models import utcnow
from .rows import COLUMNS, Conversation, Totals

#: Bytes (about) handed to the web server or the file per write.
CHUNK = 64 * 1024
#: What a spreadsheet runs a cell starting with as a formula (OWASP's "CSV injection"): a
#: text cell starting with one gets a leading apostrophe, which the spreadsheet shows as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The apostrophe, which a text cell starting with one gets too, so that the rule can be
#: undone: a program reading the CSV removes one leading "'" from a cell that has one and
#: has the value exactly ("''x" was "'x", "'=x" was "=x"); no number or date starts with one.
DEFUSED = "'"


def _plain(value: Any) -> Any:
    """A value as JSON has it: amounts as six-decimal strings, as the API serves them."""
    if isinstance(value, Decimal):
        return str(money(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not exportable")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # Every text cell, phone numbers ("+1..." is a formula) and names of models included.
        return DEFUSED + value if value.startswith((*FORMULA_START, DEFUSED)) else value
    return _plain(value)


class _Line:
    """csv.writer for one line at a time, returned as text."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def __call__(self, cells: Iterable[str]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(cells)
        return self.buffer.getvalue()


def _summary(totals: Totals) -> str:
    return (
        f"texts {totals.texts} (refused {totals.refused}), sent {totals.sent}, model calls "
        f"{totals.model_calls}; of the SMS, {money(totals.sms_estimated_usd)} USD estimated"
    )


def csv_text(conversations: Iterable[Conversation]) -> Iterator[str]:
    """The CSV, line by line, header first."""
    line = _Line()
    yield line(COLUMNS)
    for conversation in conversations:
        for entry in conversation:
            yield line(_cell(entry[name]) for name in COLUMNS)
        totals = conversation.totals
        total = {
            "phone_number": conversation.phone_number,
            "direction": "total",
            "body": _summary(totals),
            "price_usd": totals.sms_usd,
            "model_cost_usd": totals.model_usd,
            "cost_usd": totals.total_usd,
        }
        yield line(_cell(total.get(name)) for name in COLUMNS)


def json_text(conversation: Conversation, exported_at: datetime | None = None) -> Iterator[str]:
    """One texter's JSON object, entry by entry."""
    head = {"phone_number": conversation.phone_number, "exported_at": exported_at or utcnow()}
    yield json.dumps(head, default=_plain, ensure_ascii=False)[:-1] + ', "entries": ['
    for index, entry in enumerate(conversation):
        yield ("" if index == 0 else ", ") + json.dumps(entry, default=_plain, ensure_ascii=False)
    totals = json.dumps(conversation.totals.as_dict(), default=_plain)
    yield f'], "totals": {totals}}}'


def json_lines(conversations: Iterable[Conversation]) -> Iterator[str]:
    """JSON Lines: each texter's object on a line of its own."""
    exported_at = utcnow()
    for conversation in conversations:
        yield from json_text(conversation, exported_at)
        yield "\n"


def chunked(pieces: Iterable[str], size: int = CHUNK) -> Iterator[str]:
    """The pieces joined into writes of about `size` characters."""
    pending: list[str] = []
    length = 0
    for piece in pieces:
        pending.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(pending)
            pending, length = [], 0
    if pending:
        yield "".join(pending)
