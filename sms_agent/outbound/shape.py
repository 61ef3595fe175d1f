"""Shape a model's answer into SMS: plain text in the encoding its language needs, cut to the
tier's segments with a visible marker, split into numbered messages.

The order matters: Markdown becomes plain text, emoji and look-alikes go (emoji.py,
script.py) before anything is counted (gsm.py), so the budget is spent on what the texter
will actually read. What does not fit is kept as `Shaped.rest` for MORE.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..clean_text import readable
from . import cuts, script
from .cuts import trim_to_sentence
from .emoji import has_emoji, replace_emoji
from .gsm import (
    GSM_7,
    PER_SEGMENT,
    SINGLE_SEGMENT,
    encoding_of,
    segment_count,
    without_lookalikes,
)
from .html_tags import about_markup
from .json_answer import json_words
from .language import language_for
from .latex import latex_to_text
from .markdown import markdown_to_text
from .split import MAX_MESSAGE_CHARS, prefix, split_for_sms
from .task_lists import DONE, said_done

#: Ends a reply that did not fit; the texter's MORE sends the rest (outbound/more.py).
MARKER = " (Reply MORE)"
#: The marker by the language the texter wrote in (language.py); the command stays MORE.
MARKERS = {None: MARKER, "fr": " (Répondez MORE)", "es": " (Responde MORE)"}
#: How much of an answer tells its language when the question does not ("Bonjour").
_LANGUAGE_SAMPLE = 300
#: A sentence boundary is preferred to a word boundary when it keeps this share of the text.
_KEEP_AT_SENTENCE = 0.6
#: With MORE nothing is lost at a word, so a sentence must keep nearly all the budget: the
#: texter pays for the segments either way.
_KEEP_AT_SENTENCE_WITH_MORE = 0.9


__all__ = [
    "MARKER",
    "marker_for",
    "Shaped",
    "shape",
    "shape_reply",
    "split_for_sms",
    "tidy_lines",
    "trim_to_sentence",
]


@dataclass(frozen=True)
class Shaped:
    """The SMS for one text, what they carry, and what is left for MORE."""

    parts: list[str]
    #: The text the parts carry, without numbering, "..." or marker: what the texter read.
    sent: str = ""
    #: What did not fit, already plain; "" when the whole text is sent.
    rest: str = ""
    encoding: str = GSM_7
    #: The script that needs UCS-2 (Chinese, Greek...), or None for GSM-7.
    reason: str | None = None
    #: Whether the length budget cut the text (what it drops otherwise, Markdown or emoji
    #: say, is no cut).
    cut: bool = False


#: A line (or list item) opening with a sign that becomes ">" ("≥ 18" is ">= 18"): its ">"
#: waits as a stand-in while Markdown is read, or it is read as a quote ("= 18").
_MADE_QUOTE = re.compile(r"^([ \t]*(?:[-*+][ \t]+|\d{1,9}[.)][ \t]+)?)([\u2265\u203a])", re.M)
_GREATER_THAN = "\ue03e"


def _unquoted(sign: re.Match) -> str:
    return sign[1] + _GREATER_THAN + ("=" if sign[2] == "\u2265" else "")


@functools.lru_cache(maxsize=64)
def to_sms_text(text: str | None, question: str = "") -> str:
    """Plain text a phone shows as written: no Markdown, LaTeX or emoji, and GSM-7 unless the
    reply's language (by the script of `question` and of the answer) needs other letters.
    Kept for the latest answers: the pipeline checks a model's answer is not empty once
    shaped, then shapes it to send."""
    source = _MADE_QUOTE.sub(_unquoted, latex_to_text(unwrapped(readable(text or ""), question)))
    plain = markdown_to_text(without_lookalikes(source), html_as_written=about_markup(question))
    plain = plain.replace(_GREATER_THAN, ">")
    if DONE in plain:  # a ticked item's "(done)", in the reply's language
        plain = said_done(plain, reply_language(question, plain))
    # Again after parsing: entities such as &mdash; (or &#27;) only become characters
    # there. Backticks and tabs mean code to Markdown, so they are swapped only now.
    plain = readable(without_lookalikes(plain).replace("`", "'").replace("\t", "  "))
    words = replace_emoji(plain)
    if words != plain and not any(char.isalnum() for char in words) and has_emoji(plain):
        # Nothing but emoji (a thumbs-up to a thank-you): they are the answer, and with no
        # words to keep in GSM-7 they cost no more than any short reply.
        return tidy_lines(plain)
    if script.language_of(question, words) == script.LATIN:
        words = script.to_latin_reply(words)
    return tidy_lines(words)


#: An answer that is one fenced block of Markdown and nothing else: a model that wrapped its
#: whole answer in it meant the Markdown inside, not code to show.
_WRAPPED_MARKDOWN = re.compile(
    r"\A\s*```[ \t]*(?:markdown|md)[ \t]*\n(.*)\n[ \t]*```\s*\Z", re.DOTALL | re.IGNORECASE
)
_FENCE = re.compile(r"^[ \t]*```", re.MULTILINE)
#: A question about Markdown itself, whose answer's Markdown is its subject.
_ABOUT_MARKDOWN = re.compile(r"\b(?:markdown|md|readme)\b", re.IGNORECASE)


def unwrapped(text: str, question: str) -> str:
    """`text` without the ```markdown fence it is wrapped in whole, unless the texter asked
    about Markdown, or the words of the JSON object it is (SMS and WhatsApp alike)."""
    words = json_words(text, question)
    if words is not None:
        return words
    wrapped = _WRAPPED_MARKDOWN.match(text)
    if not wrapped or _FENCE.search(wrapped[1]) or _ABOUT_MARKDOWN.search(question or ""):
        return text  # a fence inside: more than one block, with words between them
    return wrapped[1]


def tidy_lines(text: str) -> str:
    """No spaces at line ends, at most one blank line in a row, none around the text."""
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def char_budget(segments: int, encoding: str) -> int:
    """Characters a reply may have and still arrive whole in `segments` segments: room is
    left for the numbering of split messages, a segment per extra message (they are split
    at words, not at segment ends) and a character per segment (an escaped character or a
    surrogate pair never straddles two); rounded down to ten."""
    units = SINGLE_SEGMENT[encoding] if segments == 1 else segments * PER_SEGMENT[encoding]
    messages = math.ceil(units / MAX_MESSAGE_CHARS)
    if messages > 1:
        units -= messages * len(prefix(messages, messages)) + (messages - 1) * PER_SEGMENT[encoding]
    return (units - segments) // 10 * 10


# -- fitting and splitting --------------------------------------------------------------------
def _segments_when_sent(text: str) -> int:
    return sum(segment_count(part) for part in split_for_sms(text))


def _longest_fitting(
    text: str, positions: Sequence[int], finish: Callable[[str], str], budget: int
) -> int | None:
    """The position of the longest finish(text[:cut]) that fits in `budget` segments."""
    low, high, best = 0, len(positions) - 1, None
    while low <= high:
        middle = (low + high) // 2
        candidate = finish(text[: positions[middle]])
        if candidate.strip() and _segments_when_sent(candidate) <= budget:
            best, low = positions[middle], middle + 1
        else:
            high = middle - 1
    return best


def cut_to_segments(text: str, max_segments: int, marker: str = "") -> tuple[str, str, str]:
    """(what to send, the text it carries, the rest) for `text` in `max_segments` segments.

    It ends at a sentence when that keeps most of the text, otherwise at a word with "...",
    then `marker`; only a word longer than the whole budget is cut inside, where it starts.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = cuts.without_blank_ends(text)  # a kept rest's first line keeps its indent
    # Every character costs at least one unit, so nothing past this can fit anyway.
    window = text[: max_segments * SINGLE_SEGMENT[GSM_7] + 1]
    if window == text and _segments_when_sent(text) <= max_segments:
        return text, text, ""

    def at_word(head: str) -> str:
        return cuts.with_ellipsis(head) + marker

    def at_sentence(head: str) -> str:
        return head.rstrip() + marker

    word = _longest_fitting(window, cuts.word_cuts(window), at_word, max_segments)
    sentence = _longest_fitting(window, cuts.sentence_cuts(window), at_sentence, max_segments)
    if word and _never_whole(text[word : word + len(window) + 1], at_word, max_segments):
        # The word after the cut (an address of 2,000 characters) will be cut inside in any
        # part: cut it here, filling this part, rather than spend one on what precedes it.
        word = sentence = None
    keep = _KEEP_AT_SENTENCE_WITH_MORE if marker else _KEEP_AT_SENTENCE
    if sentence and (not word or sentence >= keep * word):
        cut, finish = sentence, at_sentence
    elif word:
        cut, finish = word, at_word
    else:
        starts = cuts.character_cuts(window)
        cut = _longest_fitting(window, starts, at_word, max_segments) or 1
        finish = at_word
    head = text[:cut].rstrip()
    return finish(head), head, cuts.rest_after(text, cut)


def _never_whole(rest: str, finish: Callable[[str], str], budget: int) -> bool:
    """Whether the first word of `rest` (to its first cut: a space, or a CJK letter's end)
    is too long to fit in `budget` segments alone."""
    first = rest[: next(iter(cuts.word_cuts(rest)), len(rest))].strip()
    return bool(first) and _segments_when_sent(finish(first)) > budget


def fit_to_segments(text: str, max_segments: int) -> str:
    """`text` shortened to cost at most `max_segments` segments once split and numbered."""
    return cut_to_segments(text, max_segments)[0]


def shape(
    text: str | None,
    max_segments: int,
    *,
    question: str = "",
    plain: bool = False,
    more: bool = False,
    known: str | None = None,
) -> Shaped:
    """The SMS for `text` in `max_segments` segments. `plain` text (a rest kept for MORE) is
    not cleaned again; with `more`, a cut ends with MARKER (in the language of `question`,
    else the texter's `known` one, see marker_for) and the rest is kept, else with "..." and
    the rest is dropped (a notice or a staff message has nowhere to keep it)."""
    clean = cuts.without_blank_ends(text) if plain else to_sms_text(text, question)
    if not clean.strip():
        return Shaped([])
    marker = marker_for(question, clean, known) if more else ""
    shown, sent, rest = cut_to_segments(clean, max_segments, marker)
    encoding = encoding_of(shown)
    reason = script.unicode_reason(shown)
    return Shaped(
        split_for_sms(shown), sent, rest if more else "", encoding, reason, cut=bool(rest)
    )


def marker_for(question: str, answer: str, known: str | None = None) -> str:
    """The MORE marker in the reply's language: "(Reply MORE)" under a French answer to a
    French question was the one English line."""
    return MARKERS.get(reply_language(question, answer, known), MARKER)


def reply_language(question: str, answer: str, known: str | None = None) -> str | None:
    """The language of the texter's question, or else, when it says too little to tell
    ("Bonjour", or Arabic, which our lines are not written in), the texter's `known` one
    (User.help_language, as the notices have it: language_for), or else the answer's; None
    for English: an English question is answered in English words of ours, whatever
    language the answer quotes."""
    return language_for(question, known, answer[:_LANGUAGE_SAMPLE])


def shape_reply(text: str | None, max_segments: int, question: str = "") -> list[str]:
    """The SMS to send for a model's answer, in order; [] when nothing is left to send.

    An empty list means the answer was empty or only whitespace/markup; the caller decides
    what to tell the texter (an apology), since no reply at all would look like silence.
    """
    return shape(text, max_segments, question=question).parts
