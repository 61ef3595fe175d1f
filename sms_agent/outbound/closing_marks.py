"""Patterns for marks that enclose words (**bold**, ~~strike~~), read in linear time.

Such a pattern reads lazily from an opening mark to the first closing mark that fits, and
where none does, on to the end of the line; from each of thousands of opening marks that
nothing closes ("**a **a **a ...", a model in a repetition loop) that took a worker
seconds. No mark after a line's last closing mark can be closed, so each line is read only
up to there.
"""

from __future__ import annotations

import re
from collections.abc import Callable


class ClosedMarks:
    """`pattern` (its words between an opening and a closing mark, on one line) with
    re.Pattern's sub; `closer` matches a closing mark as the pattern accepts one."""

    def __init__(self, pattern: str, closer: str) -> None:
        self.pattern = re.compile(pattern)
        # Closing marks may overlap ("~~~"): each position is looked at.
        self.closer = re.compile(f"(?=({closer}))")

    def sub(self, replacement: str | Callable[[re.Match], str], text: str) -> str:
        return "\n".join(self._line(replacement, line) for line in text.split("\n"))

    def _line(self, replacement, line: str) -> str:
        end = max((mark.start() + len(mark[1]) for mark in self.closer.finditer(line)), default=0)
        return self.pattern.sub(replacement, line[:end]) + line[end:]
