"""Where a text may be cut: after a sentence or before a word; trimming a cut-off answer."""

from __future__ import annotations

import re
import unicodedata

from .gsm import ELLIPSIS
from .html_tags import before_open_hidden
from .latex import before_open_math

#: A link or image the text ends inside: its words, then perhaps "](" and part of its address.
_OPEN_LINK = re.compile(r"!?\[([^\[\]\n]*)(?:\]\([^()\s]*)?\Z")
#: An inline note (footnotes.py) the text ends inside: half a note, dropped.
_OPEN_NOTE = re.compile(r"\^\[[^\[\]\n]*\Z")
#: Code, where marks are code too ("**kwargs"), or a mark of strong emphasis.
_CODE_OR_STRONG = re.compile(r"(`+).*?\1|\*\*|__", re.DOTALL)


def without_open_markup(text: str) -> str:
    """`text` (an answer cut off at the token limit) without the markup it ends inside: a
    link reduced to its words (no "[", no half address), half an inline note dropped, and
    bold whose closing marks never came unmarked, all of which Markdown would leave as
    written for the texter ("**very important.")."""
    if text.count("`") % 2:  # it ends in code, where "[" is code too ("x = [1, 2")
        return text
    note = _OPEN_NOTE.search(text)
    if note:
        return text[: note.start()]
    link = _OPEN_LINK.search(text)
    return _without_open_strong(text[: link.start()] + link[1] if link else text)


def _without_open_strong(text: str) -> str:
    """`text` without its last "**" (or "__") when it opens bold, after a space and before
    a word, and no mark after it closes it. Marks inside a word or an expression ("2**3",
    "f(**kw)", "__init__") are no bold and are not counted."""
    for mark in ("**", "__"):
        marks = [
            found
            for found in _CODE_OR_STRONG.finditer(text)
            if found[0] == mark and not _inside_words(text, found.start(), found.end())
        ]
        last = marks[-1] if len(marks) % 2 else None
        if last and not text[: last.start()][-1:].strip() and text[last.end() :][:1].strip():
            text = text[: last.start()] + text[last.end() :]
    return text


def _inside_words(text: str, start: int, end: int) -> bool:
    return text[start - 1 : start].isalnum() and text[end : end + 1].isalnum()


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
    """Positions after a sentence's end punctuation, or at a line's end (not a heading's)."""
    start = len(text) - len(text.lstrip())
    cuts = []
    heading = False  # the last line ended was a heading (_heads_what_follows)
    for match in _SENTENCE_END.finditer(text):
        line_end = match.group() == "\n"
        cut = match.start() if line_end else match.end()
        if line_end and text[cut - 1 : cut] != "\n":  # a blank line's end goes with the last
            heading = _heads_what_follows(text, cut, start)
        # Enough of the line to recognise "\n12." (a list item) or "e.g." (not an end).
        tail = ("\n" if cut <= 12 else "") + text[max(cut - 12, 0) : cut]
        if cut > start and not _LIST_MARKER.search(tail) and not _ABBREVIATION.search(tail):
            if not (line_end and heading):
                cuts.append(cut)
    return sorted(set(cuts))


#: How a line that ends a sentence ends (the CJK marks too), closing quotes and brackets aside.
_ENDS_SENTENCE = re.compile(
    r"[.!?\u2026\u3002\uff01\uff1f\u061f\u0964][\"')\]\u201d\u2019\u300d]*[ \t]*\Z"
)


def _heads_what_follows(text: str, cut: int, start: int) -> bool:
    """The line ending at `cut` stands alone between blank lines and ends no sentence: a
    section's heading ("3. TLD servers") or the words that open a list ("Here's how:").
    Cut after it (or after the blank lines below it), a part ends on a title whose words
    all come later."""
    begins = text.rfind("\n", 0, cut) + 1
    alone = begins <= start or text.endswith("\n\n", 0, begins)
    follows = text.startswith("\n\n", cut)
    return alone and follows and not _ENDS_SENTENCE.search(text, begins, cut)


def word_cuts(text: str) -> list[int]:
    """Positions before a run of spaces, or after a CJK or Thai letter (no spaces there) with
    its vowel marks."""
    start = len(text) - len(text.lstrip())
    cuts = {match.start() for match in re.finditer(r"\s+", text)}
    cuts |= {
        end
        for end in (match.end() for match in _NO_SPACES.finditer(text))
        if not _joined(text[end - 1], text[end : end + 1])
    }
    return sorted(cut for cut in cuts if cut > start)


