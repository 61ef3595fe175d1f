"""System prompts: one per category, all asking for plain text that fits the tier's SMS budget."""

from __future__ import annotations

from ..models import Category

#: Characters in one segment of a multi-part GSM-7 SMS; the budget the model is told about.
SEGMENT_CHARS = 153

BASE = (
    "You answer questions sent by text message (SMS). Reply in plain text only: no Markdown, "
    "no bullet symbols, no code fences, no tables, no links unless asked. Be direct and "
    "useful; skip greetings and filler. Keep the whole answer under {chars} characters."
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


def char_budget(segments: int) -> int:
    return segments * SEGMENT_CHARS


def max_tokens(segments: int) -> int:
    """A token cap a little above the character budget (about 4 characters a token), so a
    model that overruns is cut by the server and then trimmed at a sentence."""
    return char_budget(segments) // 3 + 32


def system_prompt(category: str, segments: int) -> str:
    focus = FOCUS.get(Category(category), FOCUS[Category.GENERAL])
    return BASE.format(chars=char_budget(segments)) + " " + focus
