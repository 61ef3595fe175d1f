"""Texters' conversations with their costs, exported: `rows.py` is the rule (which rows, in
what order, what they add up to; streamed from the database), `formats.py` writes them as
CSV or JSON, `download.py` answers the API's and the admin's requests with them."""

from .formats import chunked, csv_text, json_lines, json_text
from .rows import BATCH, COLUMNS, Conversation, Totals, conversations, entries

__all__ = [
    "BATCH",
    "COLUMNS",
    "Conversation",
    "Totals",
    "chunked",
    "conversations",
    "csv_text",
    "entries",
    "json_lines",
    "json_text",
]
