"""Shape a model's answer into SMS: plain text, GSM-7 when possible, segment budget, split.

The order matters: Markdown becomes plain text and look-alikes become GSM-7 before anything
is counted (gsm.py), so the budget is spent on what the texter will actually read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .gsm import (
    ELLIPSIS,
    GSM_7,
    LOOKALIKES,
    SINGLE_SEGMENT,
    message_length,
    segment_count,
    utf16_units,
)
from .markdown import markdown_to_text

#: Twilio refuses a message body longer than this.
MAX_MESSAGE_CHARS = 1600
#: A sentence boundary is preferred to a word boundary when it keeps this share of the text;
#: a cut-off answer is trimmed to its last sentence unless that drops most of it.
_KEEP_AT_SENTENCE = 0.6
_KEEP_WHEN_TRIMMING = 0.3

_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def to_sms_text(text: str | None) -> str:
    """Plain text a phone shows as written: Markdown stripped, GSM-7 look-alikes swapped in.

    Characters with no GSM-7 equivalent (emoji, CJK, most accents) are kept; the message is
    then sent as UCS-2.
    """
    plain = markdown_to_text((text or "").translate(LOOKALIKES))
    # Again after parsing: entities such as &mdash; only become characters there. Backticks
    # and tabs mean code to Markdown, so they are swapped only now.
    plain = plain.translate(LOOKALIKES).replace("`", "'").replace("\t", "  ")
    plain = _INVISIBLE.sub("", plain)
    plain = "\n".join(line.rstrip() for line in plain.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", plain).strip()


# -- where a text may be cut ------------------------------------------------------------------
_SENTENCE_END = re.compile(
    r"[.!?]+[\"')\]\u201d\u2019]*(?=\s|$)|[\u3002\uff01\uff1f]+[\u300d\u300f\uff09]*|\n"
)
_LIST_MARKER = re.compile(r"\n[ \t]*(?:\d+|[a-zA-Z])[.)]$")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|vs|mr|mrs|ms|dr|approx|cf)\.)$", re.I)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _sentence_cuts(text: str) -> list[int]:
    """Positions after a sentence's end punctuation, or at a line's end."""
    start = len(text) - len(text.lstrip())
    cuts = []
    for match in _SENTENCE_END.finditer(text):
        cut = match.start() if match.group() == "\n" else match.end()
        # Enough of the line to recognise "\n12." (a list item) or "e.g." (not an end).
        tail = ("\n" if cut <= 12 else "") + text[max(cut - 12, 0) : cut]
        if cut > start and not _LIST_MARKER.search(tail) and not _ABBREVIATION.search(tail):
            cuts.append(cut)
    return sorted(set(cuts))


def _word_cuts(text: str) -> list[int]:
    """Positions before a run of spaces, or after a CJK character (those need no spaces)."""
    start = len(text) - len(text.lstrip())
    cuts = {match.start() for match in re.finditer(r"\s+", text)}
    cuts |= {match.end() for match in _CJK.finditer(text)}
    return sorted(cut for cut in cuts if cut > start)


def _with_ellipsis(head: str) -> str:
    return head.rstrip().rstrip(",;:-(/.").rstrip() + ELLIPSIS


def _as_is(head: str) -> str:
    return head.rstrip()


def trim_to_sentence(text: str) -> str:
    """Cut a reply the model stopped mid-way back to its last whole sentence.

    With no sentence end in the latter part of the text, it ends at the last whole word and
    "..." instead, so the texter never sees half a word.
    """
    stripped = (text or "").strip()
    if not stripped or _ends_sentence(stripped):
        return stripped
    sentences = _sentence_cuts(text)
    if sentences and sentences[-1] >= _KEEP_WHEN_TRIMMING * len(stripped):
        return text[: sentences[-1]].strip()
    words = _word_cuts(text)
    if words:
        return _with_ellipsis(text[: words[-1]]).strip()
    return _with_ellipsis(stripped)  # one unbroken word: nothing whole to go back to


def _ends_sentence(text: str) -> bool:
    cuts = _sentence_cuts(text)
    return bool(cuts) and cuts[-1] == len(text)


# -- fitting and splitting --------------------------------------------------------------------
def _segments_when_sent(text: str) -> int:
    return sum(segment_count(part) for part in split_for_sms(text))


def _longest_fitting(
    text: str, cuts: Sequence[int], finish: Callable[[str], str], budget: int
) -> str | None:
    """The longest finish(text[:cut]) that fits in `budget` segments (binary search)."""
    low, high, best = 0, len(cuts) - 1, None
    while low <= high:
        middle = (low + high) // 2
        candidate = finish(text[: cuts[middle]])
        if candidate.strip() and _segments_when_sent(candidate) <= budget:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def fit_to_segments(text: str, max_segments: int) -> str:
    """Shorten `text` to cost at most `max_segments` segments once split and numbered.

    It ends at a sentence when that keeps most of the text, otherwise at a word with "...";
    only a single word longer than the whole budget is cut inside the word.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = (text or "").strip()
    # Every character costs at least one unit, so nothing past this can fit anyway.
    text = text[: max_segments * SINGLE_SEGMENT[GSM_7] + 1]
    if _segments_when_sent(text) <= max_segments:
        return text
    at_word = _longest_fitting(text, _word_cuts(text), _with_ellipsis, max_segments)
    at_sentence = _longest_fitting(text, _sentence_cuts(text), _as_is, max_segments)
    if at_sentence and (not at_word or len(at_sentence) >= _KEEP_AT_SENTENCE * len(at_word)):
        return at_sentence
    if at_word:
        return at_word
    return _longest_fitting(text, range(1, len(text)), _with_ellipsis, max_segments) or ELLIPSIS


