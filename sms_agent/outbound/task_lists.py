"""GitHub's task lists ("- [ ] Passport", "- [x] Tickets") as a phone shows a list: the
item's words, with "(done)" after a ticked one's first line, in the reply's language. A
phone ticks no box, and each bracket costs two GSM-7 characters."""

from __future__ import annotations

import re

#: A box at the start of an item's words, with words after it ("[1] is..." is no box).
_BOX = re.compile(r"\A\[([ xX])\][ \t]+(?=\S)")
#: Where "(done)" goes, a private-use stand-in until the reply's language is known
#: (said_done), which only a text with a ticked item is read for (its callers look first).
DONE = "\ue0d0"
_DONE_WORDS = {"fr": " (fait)", "es": " (hecho)"}
#: An item of a task list as Markdown writes it, for shaping that keeps the Markdown
#: (WhatsApp): its marker, then its words from the box on.
ITEM = re.compile(r"^([ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+)(\[[ xX]\][ \t]+\S.*)$", re.M)


def item_words(words: str) -> str:
    """A list item's `words` without the box they open with, ticked ones said done."""
    box = _BOX.match(words)
    if box is None:
        return words
    first, newline, rest = words[box.end() :].partition("\n")
    return first + (DONE if box[1] != " " else "") + newline + rest


def item_line(item: re.Match) -> str:
    """For ITEM.sub: the item with its marker and its words."""
    return item[1] + item_words(item[2])


def said_done(text: str, language: str | None) -> str:
    """`text` with "(done)" where its ticked items have DONE, in `language` ("fr", "es";
    English for any other)."""
    return text.replace(DONE, _DONE_WORDS.get(language, " (done)"))
