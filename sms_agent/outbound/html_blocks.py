"""Block HTML in a model's answer as a phone shows it: paragraphs, lists and tables as lines.

A model asked for a list or a table now and then writes it in HTML (<ul><li>, <table>, <p>),
which reached the texter tag by tag. Its blocks are written as markdown_to_text writes
Markdown's: a blank line between paragraphs, "- " or "1. " items, a "header: value" line
per table row. As with formatting tags (html_tags.py), only a tag the answer closes counts:
"wrap it in a <div>" names a tag, it does not open one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from itertools import zip_longest

_BLOCK_TAG = re.compile(
    r"<(/?)(p|div|h[1-6]|ul|ol|li|table|thead|tbody|tfoot|tr|th|td|caption|blockquote"
    r"|section|article|header|footer|main|nav|aside|dl|dt|dd|pre|details|summary|center|dialog"
    r"|figure|figcaption|address|menu)\b[^<>]*>",
    re.IGNORECASE,
)
_CELLS = frozenset({"th", "td"})
#: The deepest a list item is indented: a phone's line holds no more, and thousands of lists
#: opened and never closed would indent each item past the one before it.
_DEEPEST = 8


def row_text(header: Sequence[str], row: Sequence[str]) -> str:
    """A table's row as one line: "header: value" for each of its values."""
    pairs = zip_longest(header, row, fillvalue="")
    return ", ".join(f"{name}: {value}" if name else value for name, value in pairs if value)


class _Blocks:
    """The text of block HTML, built tag by tag."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.lists: list[int | None] = []  # the next item's number; None in a bullet list
        self.rows: list[tuple[list[str], bool]] | None = None  # a table's (cells, all th)
        self.cells: list[str] | None = None
        self.heads: list[bool] = []
        self.cell: list[str] | None = None
        self.depth = 0  # how many blocks deep the text is
        self.code = 0  # how many <pre> deep: its lines stay lines

    def text(self, words: str) -> None:
        if self.depth:
            words = html.unescape(words)
        if self.depth and not self.code:  # a line break is a space, as a browser reads it
            words = " ".join(words.split("\n"))
        if self.cell is not None:
            self.cell.append(words)
            return
        if self.depth and (not self.out or self.out[-1].endswith(("\n", " "))):
            words = words.lstrip(" \t\n")
        if words:
            self.out.append(words)

    def tag(self, closing: bool, name: str) -> None:
        self.depth = max(self.depth + (-1 if closing else 1), 0)
        if name == "pre":
            self.code = max(self.code + (-1 if closing else 1), 0)
        if self.out and self.cell is None:  # a block's words end at its tags
            self.out[-1] = self.out[-1].rstrip(" \t")
        if name in _CELLS:
            self._cell(closing, name)
        elif name == "tr":
            self._row(closing)
        elif name == "table":
            self._table(closing)
        elif name in ("ul", "ol"):
            if closing and self.lists:
                self.lists.pop()
            elif not closing:
                self.lists.append(1 if name == "ol" else None)
            self.line()
        elif name == "li" and not closing:
            number = self.lists[-1] if self.lists else None
            if number is not None:
                self.lists[-1] = number + 1
            marker = "- " if number is None else f"{number}. "
            self.line()
            self.out.append("  " * min(max(len(self.lists) - 1, 0), _DEEPEST) + marker)
        elif self.cell is not None:
            self.cell.append(" ")
        elif name != "li":
            self.line()
            self.out.append("\n")

    def line(self) -> None:
        """A new line, unless the text is at one's start."""
        if not self.out or "".join(self.out[-2:]).strip(" \t")[-1:] not in ("", "\n"):
            self.out.append("\n")

    def _cell(self, closing: bool, name: str) -> None:
        if not closing:
            self.cell = []
        elif self.cell is not None and self.cells is not None:
            self.cells.append(" ".join("".join(self.cell).split()))
            self.heads.append(name == "th")
            self.cell = None

    def _row(self, closing: bool) -> None:
        if not closing:
            self.cells, self.heads = [], []
        elif self.cells is not None:
            if self.rows is None:  # a row outside any table: its cells on a line
                self.out.append("\n" + row_text((), self.cells) + "\n")
            else:
                self.rows.append((self.cells, all(self.heads)))
            self.cells = None

    def _table(self, closing: bool) -> None:
        if not closing:
            self.rows = []
            return
        rows, self.rows = self.rows or [], None
        header = rows.pop(0)[0] if rows and rows[0][1] else []
        lines = [row_text(header, cells) for cells, _ in rows] or [", ".join(header)]
        self.out.append("\n\n" + "\n".join(lines) + "\n\n")


def blocks_to_text(text: str, closed: set[str]) -> str:
    """`text` with the block tags it closes (`closed`, their names in lower case) written
    as lines; the rest, and any text without such a tag, as it was."""
    tags = [tag for tag in _BLOCK_TAG.finditer(text) if tag[2].lower() in closed]
    if not tags:
        return text
    blocks, start = _Blocks(), 0
    for tag in tags:
        blocks.text(text[start : tag.start()])
        blocks.tag(bool(tag[1]), tag[2].lower())
        start = tag.end()
    blocks.text(text[start:])
    return re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", "".join(blocks.out))
