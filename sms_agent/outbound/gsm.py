"""GSM-7 and UCS-2: which encoding a text needs, and how many segments a carrier bills.

Carriers bill and deliver SMS in segments: 160 GSM-7 septets (153 per part once a message
needs several, the rest goes to the concatenation header), or 70 UTF-16 units (67 per part)
as soon as one character falls outside GSM-7. A single curly quote in a long answer can
therefore double its cost, which is why look-alikes are replaced before anything is counted.
"""

from __future__ import annotations

import functools
import re

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"
SINGLE_SEGMENT = {GSM_7: 160, UCS_2: 70}
PER_SEGMENT = {GSM_7: 153, UCS_2: 67}
ELLIPSIS = "..."

_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys(_SPACES + "\u202f\u205f\u3000", " "),
        **dict.fromkeys("\u200b\u2060\ufeff\u00ad", ""),  # zero-width and soft hyphen
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043", "-"),
        **dict.fromkeys("\u2022\u2023\u25e6\u2219\u00b7\u25aa\u25cf", "-"),
        "\u2026": ELLIPSIS,
        "\u2039": "<",
        "\u203a": ">",
        "\u00d7": "x",
        "\u00f7": "/",
        **dict.fromkeys("\u2192\u27f6\u21a6", "->"),
        **dict.fromkeys("\u2190\u27f5", "<-"),
        **dict.fromkeys("\u21d2\u27f9", "=>"),
        **dict.fromkeys("\u21d0\u27f8", "<="),
        **dict.fromkeys("\u21d4\u27fa", "<=>"),
        "\u22ef": ELLIPSIS,
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2260": "!=",
        "\u2248": "~",
        "\u2122": "TM",
        "\u00a9": "(c)",
        "\u00ae": "(R)",
    }
)


#: A French quotation: « and » with the (no-break) spaces French typography puts inside.
#: German quotes point the other way (»Hallo«) and have none.
_FRENCH_QUOTED = re.compile(r"«[ \u00a0\u202f]*([^«»\n]*?)[ \u00a0\u202f]*»")


#: A dot that multiplies: between a number or letter (or a power, a bracket) and the next
#: with no space ("2·3", "3.14·r²", "a⋅b"), or spaced between two numbers ("2 · 3"). As a
#: bullet it would read as a minus ("2-3 = 6"); it reads as LaTeX's \cdot does. Catalan's
#: "l·l" (col·lecció) is a letter's, and words spaced apart ("Home · About") are listed.
_MULTIPLYING_DOT = re.compile(
    r"(?<=[^\W_]|[)\]\u00b2\u00b3\u00b9\u2070-\u2079])(?<!l(?=.l))(?<!L(?=.L))[\u00b7\u2219\u22c5](?=[^\W_]|[(\[])"
    r"|(?<=\d) [\u00b7\u2219\u22c5] (?=\d)"
)


def without_lookalikes(text: str) -> str:
    """`text` with LOOKALIKES in GSM-7; a French quotation loses the spaces inside its
    guillemets with them, or the texter reads 'Il a dit " Bonjour "', and a dot that
    multiplies becomes " * "."""
    text = _MULTIPLYING_DOT.sub(" * ", _FRENCH_QUOTED.sub(r"«\1»", text))
    return text.translate(LOOKALIKES)


@functools.lru_cache(maxsize=4096)
def _septets(char: str) -> int | None:
    """1 for the basic set, 2 for the escaped extension table (^{}\\[~]|€ and form feed)."""
    if char == "\x1b":  # the escape code itself is not a character one can send
        return None
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def in_gsm_7(char: str) -> bool:
    return _septets(char) is not None


#: GSM-7's basic set: one septet each (the codec's own table, read once). Most texts and
#: answers are written in it alone, and are counted without a look at each character.
_BASIC = frozenset(
    char
    for char in (bytes([code]).decode("gsm03.38", errors="ignore") for code in range(128))
    if len(char) == 1 and _septets(char) == 1
)


def encoding_of(text: str) -> str:
    if _BASIC.issuperset(text or ""):
        return GSM_7
    return GSM_7 if all(_septets(char) is not None for char in text) else UCS_2


def _widths(text: str) -> tuple[str, list[int]]:
    encoding = encoding_of(text)
    if encoding == GSM_7:
        return encoding, [_septets(char) or 1 for char in text]
    return encoding, [utf16_units(char) for char in text]


def segment_count(text: str) -> int:
    """Segments a carrier bills for `text`; an escape pair or surrogate pair never straddles two."""
    if _BASIC.issuperset(text or ""):
        return (
            1 if len(text or "") <= SINGLE_SEGMENT[GSM_7] else -(-len(text) // PER_SEGMENT[GSM_7])
        )
    return _segments_by_width(text)


def _segments_by_width(text: str) -> int:
    encoding, widths = _widths(text)
    if sum(widths) <= SINGLE_SEGMENT[encoding]:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > PER_SEGMENT[encoding]:
            segments, used = segments + 1, 0
        used += width
    return segments


def message_length(text: str) -> int:
    """Length as Twilio's 1600 limit counts it, in UTF-16 units (an emoji is 2), to be safe:
    as the text's UTF-16 encoding counts them (a lone surrogate is one unit)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def within_units(text: str, units: int) -> int:
    """How many of `text`'s first characters fit in `units` UTF-16 units (Twilio's count)."""
    count, used = 0, 0
    for char in text:
        used += utf16_units(char)
        if used > units:
            break
        count += 1
    return count
