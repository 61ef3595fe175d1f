"""An answer a model wrote as a JSON object holding its words, read as those words.

A model in JSON mode (a compatible server's default, or a small model tuned to answer so)
writes {"answer": "..."} or {"response": "...", "confidence": 0.9}, which reached the
texter braces, quotes and key. Only a whole answer that is one object with one string
under a key that names the answer counts, and not when the texter asked for JSON.
"""

from __future__ import annotations

import json
import re

_KEYS = frozenset(
    {"answer", "final_answer", "response", "reply", "text", "content", "message", "output"}
)
_OBJECT = re.compile(r"\A\s*(?:```[ \t]*json[ \t]*\n)?\s*(\{.*\})\s*(?:\n[ \t]*```)?\s*\Z", re.S)
_ABOUT_JSON = re.compile(r"\bjson\b", re.IGNORECASE)


def json_words(text: str, question: str) -> str | None:
    """The words `text` holds when it is such an object; None when it is anything else."""
    found = _OBJECT.match(text)
    if not found or _ABOUT_JSON.search(question or ""):
        return None
    try:
        value = json.loads(found[1])
    except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
        return None
    if not isinstance(value, dict):
        return None
    words = [said for key, said in value.items() if key.lower() in _KEYS]
    return words[0] if len(words) == 1 and isinstance(words[0], str) else None
