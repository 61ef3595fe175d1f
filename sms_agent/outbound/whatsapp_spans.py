"""WhatsApp's inline formatting a cut goes through: *bold*, _italic_, ~strike~ and `mono`.

A span cut across two messages leaves one mark in each, which WhatsApp shows as written
(a literal "*" in both), and neither part formatted. Closed at the end of the first part
and opened again at the start of the next, each part shows its half of the span formatted.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

MARKS = "*_~`"
#: Room to close every kind of span at once (a bold italic strike-through mono cut).
RESERVE = len(MARKS)


def cut_through(text: str, cut: int) -> str:
    """The marks of the spans a cut of `text` at `cut` goes through, in the order they
    open (close them in reverse). A span lies on one line, as WhatsApp reads it."""
    start = text.rfind("\n", 0, cut) + 1
    end = text.find("\n", cut)
    line = text[start : end if end >= 0 else len(text)]
    opened = [(at, mark) for mark in MARKS if (at := _opened(line, cut - start, mark)) is not None]
    return "".join(mark for _at, mark in sorted(opened))


def _opened(line: str, cut: int, mark: str) -> int | None:
    """Where the `mark` span that a cut at `cut` of `line` goes through opens, or None."""
    for opener, closer in spans(line, mark):
        if opener >= cut:
            return None
        if closer >= cut:
            return opener
    return None


def spans(line: str, mark: str) -> Iterator[tuple[int, int]]:
    """Where each `mark` span of `line` opens and closes, as WhatsApp reads them. An opener
    follows a space or punctuation and comes before a letter; a closer the other way round;
    each opener is closed by the first closer after its first letter, as a lazy pattern
    reads it, but walked once left to right (a line of lone marks a model wrote in a loop
    stays fast)."""
    m = re.escape(mark)
    openers = [hit.start() for hit in re.finditer(rf"(?<![\w{m}]){m}(?![\s{m}])", line)]
    closers = [hit.start() for hit in re.finditer(rf"(?<![\s{m}]){m}(?![\w{m}])", line)]
    index = 0
    while index < len(openers):
        opener = openers[index]
        after = bisect_left(closers, opener + 2)
        if after == len(closers):
            return  # nothing closes it: WhatsApp shows it as written
        yield opener, closers[after]
        index = bisect_left(openers, closers[after] + 1)
