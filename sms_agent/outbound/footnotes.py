"""Markdown footnotes as a phone can show them: numbered marks, and the notes at the end.

Models write footnotes as GitHub and Pandoc read them: a mark in the text ("the capital[^1]")
and the note on a line of its own ("[^1]: Since 508 AD."), its label a number or a name, or
(Pandoc's inline note) the note in the text ("the capital^[Since 508 AD.]"), or, in plain
text, in raised digits: "the capital¹" and a "¹ Since 508 AD." line, which would read as
powers ("capital^1").
No phone renders them, and CommonMark does not know them, so the texter got the carets and
labels as written and each note where the model put it. A mark becomes "[1]" (GSM-7, and
numbered in the order the text first cites it), its note a "[1] ..." line at the end. A
mark with no note (the token limit came before the notes) goes. Code is left as written:
"[^0-9]" there is a regular expression.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable

from markdown_it import MarkdownIt

#: Only blocks are read (which lines are code), so no paragraph's words are parsed.
_BLOCKS = MarkdownIt("commonmark").disable("inline")
#: A paragraph's lines: to a blank line or the next definition (a note, or a link's:
#: "[2]: https://..." is a source of its own, not more of the note).
_LINES = r".*(?:\n(?![ \t]*\n| {0,3}\[[^\]\n]+\]:).*)*"
#: A note: its label, then its words, and the further paragraphs indented under it.
_NOTE = re.compile(
    rf"^ {{0,3}}\[\^([^\]\s]+)\]:[ \t]*({_LINES}(?:\n(?:[ \t]*\n)+(?= {{4}}|\t)[ \t]*\S{_LINES})*)",
    re.M,
)
#: Where a note starts.
_NOTE_START = re.compile(r"^( {0,3})\[\^", re.M)
#: Inline code, kept as written, or a footnote's mark with the spaces before it.
_MARK = re.compile(r"(`+)(?:.*?)\1|[ \t]*\[\^([^\[\]\s]+)\](?!:)")


#: Inline code, kept as written, or Pandoc's inline note ("the capital^[Since 508 AD.]"), its
#: words perhaps holding a link's brackets. A note holds a word (_WORD, not "a^[i]") before
#: its first "]": looked for once a note is found, as a lookahead here would read to the end
#: of the line from every "^[".
_INLINE_NOTE = re.compile(r"(`+)(?:.*?)\1|\^\[((?:[^\[\]\n]|\[[^\[\]\n]*\])+)\]")
_WORD = re.compile(r"[^\W\d_]{2}")
#: The label an inline note is given, to be numbered with the others in citing order.
_INLINE_LABEL = "inline-note-"


#: A note in raised digits: its number at a line's start, then its words.
_DIGITS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
_LEVEL = str.maketrans(_DIGITS, "0123456789")
_RAISED_NOTE = re.compile(rf"^ {{0,3}}([{_DIGITS}]+)[ \t]+(?=\S)")
#: Inline code, kept as written, or a number in raised digits: a mark when a note has it.
_RAISED_MARK = re.compile(rf"(`+)(?:.*?)\1|([{_DIGITS}]+)")
#: What a raised number follows when it is a mark, never a power: a sentence's or a clause's
#: end ("1440.¹", "Europe,²"). Without its note (the token limit came first), it goes.
_END = re.compile(r"[.,;:!?)\]\"\u201d\u2019]")


#: A numbered source as a Markdown link definition ("[1]: https://..."), which a model
#: writes under its answer as it would a footnote.
_SOURCE = re.compile(r"^( {0,3})\[(\d{1,3})\]:[ \t]*", re.M)
#: Inline code, kept as written, or words citing a numbered source as a reference-style
#: link ("[the docs][1]"): the words, then the number, as the list below shows it.
_CITED = re.compile(r"(`+)(?:.*?)\1|(?<!!)\[([^\[\]\n]+)\]\[(\d{1,3})\]")


def footnotes_to_text(source: str) -> str:
    """`source` with its footnotes' marks numbered and their notes listed at its end, and
    its numbered sources as written: CommonMark reads "[1]: https://..." as a link's
    definition, which shows nothing (the texter lost a list of sources no "[1]" cited) and
    makes a "[1]" that cites it a link ("capital 1 (https://...)")."""
    sources = _SOURCE.search(source) is not None
    if "^[" in source:
        source = _inline_notes_defined(source)
    if any(digit in source for digit in _DIGITS):
        source = _raised_notes_defined(source)
    if "[^" not in source and not sources:
        return source
    lines = source.split("\n")
    code = _code_lines(source)
    # Notes are read from the lines as written, where a source still looks a definition.
    prose = "\n".join("" if index in code else line for index, line in enumerate(lines))
    if sources:
        listed = {match[2] for match in _SOURCE.finditer(prose)}

        def cited(match: re.Match) -> str:
            words, number = match[2], match[3]
            return f"{words} [{number}]" if number in listed else match[0]

        lines = [
            line if index in code else _CITED.sub(cited, _SOURCE.sub(r"\1\\[\2] ", line))
            for index, line in enumerate(lines)
        ]
        if "[^" not in source:
            return "\n".join(lines)
    notes = {match[1]: " ".join(match[2].split()) for match in _NOTE.finditer(prose)}
    if notes:
        line_of = _line_finder(prose)
        for match in reversed(list(_NOTE.finditer(prose))):
            first, last = line_of(match.start()), line_of(match.end())
            lines[first : last + 1] = [""] * (last + 1 - first)
    numbers: dict[str, int] = {}

    def numbered(match: re.Match) -> str:
        label = match[2]
        if label is None:
            return match[0]
        if label not in notes:
            return "" if label.isdigit() else match[0]
        return f"[{numbers.setdefault(label, len(numbers) + 1)}]"

    for index, line in enumerate(lines):
        if index not in code:
            lines[index] = _MARK.sub(numbered, line)
    unmarked = [label for label in notes if label not in numbers]
    listed = [f"[{numbers[label]}] {notes[label]}" for label in numbers]
    listed += [notes[label] for label in unmarked]
    return "\n".join(lines).rstrip() + ("\n\n" + "\n".join(listed) if listed else "")


def _inline_notes_defined(source: str) -> str:
    """`source` with each inline note outside code written as a mark and its note below,
    as the notes of the other form are."""
    lines, notes = source.split("\n"), []
    code = _code_lines(source)

    def marked(match: re.Match) -> str:
        if match[2] is None or not _WORD.search(match[2].split("]")[0]):
            return match[0]
        notes.append(f"[^{_INLINE_LABEL}{len(notes) + 1}]: {match[2]}")
        return f"[^{_INLINE_LABEL}{len(notes)}]"

    for index, line in enumerate(lines):
        if index not in code:
            lines[index] = _INLINE_NOTE.sub(marked, line)
    return "\n".join(lines + ([""] + notes if notes else []))


def _raised_notes_defined(source: str) -> str:
    """`source` with notes in raised digits written as the other notes are ("[^1]: ...",
    "capital[^1]"), when a line outside code starts with one: only a number a note has is
    a mark, so "mc²" stays a power; one after a sentence's end that no note has goes."""
    lines = source.split("\n")
    code = _code_lines(source)
    notes = {
        note[1]
        for index, line in enumerate(lines)
        if index not in code and (note := _RAISED_NOTE.match(line))
    }

    def marked(match: re.Match) -> str:
        number = match[2]
        if number in notes:
            return f"[^{number.translate(_LEVEL)}]"
        after_an_end = number and _END.fullmatch(match.string[match.start() - 1 : match.start()])
        return "" if after_an_end else match[0]

    for index, line in enumerate(lines):
        if index in code:
            continue
        note = _RAISED_NOTE.match(line)
        label = f"[^{note[1].translate(_LEVEL)}]: " if note else ""
        lines[index] = label + _RAISED_MARK.sub(marked, line[note.end() :] if note else line)
    return "\n".join(lines)


