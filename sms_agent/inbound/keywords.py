"""Carrier keywords (STOP, START, HELP) and our own commands (RESET, USAGE, MORE, AGENT) in
a whole SMS."""

from __future__ import annotations

import enum
import unicodedata


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    RESET = "reset"
    USAGE = "usage"
    MORE = "more"
    AGENT = "agent"


#: The carriers' opt-out words: Twilio's standard six, and REVOKE and OPTOUT, which the
#: FCC's 2025 consent rule added ("OPT OUT" folds into OPTOUT, since spaces are ignored).
OPT_OUT_WORDS = ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout")

#: Whole messages that ask for a person, written without spaces ("talk to a person" is
#: matched as "talktoaperson"). Only whole messages count: "is a human heart big?" is a
#: question for the AI.
HUMAN_WORDS = (
    "agent",
    "human",
    "operator",
    "representative",
    "liveagent",
    "realperson",
    "arealperson",
    "customerservice",
    "customersupport",
    *(
        f"{verb}to{who}"
        for verb in ("talk", "speak", "chat")
        for who in ("aperson", "ahuman", "anagent", "arealperson", "ahumanbeing", "someone")
    ),
    "iwantaperson",
    "iwantahuman",
    "iwanttotalktoaperson",
    "iwanttotalktoahuman",
    "iwanttospeaktoaperson",
    "iwanttospeaktoahuman",
)

#: Every word a texter may send, mapped to what it means. STOP/START/HELP follow the
#: carriers' (and Twilio's) standard opt-out, opt-in and help keywords.
WORDS: dict[str, Keyword] = {
    **dict.fromkeys(OPT_OUT_WORDS, Keyword.STOP),
    **dict.fromkeys(["start", "yes", "unstop"], Keyword.START),
    **dict.fromkeys(["help", "info"], Keyword.HELP),
    **dict.fromkeys(["reset", "new"], Keyword.RESET),
    "usage": Keyword.USAGE,
    "more": Keyword.MORE,
    **dict.fromkeys(HUMAN_WORDS, Keyword.AGENT),
}

#: Twilio's Advanced Opt-Out names the keyword group a message matched in OptOutType: its
#: own keywords, which a Messaging Service may extend in any language ("ARRET", "BAJA").
TWILIO_OPT_OUT_TYPES = {"STOP": Keyword.STOP, "START": Keyword.START, "HELP": Keyword.HELP}

# Phones add these around a single word: autocorrect's full stop, an exclamation, quotes,
# and invisible joiners or byte-order marks pasted from other apps.
_EDGE_NOISE = " \t\r\n\v\f.!?,;:'\"\u00a0\u200b\u200c\u200d\u2060\ufeff\u2018\u2019\u201c\u201d"


def parse(body: str | None) -> Keyword | None:
    """The keyword a message consists of, or None when it is anything else.

    Only a whole message counts, so "stop sending me jokes" is a question for the AI, not
    an opt-out. Case, spaces (also inside: "STOP ALL") and trailing punctuation are ignored,
    and compatibility forms such as full-width letters are folded.
    """
    if not body:
        return None
    word = unicodedata.normalize("NFKC", body).strip(_EDGE_NOISE).casefold()
    return WORDS.get("".join(word.split()))


def matched_by_twilio(opt_out_type: str | None) -> Keyword | None:
    """The keyword Twilio's Advanced Opt-Out matched (OptOutType), or None. Twilio has
    blocked or unblocked the number already and answered the texter itself."""
    return TWILIO_OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
