"""Where a text may be cut: after a sentence or before a word; trimming a cut-off answer."""

from __future__ import annotations

import re

from .gsm import ELLIPSIS
from .latex import before_open_math
from .markdown import without_open_markup

#: A cut-off answer is trimmed to its last sentence unless that drops most of it.
_KEEP_WHEN_TRIMMING = 0.3

_SENTENCE_END = re.compile(
    r"[.!?]+[\"')\]\u201d\u2019]*(?=\s|$)|[\u3002\uff01\uff1f\u061f\u0964]+[\u300d\u300f\uff09]*|\n"
)
_LIST_MARKER = re.compile(r"\n[ \t]*(?:\d+|[a-zA-Z])[.)]$")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|vs|mr|mrs|ms|dr|approx|cf)\.)$", re.I)
#: Scripts written without spaces between words: any character may end a line.
_NO_SPACES = re.compile(
    r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


def sentence_cuts(text: str) -> list[int]:
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


def word_cuts(text: str) -> list[int]:
    """Positions before a run of spaces, or after a CJK or Thai character (no spaces there)."""
    start = len(text) - len(text.lstrip())
    cuts = {match.start() for match in re.finditer(r"\s+", text)}
    cuts |= {match.end() for match in _NO_SPACES.finditer(text)}
    return sorted(cut for cut in cuts if cut > start)


def with_ellipsis(head: str) -> str:
    return head.rstrip().rstrip(",;:-(/.").rstrip() + ELLIPSIS


def as_is(head: str) -> str:
    return head.rstrip()


def ends_sentence(text: str) -> bool:
    cuts = sentence_cuts(text)
    return bool(cuts) and cuts[-1] == len(text)


def trim_to_sentence(text: str) -> str:
    """Cut a reply the model stopped mid-way back to its last whole sentence.

    With no sentence end in the latter part of the text, it ends at the last whole word and
    "..." instead, so the texter never sees half a word; and never inside a formula whose
    closing delimiter never came (it would be sent as raw LaTeX), nor inside a link, an
    inline note or bold.
    """
    text = without_open_markup(before_open_math(text or ""))
    stripped = text.strip()
    if not stripped or ends_sentence(stripped):
        return stripped
    sentences = sentence_cuts(text)
    if sentences and sentences[-1] >= _KEEP_WHEN_TRIMMING * len(stripped):
        return text[: sentences[-1]].strip()
    words = word_cuts(text)
    if words:
        return with_ellipsis(text[: words[-1]]).strip()
    return with_ellipsis(stripped)  # one unbroken word: nothing whole to go back to