#: What belongs to the character before it though it is no mark: joiners, variation
#: selectors, skin tones, tags (a subdivision's flag), a Hangul syllable's vowel and final.
_CONTINUES = re.compile(
    "[\u200c\u200d\ufe00-\ufe0f\u1160-\u11ff\ud7b0-\ud7ff"
    "\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)
#: A flag is two of these letters, so a cut between the two of a pair makes other flags.
_FLAG_LETTER = re.compile("[\U0001f1e6-\U0001f1ff]")
_VIRAMA = 9  # its combining class: the letters around it are one conjunct


def _joined(before: str, after: str) -> bool:
    """Whether `after` is part of the character `before` begins or continues."""
    if not after:
        return False
    mark = unicodedata.category(after)[0] == "M" or _CONTINUES.match(after)
    return bool(mark) or before == "\u200d" or unicodedata.combining(before) == _VIRAMA


def character_cuts(text: str) -> list[int]:
    """Positions between characters as a phone shows them: never before a vowel mark, an
    accent, a joiner or a skin tone, after a joiner or a virama, nor inside a flag."""
    cuts, letters = [], 0
    for at in range(1, len(text)):
        before, after = text[at - 1], text[at]
        letters = letters + 1 if _FLAG_LETTER.match(before) else 0
        if not _joined(before, after) and not (letters % 2 and _FLAG_LETTER.match(after)):
            cuts.append(at)
    return cuts


def last_character_cut(text: str, limit: int) -> int:
    """The last position at most `limit` between whole characters; `limit` when there is
    none (one character with more marks than the room: cut anyway)."""
    fitting = [cut for cut in character_cuts(text[: limit + 1]) if cut <= limit]
    return fitting[-1] if fitting else limit


def without_blank_ends(text: str | None) -> str:
    """`text` without blank lines before it or spaces after it; the indentation of its
    first line stays (a rest that starts inside code, see rest_after)."""
    return (text or "").rstrip().lstrip("\n")


def rest_after(text: str, cut: int) -> str:
    """What follows a cut: from the next word, or, cut at a line's end, the next line as it
    is indented, which in code is its structure: a part that starts inside a block
    ("        print(x)") would otherwise read as outside it."""
    rest = text[cut:].rstrip()
    lead = rest[: len(rest) - len(rest.lstrip())]
    return rest[lead.rindex("\n") + 1 :] if "\n" in lead else rest.lstrip()


def with_ellipsis(head: str) -> str:
    return head.rstrip().rstrip(",;:-(/.").rstrip() + ELLIPSIS


def as_is(head: str) -> str:
    return head.rstrip()


def ends_sentence(text: str) -> bool:
    cuts = sentence_cuts(text)
    return bool(cuts) and cuts[-1] == len(text)


#: A "." the limit came after that may be a number's or an address's going on, not a
#: sentence's end: "rose by 3." of 3.5, "docs.python." of docs.python.org, "help@example.".
_UNFINISHED_END = re.compile(r"(?:\d|\S[.@]\S+|://\S*)\.\Z")
#: ...but a year takes no decimals ("hosted the Games in 1924."), nor a price its cents
#: again ("costs $4.99."), nor a time or a date ("opens at 10:30.", "on 2024-05-01."), nor
#: goes an address on after an initialism ("in the U.S.", "at 9 a.m.", "Washington, D.C.",
#: "her Ph.D."), nor a sentence that plainly states its answer ("The answer is 42.", "the
#: total = 1,250.", "Total: 7.", "La réponse est 42.", "La respuesta es 42."): a sentence
#: ends there as it would anywhere.
_WHOLE_END = re.compile(
    r"(?:(?<![\d.,$\u20ac\u00a3])(?:1\d|20)\d\d|[$\u20ac\u00a3][\d,]*\d\.\d\d"
    r"|(?<![\d:])\d{1,2}:\d\d|\b\d{4}-\d\d-\d\d"
    r"|(?<![\w.@/])(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}"
    r"|(?i:\b(?:answer|result|total|sum|solution|r[ée]ponse|r[ée]sultat|somme|respuesta"
    r"|resultado|suma|soluci[óo]n)(?:\s+(?:is|was|equals|est|était|es|era|fue)\s+|\s*[=:]\s*)"
    r"-?[\d,]*\d))\.\Z"
)


#: ...a number's, not an address's: "rose by 3." or "is 6,190.", not "v3.11." nor "example.".
_NUMBER_END = re.compile(r"(?<![^\s(\[$\u20ac\u00a3])[\d,]*\d\.\Z")


def _may_go_on(text: str) -> bool:
    """Whether the "." that ends `text` (stripped) may be a number's or an address's going
    on. A number's is taken as the end when the sentences before it are too little to send
    alone (see _KEEP_WHEN_TRIMMING): "The answer is 42." is likelier whole than "The answer
    is..." is of use."""
    if not _UNFINISHED_END.search(text) or _WHOLE_END.search(text):
        return False
    before = [cut for cut in sentence_cuts(text) if cut < len(text)]
    kept = before[-1] if before else 0
    return not _NUMBER_END.search(text) or kept >= _KEEP_WHEN_TRIMMING * len(text)


def trim_to_sentence(text: str) -> str:
    """Cut a reply the model stopped mid-way back to its last whole sentence.

    With no sentence end in the latter part of the text, it ends at the last whole word and
    "..." instead, so the texter never sees half a word; and never inside a formula whose
    closing delimiter never came (it would be sent as raw LaTeX), nor inside a script or
    style (its code), a link, an inline note or bold. A model that looped to its limit is
    sent each loop once.
    """
    text = without_open_markup(before_open_math(before_open_hidden(without_loops(text or ""))))
    stripped = text.strip()
    unfinished = _may_go_on(stripped)
    if not stripped or (ends_sentence(stripped) and not unfinished) or _ends_table_row(stripped):
        return stripped
    sentences = sentence_cuts(text)
    if unfinished and sentences and sentences[-1] >= len(text.rstrip()):
        sentences.pop()
    if sentences and sentences[-1] >= _KEEP_WHEN_TRIMMING * len(stripped):
        return _without_lone_header(text[: sentences[-1]].strip())
    words = word_cuts(text)
    if words:
        return with_ellipsis(text[: words[-1]]).strip()
    return with_ellipsis(stripped)  # one unbroken word: nothing whole to go back to


#: A loop: the same one to LONGEST_LOOP sentences (or lines) said at least LOOP_TIMES
#: times in a row, a small model's way of running to its token limit.
LONGEST_LOOP, LOOP_TIMES = 3, 3


def without_loops(text: str) -> str:
    """`text` with each loop in it said once: the sentences (or lines) that repeat
    LOOP_TIMES times or more in a row, compared without the spaces around them."""
    units = _sentences(text)
    said = [text[start:end].strip() for start, end in units]
    kept, n = [], 0
    while n < len(units):
        period = _loop_at(said, n)
        kept.append(units[n] if not period else (units[n][0], units[n + period - 1][1]))
        if not period:
            n += 1
            continue
        end = n + period
        while end < len(said) and said[end] == said[end - period]:
            end += 1
        n = end
    return "".join(text[start:end] for start, end in kept) if len(kept) < len(units) else text


def _loop_at(said: list[str], n: int) -> int:
    """The number of sentences in the loop that starts at sentence `n`, 0 for none."""
    for period in range(1, LONGEST_LOOP + 1):
        run = said[n : n + period * LOOP_TIMES]
        if len(run) == period * LOOP_TIMES and len("".join(run[:period])) >= 4:
            if all(run[k] == run[k - period] for k in range(period, len(run))):
                return period
    return 0


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text` (see sentence_cuts) with the spaces and
    blank lines before it; the end of the text, after its last cut, is one more."""
    units, start = [], 0
    for cut in [*sentence_cuts(text), len(text)]:
        if text[start:cut].strip():
            units.append((start, cut))
            start = cut
    if start < len(text) and units:
        units[-1] = (units[-1][0], len(text))
    return units


#: A Markdown table's row: between pipes, the cells.
_TABLE_ROW = re.compile(r"\A[ \t]*\|(.*)\|[ \t]*\Z")


def _rows(text: str) -> list[re.Match | None]:
    return [_TABLE_ROW.match(line) for line in text.split("\n")[-2:]]


def _ends_table_row(text: str) -> bool:
    """Whether `text` ends with a whole row of a table: as many cells as the row before."""
    rows = _rows(text)
    return len(rows) == 2 and all(rows) and rows[0][1].count("|") == rows[1][1].count("|")


def _without_lone_header(text: str) -> str:
    """`text` without a table's header row that ends it alone (the limit cut the table
    before its rows): not being a table yet, it would reach the texter as its pipes."""
    rows = _rows(text)
    if len(rows) == 2 and rows[1] and not rows[0]:
        return text[: text.rfind("\n")].rstrip()
    return text
