"""Tapback reactions that reach us as texts: an iPhone reacting to an SMS from a phone that
is not one sends the reaction as words ("Liked “What is 2+2?”"), and Google Messages does
likewise ("👍 to “What is 2+2?”"). They answer nothing and ask nothing (pure)."""

from __future__ import annotations

import re

#: iOS's tapbacks in its English wording (both spellings of "Emphasized"), and their undoing.
_VERBS = r"Liked|Loved|Disliked|Laughed at|Emphasi[sz]ed|Questioned"
_REMOVED = r"Removed an? (?:like|heart|dislike|laugh|exclamation|question mark) from"
#: One emoji with its skin tone, variation selector or joined parts: no ASCII, no letter, no
#: digit, no space, so "How to “rebase”" stays a question.
_EMOJI = r"[^\x00-\x7f\w\s“”„«»]{1,16}"
#: iOS 18's any-emoji reactions ("Reacted 👍 to", "Removed 👍 from") and Google Messages'.
_EMOJI_FORMS = rf"(?:Reacted )?{_EMOJI} to|Removed (?:an? )?{_EMOJI} from"
#: What the reaction is about: the text, quoted (straight or curly quotes, cut short with
#: "…" when long, on as many lines as it had), or an attachment named by its kind.
_QUOTED = r"[\"“„«].*[\"”“»]"
_ATTACHMENT = r"an? (?:image|photo|movie|video|attachment|audio message|sticker|GIF)"

#: Anchored and case-sensitive, as the phones write it: a text that only starts like one
#: ("Liked “Dune”. What should I read next?") is a question. Most texts fail at their first
#: character, so the check costs well under a microsecond on every webhook.
_REACTION = re.compile(
    rf"\s*+(?:(?:{_VERBS}) (?:{_QUOTED}|{_ATTACHMENT})|(?:{_REMOVED}|{_EMOJI_FORMS}) {_QUOTED})\s*",
    re.DOTALL,
)


def is_reaction(body: str) -> bool:
    """Whether the whole text is a reaction to an earlier message: stored for staff, but no
    question for the model, nothing off the quota, and nothing to answer."""
    return _REACTION.fullmatch(body) is not None
