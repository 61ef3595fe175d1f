"""Emoji and pictographs out of a reply: the few that carry meaning become words, the rest go.

In an SMS they are decoration that costs dearly: one emoji turns a whole GSM-7 reply into
UCS-2 (70 characters a segment instead of 160). The `emoji` package knows every sequence
(skin tones, ZWJ families, flags, keycaps), so none is left half removed.
"""

from __future__ import annotations

import re

import emoji as emoji_data

#: Emoji (by their CLDR short name) that mean something a word can say.
_WORDS = {
    **dict.fromkeys([":check_mark_button:", ":check_mark:", ":check_box_with_check:"], "Yes"),
    **dict.fromkeys(
        [":cross_mark:", ":cross_mark_button:", ":multiply:", ":no_entry:", ":prohibited:"], "No"
    ),
    ":warning:": "Warning",
    ":information:": "Note",
    ":pushpin:": "Note",
    ":light_bulb:": "Tip",
    ":red_exclamation_mark:": "!",
    ":double_exclamation_mark:": "!",
    ":red_question_mark:": "?",
    ":right_arrow:": "->",
    ":left_arrow:": "<-",
    ":left-right_arrow:": "<->",
    ":up_arrow:": "^",
    ":down_arrow:": "v",
    ":plus:": "+",
    ":minus:": "-",
}
_KEYCAP = re.compile(r":keycap_(\d+|#|\*):")
#: A button or arrow with a word on it (🆗, 🆘, 🅰️, 🔙): the word, as written.
_BUTTON = re.compile(r":([A-Z]+)!?_(?:button|arrow)(?:_\(blood_type\))?:")
#: What may be left around a sequence the package does not list: variation selectors,
#: skin tones, tag characters and the combining keycap.
_LEFTOVERS = re.compile(r"[\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")
#: The characters of the package's emoji but ASCII ones (a keycap's digit, "#" or "*"): every
#: emoji holds one of them, so a text without any has no emoji for the package to find,
#: and is not walked through character by character (a tenth of shaping an answer).
_IN_EMOJI = frozenset(c for e in emoji_data.EMOJI_DATA for c in e if not c.isascii())
#: Symbols that are not emoji but are used as they are: ticks and crosses, a star.
_ALIASES = str.maketrans(
    {
        "\u2713": "\u2705",
        "\u2717": "\u274c",
        "\u2718": "\u274c",
        "\u2605": "\u2b50",
        "\u2606": "\u2b50",
    }
)
#: A rating in stars ("⭐⭐⭐⭐", "★★★☆☆"): the count is the answer, "4 stars", "3/5 stars".
#: A single star is decoration, and goes as other emoji do.
_FULL_STARS, _EMPTY_STARS = "\u2b50\u2605", "\u2606"
_STARS = re.compile(f"(?:[{_FULL_STARS}{_EMPTY_STARS}]\ufe0f?){{2,}}")


def _rating(stars: re.Match) -> str:
    full = sum(stars[0].count(star) for star in _FULL_STARS)
    empty = stars[0].count(_EMPTY_STARS)
    return f"{full}/{full + empty} stars" if empty else f"{full} stars"


_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use marks around a replaced run
_RUN = re.compile(f"[ \\t]*(?:{_OPEN}[^{_CLOSE}]*{_CLOSE}[ \\t]*)+")
_LINE_START = re.compile(r"(?:^|\n)[ \t]*(?:[-*+]|\d+[.)])?[ \t]*$")
#: Punctuation that closes the word before a removed emoji ("Great 👍!" is "Great!"): it
#: ends there or runs into a space. Followed by a letter it starts the next word instead
#: ("a 😀?b" keeps its space: "a ?b", not "a?b").
_CLOSES_THE_WORD = re.compile(r"[.,!?;:)]+(?:\s|$)")


def _word_for(name: str) -> str:
    keycap = _KEYCAP.fullmatch(name)
    if keycap:
        number = keycap.group(1)
        return number + "." if number.isdigit() else number
    button = _BUTTON.fullmatch(name)
    if button:
        return button.group(1)
    return _WORDS.get(name, "")


def _mark(chars: str, data: dict) -> str:
    return _OPEN + _word_for(data.get("en", "")) + _CLOSE


def _place(match: re.Match) -> str:
    """A run of emoji becomes its first word, or nothing, with single spaces around it.

    At a line's start (after a bullet, too) a word is a label ("Warning: ..."); elsewhere it
    reads as an aside ("(yes)"), but for a whole answer of one emoji, which is its word
    ("Yes"). A word the text already says next is not repeated.
    """
    text = match.string
    before, after = text[: match.start()], text[match.end() :]
    words = [w for w in re.findall(f"{_OPEN}([^{_CLOSE}]*){_CLOSE}", match.group()) if w]
    word = words[0] if words else ""
    line_end = not after or after[0] == "\n"
    labels = _LINE_START.search(before) and not line_end
    if word.endswith(".") and not labels:  # a keycap's number: a list's only at a line's start
        word = word[:-1]
    alone = not before.strip() and not after.strip()
    if word[:1].isalpha() and not word.isupper() and not alone:  # a button's word as written
        if after.lower().startswith(word.lower()):
            word = ""
        elif labels:
            word += ":"
        else:
            word = f"({word.lower()})"
    space_before = " " if before and before[-1] != "\n" else ""
    space_after = "" if line_end or _CLOSES_THE_WORD.match(after) else " "
    if not word:
        return space_before if space_after else ""
    return space_before + word + space_after


def replace_emoji(text: str) -> str:
    """`text` without emoji; "✅ Done" becomes "Yes: Done", "Great 👍" becomes "Great"."""
    if not text:
        return text
    text = _STARS.sub(_rating, text).translate(_ALIASES)
    if not _IN_EMOJI.isdisjoint(text):
        text = emoji_data.replace_emoji(text, replace=_mark)
    marked = _LEFTOVERS.sub("", text)
    if _OPEN not in marked:
        return marked
    return _RUN.sub(_place, marked)


def has_emoji(text: str) -> bool:
    """Whether `text` shows an emoji, not only what joins or styles one (U+200D, U+FE0F)."""
    return emoji_data.emoji_count(text) > 0