def _code_lines(source: str) -> set[int]:
    """The numbers of the lines that are code blocks, fenced or indented. A note is read as
    a paragraph, so that the indented lines which go on with it are no code block: CommonMark
    would take a one-word note ("[^1]: Wikipedia") for a link's definition, ending it there.
    Nor is a note's further paragraph, indented under it, though CommonMark reads one so."""
    blocks = [
        token
        for token in _BLOCKS.parse(_NOTE_START.sub(r"\1\\[^", source))
        if token.type in ("fence", "code_block") and token.map
    ]
    fenced = {line for token in blocks if token.type == "fence" for line in range(*token.map)}
    lines = source.split("\n")
    prose = "\n".join("" if index in fenced else line for index, line in enumerate(lines))
    line_of = _line_finder(prose)
    in_notes = {
        line
        for note in _NOTE.finditer(prose)
        for line in range(line_of(note.start()), line_of(note.end()) + 1)
    }
    indented = {
        line
        for token in blocks
        if token.type == "code_block"
        for line in range(*token.map)
        if line not in in_notes
    }
    return fenced | indented


def _line_finder(text: str) -> Callable[[int], int]:
    """The number of the line of `text` an offset falls in, found by halving: counting the
    line ends from the start for each note took seconds for thousands of notes."""
    ends = [end.start() for end in re.finditer("\n", text)]
    return functools.partial(bisect.bisect_left, ends)
