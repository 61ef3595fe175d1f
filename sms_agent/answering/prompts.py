"""System prompts: one per category, all asking for plain text that fits the tier's SMS budget
in the encoding the reply will use (a Chinese reply gets 67 characters a segment, not 153)."""

from __future__ import annotations

from ..models import Category
from ..outbound.gsm import GSM_7
from ..outbound.shape import char_budget

#: Characters per token the model writes, roughly: about 4 in English (3 to be safe), and
#: about 1 in Chinese, Japanese or Hindi, which is what a UCS-2 reply usually is.
CHARS_PER_TOKEN = {GSM_7: 3}

BASE = (
    "You answer questions sent by text message (SMS). Reply in plain text only: no Markdown, "
    "no bullet symbols, no code fences, no tables, no links unless asked, and no emoji or "
    "decorative symbols (write words instead). Answer in the language of the question. Be "
    "direct and useful; skip greetings and filler. Keep the whole answer under {chars} "
    "characters."
)

#: On WhatsApp the answer keeps its formatting and its emoji: the model writes Markdown, as
#: everywhere, and outbound/channels.py makes it WhatsApp's (**bold** to *bold*). Asked for
#: WhatsApp's own *bold*, a model got italics: that is Markdown's *italic*.
WHATSAPP_BASE = (
    "You answer questions sent on WhatsApp. You may use **bold**, *italic* and short lists "
    "(lines starting with '- ' or '1. '), but no tables or headings. Answer in the language "
    "of the question. Be direct and useful; skip greetings and filler. Keep the whole "
    "answer under {chars} characters."
)

#: The words a whole text is a command in (inbound/keywords.py): a question of the model's
#: answered with one of them alone ("the start or the end?" "End") unsubscribed the texter,
#: since carriers and Twilio obey the opt-out words whatever was asked.
COMMANDS = (
    " Never ask a question the texter would answer with only STOP, END, QUIT, CANCEL, HELP or INFO:"
    " a text of one of those words alone is a command, and the first four unsubscribe them."
)

#: What a texter can send, for when they ask ("how do I get the rest?"): the model knew
#: none of it and made answers up. Kept to one sentence: every call pays for it.
HOW_TO = (
    " If asked how this service works: reply MORE for the rest of a cut-off answer, RESET "
    "to start over, AGENT for a person, HELP for help, STOP to unsubscribe."
)

FOCUS = {
    Category.GENERAL: "Answer general questions clearly and accurately.",
    Category.CODING: (
        "You help with programming. Give the key idea and at most a very short code snippet "
        "written inline; name functions and commands exactly."
    ),
    Category.DEBUG: (
        "You help fix errors. Name the most likely cause first, then the fix, in as few "
        "steps as possible."
    ),
    Category.DESIGN: (
        "You advise on software and system design. Give a recommendation and the main "
        "trade-off behind it."
    ),
    Category.DOCUMENTATION: (
        "You help write and explain documentation. Be precise and use plain words."
    ),
    Category.ANALYSIS: (
        "You analyse data, numbers and arguments. State the conclusion first, then the key "
        "evidence or calculation."
    ),
}


def max_tokens(segments: int, encoding: str = GSM_7) -> int:
    """A token cap a little above the character budget, so a model that overruns is cut by
    the server and then trimmed at a sentence (what still overruns the segments is sent on
    MORE)."""
    return char_budget(segments, encoding) // CHARS_PER_TOKEN.get(encoding, 1) + 32


def system_prompt(
    category: str, segments: int, encoding: str = GSM_7, *, whatsapp: bool = False
) -> str:
    """`encoding` is the one the reply will most likely need (outbound.expected_encoding).
    On WhatsApp the tier's budget still sets the length, but formatting is welcome."""
    focus = FOCUS.get(Category(category), FOCUS[Category.GENERAL])
    base = WHATSAPP_BASE if whatsapp else BASE
    return base.format(chars=char_budget(segments, encoding)) + COMMANDS + HOW_TO + " " + focus