def _cut_within(text: str, capacity: int) -> int:
    """Where to end a part holding at most `capacity` units: a sentence, a word, or anywhere."""
    limit, used = 0, 0
    for char in text:
        used += utf16_units(char)
        if used > capacity:
            break
        limit += 1
    window = text[: limit + 1]
    sentences = [cut for cut in _sentence_cuts(window) if cut <= limit]
    if sentences and sentences[-1] >= _KEEP_AT_SENTENCE * limit:
        return sentences[-1]
    words = [cut for cut in _word_cuts(window) if cut <= limit]
    return words[-1] if words else max(limit, 1)


def _chunks(text: str, capacity: int) -> list[str]:
    parts, rest = [], text
    while message_length(rest) > capacity:
        cut = _cut_within(rest, capacity)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts + ([rest] if rest else [])


def _prefix(number: int, total: int) -> str:
    return f"({number}/{total}) "


def split_for_sms(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Messages of at most `max_chars`, split at sentences or words, numbered "(1/3) " if several.

    The prefix counts toward the limit; a single message carries none.
    """
    if max_chars < 20:
        raise ValueError("max_chars must leave room for the (n/N) prefix and some text")
    text = (text or "").strip()
    if not text:
        return []
    if message_length(text) <= max_chars:
        return [text]
    total = 2
    while True:  # more parts may need a wider prefix, which may need more parts
        parts = _chunks(text, max_chars - len(_prefix(total, total)))
        if len(parts) <= total:
            break
        total = len(parts)
    return [_prefix(number, len(parts)) + part for number, part in enumerate(parts, start=1)]


def shape_reply(text: str | None, max_segments: int) -> list[str]:
    """The SMS to send for a model's answer, in order; [] when nothing is left to send.

    An empty list means the answer was empty or only whitespace/markup; the caller decides
    what to tell the texter (an apology), since no reply at all would look like silence.
    """
    clean = to_sms_text(text)
    if not clean:
        return []
    return split_for_sms(fit_to_segments(clean, max_segments))
