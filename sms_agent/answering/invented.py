"""An answer without the turns the model went on to invent after it, written in words.

A base model, or one whose chat template a server got wrong, may not stop at the end of its
turn: it writes the texter's next question and its own answer too ("Paris.\\nUser: And
Germany?\\nAssistant: Berlin."). The template's tokens for that are cut at the border
(vendors/turns.py); these are words, so only a line opening with the texter's label that a
line opening with the model's label follows counts, after words that introduce nothing
(not "for example:"), and never when the texter asked for a dialogue.
"""

from __future__ import annotations

import re

_MARKS = r"[ \t]*(?:#{1,6}[ \t]*)?[*_]*"
_LABEL = r"[*_]*[ \t]*:"
_USER = re.compile(rf"^{_MARKS}(?:User|Human|Texter|Customer|Q|Instruction){_LABEL}", re.M | re.I)
_MODEL = re.compile(rf"^{_MARKS}(?:Assistant|AI|Bot|Model|Agent|A|Response){_LABEL}", re.M | re.I)
#: A question asking for turns written out: the answer's turns are what was asked.
_ASKS_FOR_TURNS = re.compile(
    r"\b(?:dialog(?:ue)?s?|conversations?|transcripts?|scripts?|chats?|role-?play|chatbots?"
    r"|exchanges?|examples?|samples?|quiz(?:zes)?|faqs?|q&a|flash ?cards?|interviews?|trivia)\b",
    re.IGNORECASE,
)


def without_invented_turns(text: str, question: str) -> str:
    """`text` up to the first turn the model invented after its answer, as above."""
    user = _USER.search(text)
    if user is None or not _MODEL.search(text, user.end()):
        return text
    answer = text[: user.start()].rstrip()
    if not answer or answer.endswith(":") or _ASKS_FOR_TURNS.search(question or ""):
        return text
    return answer
