"""An answer that opens by saying back what the model was given, without that opening.

Small models, and servers whose chat template lost the turns, start by repeating the
texter's question or our instructions (a sentence of the system prompt) before answering:
the texter paid a segment for their own question, or read our instructions. Only whole
sentences or lines at the answer's start that repeat them word for word go, and only of
three words or more ("Hello!" answered with "Hello! How can I help?" stays). A label before
a repeated question ("Question:", "Q:", "You asked:") goes with it, and then the answer's
own ("Answer:", "A:"). So does a line that only announces the answer ("Sure! Here's a short,
SMS-friendly answer:"), which a model told it writes for SMS opens with.
"""

from __future__ import annotations

import functools
import re

#: A sentence or a line: to its end mark (before a space), its line's end, or the end.
_OPENING = re.compile(r"\s*([^\n]+?(?:[.!?:](?=\s)|(?=\n)|\Z))")
_SENTENCES = re.compile(r"(?<=[.!?:])\s+")
_MOST_WORDS = 3
_NOT_WORDS = re.compile(r"[^\w\s]")
#: The labels a model puts before the question it says back, and before its answer then,
#: bold or not ("**Question:** ... **Answer:** ...").
_QUESTION_LABEL = re.compile(r"\s*[*_]*(?:q|question|you asked|your question)[*_]*\s*:[*_]*", re.I)
_ANSWER_LABEL = re.compile(r"\s*[*_]*(?:a|answer)[*_]*\s*:[*_]*", re.I)
#: A line of its own that only announces the answer below it.
_ANNOUNCEMENT = re.compile(
    r"\A\s*(?:(?:sure|ok(?:ay)?|certainly|of course|absolutely)[!,.]?\s+)?"
    r"here(?:'s|\u2019s| is) (?:a|an|the|my)(?: [\w-]+,?){0,4}? (?:answer|reply|response)"
    r"(?: (?:for|by|via|over) (?:sms|text|a text)(?: message)?)?:[ \t]*\n",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    return " ".join(_NOT_WORDS.sub(" ", text.casefold()).split())


@functools.lru_cache(maxsize=64)
def _keys_of_instructions(instructions: str) -> frozenset[str]:
    """The keys of the sentences of `instructions` long enough to count: made once per
    system prompt (there are a few dozen: categories, budgets, encodings, channels), not
    for every answer."""
    keys = (_key(part) for part in _SENTENCES.split(instructions))
    return frozenset(key for key in keys if len(key.split()) >= _MOST_WORDS)


def without_echo(text: str, question: str, instructions: str) -> str:
    """`text` without the line announcing it, and the sentences or lines it opens with that
    repeat `question` or one of the sentences of `instructions` (with their labels)."""
    given = _keys_of_instructions(instructions)
    asked = _key(question)
    if len(asked.split()) >= _MOST_WORDS:
        given = given | {asked}
    announced = _ANNOUNCEMENT.match(text)
    rest = text[announced.end() :] if announced else text
    said_back = False
    while True:
        label = _QUESTION_LABEL.match(rest)
        said = rest[label.end() :] if label else rest
        opening = _OPENING.match(said)
        if not opening or _key(opening[1]) not in given:
            break
        rest, said_back = said[opening.end() :], True
    if said_back:  # then an "Answer:" labels what follows the question
        answer = _ANSWER_LABEL.match(rest)
        rest = rest[answer.end() if answer else 0 :]
    return rest.lstrip() if said_back or announced else text
