"""Splitting a shaped reply into messages Twilio accepts (1600 characters), numbered "(1/3) "."""

from __future__ import annotations

from . import cuts
from .gsm import message_length, within_units

#: Twilio refuses a message body longer than this.
MAX_MESSAGE_CHARS = 1600
#: A sentence boundary is preferred to a word boundary when it keeps this share of a part.
_KEEP_AT_SENTENCE = 0.6


def _cut_within(text: str, capacity: int) -> int:
    """Where to end a part holding at most `capacity` units: a sentence, a word, or anywhere."""
    limit = within_units(text, capacity)
    window = text[: limit + 1]
    sentences = [cut for cut in cuts.sentence_cuts(window) if cut <= limit]
    if sentences and sentences[-1] >= _KEEP_AT_SENTENCE * limit:
        return sentences[-1]
    words = [cut for cut in cuts.word_cuts(window) if cut <= limit]
    return words[-1] if words else max(cuts.last_character_cut(text, limit), 1)


def _chunks(text: str, capacity: int) -> list[str]:
    parts, rest = [], text
    while message_length(rest) > capacity:
        cut = _cut_within(rest, capacity)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts + ([rest] if rest else [])


def prefix(number: int, total: int) -> str:
    return f"({number}/{total}) "


def split_for_sms(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Messages of at most `max_chars`, split at sentences or words, numbered "(1/3) " if several.

    The prefix counts toward the limit; a single message carries none.
    """
    if max_chars < 20:
        raise ValueError("max_chars must leave room for the (n/N) prefix and some text")
    text = cuts.without_blank_ends(text)
    if not text.strip():
        return []
    if message_length(text) <= max_chars:
        return [text]
    total = 2
    while True:  # more parts may need a wider prefix, which may need more parts
        parts = _chunks(text, max_chars - len(prefix(total, total)))
        if len(parts) <= total:
            break
        total = len(parts)
    return [prefix(number, len(parts)) + part for number, part in enumerate(parts, start=1)]
