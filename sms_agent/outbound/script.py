"""Which script a reply's language is written in, and GSM-7 for a reply in Latin letters.

A reply goes UCS-2 only when its language needs letters GSM-7 lacks: the texter wrote
Chinese, Greek, Arabic..., or the answer quotes words in such a script. A symbol, an accent
GSM-7 lacks ("naïve", "Łódź") or a lone Greek letter (π) in an English answer is spelled in GSM-7
or dropped instead, since it would otherwise cut the characters a segment carries from 160
to 70.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter

from anyascii import anyascii

from .gsm import GSM_7, UCS_2, encoding_of, in_gsm_7

LATIN = "Latin"
_NAMES = {
    "CJK": "Chinese",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "HANGUL": "Korean",
    "GREEK": "Greek",
    "CYRILLIC": "Cyrillic",
    "ARABIC": "Arabic",
    "HEBREW": "Hebrew",
    "DEVANAGARI": "Devanagari",
    "THAI": "Thai",
    "LATIN": LATIN,
}
#: Scripts whose single characters are words: never spelled out in Latin letters.
_WORD_PER_CHARACTER = {"Chinese", "Japanese", "Korean", "Thai"}
#: Spellings where anyascii's would mislead: it writes ∈ and ∉ alike as "E", ∀ as "V",
#: ∫ as "S", ‰ as "%0".
_SPELLED = {
    "\u00b5": "mu",
    "\u2211": "sum",
    "\u220f": "product",
    "\u2206": "\u0394",
    "\u2022": "-",
    "\u2208": "in",
    "\u2209": "not in",
    "\u2200": "for all",
    "\u2203": "exists",
    "\u2204": "no",
    "\u2205": "empty set",
    "\u2229": "intersect",
    "\u222a": "union",
    "\u2227": "and",
    "\u2228": "or",
    "\u222b": "integral",
    "\u222e": "integral",
    "\u210f": "hbar",
    "\u2030": "per mille",
    # anyascii's "<" and ">" for these read as comparisons, its "D" and "+" as letters and sums
    "\u2282": "subset of",
    "\u2286": "subset of",
    "\u2283": "superset of",
    "\u2287": "superset of",
    "\u2207": "nabla",
    "\u2220": "angle",
    "\u22a5": "perpendicular to",
    "\u2234": "therefore",
    "\u2235": "because",
    # a box or a note is a bullet or a decoration, not the "#" anyascii writes
    "\u25a0": "-",
    "\u25a1": "-",
    "\u2610": "-",
    "\u266a": "",
    "\u266b": "",
}
#: The keys of a Mac keyboard, as shortcuts are written ("⇧⌘P"): anyascii's "#", "^" and "*"
#: say nothing, so each is its key's name, joined to the key it is pressed with by "+".
_KEYS = {
    "\u2318": "Cmd",
    "\u2325": "Option",
    "\u21e7": "Shift",
    "\u2303": "Ctrl",
    "\u238b": "Esc",
    "\u21e5": "Tab",
    "\u23ce": "Enter",
    "\u21b5": "Enter",
    "\u232b": "Backspace",
    "\u2326": "Delete",
    "\u21ea": "Caps Lock",
}
#: Units written with a sign GSM-7 lacks, as a GSM-7 text writes them: "25°C", "-5 °F",
#: "25 ° c", "77℉" and the masculine ordinal Spanish keyboards type for the degree ("25 ºC")
#: are "25 C", "-5 F", "77 F" (one space, whether the model put one before the sign or not),
#: an angle's "45°" is "45 degrees" ("48.9°N" "48.9 degrees N": a letter after it stays a
#: word of its own), micrograms are "mcg", as prescriptions write them,
#: since "ug" is easily misread as "mg", and the micro prefix of other units is "u" ("5 um").
#: A micro sign before no unit is the letter (a mean, "µ = 0"): "mu", in _SPELLED.
_UNITS = [
    (
        re.compile(r"(?:\s?\u00b0|(?<=\d)\s?\u00ba)\s?([CFcf])\b|\s?([\u2103\u2109])"),
        lambda unit: " " + (unit[1] or "CF"[unit[2] == "\u2109"]).upper(),
    ),
    (re.compile(r"\s?\u00b0(?=\w)"), " degrees "),
    (re.compile(r"\s?\u00b0"), " degrees"),
    (re.compile(r"\u00b5g\b"), "mcg"),
    (re.compile(r"\u00b5(?=[A-Za-z])"), "u"),
]
#: A Greek mu after a number and before a unit ("5 μg", "10μm") is the micro prefix, which
#: models often write so: the micro sign, not a letter of Greek.
_MICRO_PREFIX = re.compile(r"(?<=\d)(\s?)\u03bc(?=[A-Za-z]{1,3}\b)")
#: A vulgar fraction after a whole number ("1½ cups"): spelled "1/2", it needs a space before
#: it, or the texter reads "11/2 cups".
_MIXED_NUMBER = re.compile(r"(?<=\d)(?=[\u00bc-\u00be\u2150-\u215e\u2189])")
#: A power written in superscripts ("2⁸", "10⁻³", "xⁿ"): one caret before the whole run, so
#: "2⁸ = 256" does not become "28 = 256" (anyascii drops the raise).
_SUPERSCRIPTS = (
    "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207a\u207b\u207f\u2071"
)
_SUPERSCRIPT = re.compile(f"[{_SUPERSCRIPTS}]+")
_AS_WRITTEN = str.maketrans(_SUPERSCRIPTS, "0123456789+-ni")


#: A raised ordinal suffix after a number ("2ⁿᵈ", "4ᵗʰ") is no power: written level, "2nd".
_ORDINAL = re.compile(r"(?<=\d)(\u02e2\u1d57|\u207f\u1d48|\u02b3\u1d48|\u1d57\u02b0)(?!\w)")


#: A root sign and what it covers ("√2", "√(x+1)", "∛27"): as a calculator writes it,
#: "sqrt(2)", as LaTeX's \\sqrt{2} reads (latex.py); anyascii's "sqrt2" reads as a name.
_ROOT = re.compile(r"([\u221a\u221b])\s?(?:\(([^()\n]*)\)|(\d+(?:[.,]\d+)?|[A-Za-z]\w*))")
_ROOT_NAMES = {"\u221a": "sqrt", "\u221b": "cbrt"}


def _roots(text: str) -> str:
    return _ROOT.sub(lambda root: f"{_ROOT_NAMES[root[1]]}({root[2] or root[3]})", text)


def _powers(text: str) -> str:
    text = _ORDINAL.sub(lambda suffix: anyascii(suffix.group()), text)
    return _SUPERSCRIPT.sub(lambda run: "^" + run.group().translate(_AS_WRITTEN), text)


def _micro_signs(text: str) -> str:
    return _MICRO_PREFIX.sub("\\1\u00b5", text)


@functools.lru_cache(maxsize=8192)
def script_of(char: str) -> str | None:
    """The script of a letter or vowel sign (Unicode's name says it); None for the rest.

    A letter GSM-7 spells as a symbol (the micro sign) is no script's; a compatibility form
    (a raised ⁿ, a full-width Ａ, a half-width ｱ) is its plain letter's script.
    """
    if not unicodedata.category(char).startswith(("L", "M")) or char in _SPELLED:
        return None
    plain = unicodedata.normalize("NFKC", char)[:1]
    if plain and plain != char:
        return script_of(plain)
    words = unicodedata.name(char, "").split()
    if not words or words[0] == "COMBINING":
        return None
    return _NAMES.get(words[0], words[0].title())


def _dominant(counts: Counter) -> str:
    if "Japanese" in counts:  # kana with kanji: Japanese, whatever the count of each
        counts = Counter({**counts, "Japanese": counts["Japanese"] + counts.pop("Chinese", 0)})
    return counts.most_common(1)[0][0]


def language_of(question: str, answer: str = "") -> str:
    """The script of the reply's language: the question's when most of its letters are of
    another script than Latin, else the answer's by the same rule, else Latin. A letter of
    another script standing alone ("μ = 0", "σ") is a symbol, not a word of its language:
    it is not counted, so it is spelled in GSM-7 ("mu") unless the question is in its script."""
    for text, signs in ((question, False), (answer, True)):
        if not text or text.isascii():
            continue  # its letters, if any, are Latin: no other script to count
        counts = Counter(_scripts_of_words(_micro_signs(text) if signs else text))
        latin = counts.pop(LATIN, 0)
        if counts and counts.total() >= latin:
            return _dominant(counts)
    return LATIN


def _scripts_of_words(text: str):
    """The script of each letter of `text` that is part of a word (any Latin letter)."""
    for index, char in enumerate(text):
        script = script_of(char)
        if script == LATIN or (script and _in_word(text, index, script)):
            yield script


def expected_encoding(question: str) -> str:
    """The encoding a reply to `question` will most likely need, before it is written."""
    return GSM_7 if language_of(question) == LATIN else UCS_2


def _in_word(text: str, index: int, script: str) -> bool:
    """Whether the letter at `index` is part of its script's words: a letter of it beside
    it, or past a space, so that a word of one letter in a phrase ("Я тебя люблю", Greek's
    "η γάτα") is a word too, not a symbol spelled in Latin ("Ya тебя люблю")."""
    if script in _WORD_PER_CHARACTER:
        return True
    return any(script_of(char) == script for char in _neighbours(text, index))


def _neighbours(text: str, index: int) -> str:
    """The characters nearest to text[index] on either side, past any spaces."""
    before, after = index - 1, index + 1
    while before >= 0 and text[before] == " ":
        before -= 1
    while after < len(text) and text[after] == " ":
        after += 1
    return (text[before] if before >= 0 else "") + text[after : after + 1]


def _spelled(char: str) -> str:
    """GSM-7 for one character: a Greek letter's name, a symbol's spelling, or nothing."""
    if char in _SPELLED:
        return _SPELLED[char]
    if script_of(char) == "Greek":
        name = unicodedata.name(char).split()[-1].lower().replace("lamda", "lambda")
        return name.capitalize() if unicodedata.category(char) == "Lu" else name
    spelled = anyascii(char)
    if _named_by_a_letter(char, spelled):
        return ""
    return spelled if all(in_gsm_7(c) for c in spelled) else ""


def _named_by_a_letter(char: str, spelled: str) -> bool:
    """A pictograph anyascii spells by the initial of its name (a heart suit "H", a chess
    king "K"): a stray letter the texter would read as a word. A letter drawn in a circle
    (a compatibility form, "ⓐ") is that letter."""
    return (
        len(spelled) == 1
        and spelled.isalpha()
        and unicodedata.category(char) == "So"
        and unicodedata.normalize("NFKC", char) == char
    )


def to_latin_reply(text: str) -> str:
    """`text` in GSM-7 except words of another script. Latin letters GSM-7 lacks lose their
    accent (ó, ł, ș become o, l, s: still readable, where UCS-2 would cost 2.3 times as
    many segments); GSM-7's own (é, ñ, ü, å...) stay."""
    text = _micro_signs(unicodedata.normalize("NFC", text))
    for unit, spelling in _UNITS:
        text = unit.sub(spelling, text)
    text = _roots(_powers(_MIXED_NUMBER.sub(" ", text)))
    if encoding_of(text) == GSM_7:
        return text  # each character is GSM-7's, which the loop below keeps as it is
    out, dropped = [], False
    for index, char in enumerate(text):
        script = script_of(char)
        if in_gsm_7(char):
            out.append(char)
        elif script not in (None, LATIN) and _in_word(text, index, script):
            out.append(char)
        elif char in _KEYS:
            out.append(_key(text, index))
        else:
            spelled = _spelled(char)
            named = char in _SPELLED or script == "Greek"
            word = _apart(text, index, spelled) if named else spelled
            out.append(word[1:] if word[:1] == " " and out and out[-1][-1:] == " " else word)
            dropped = dropped or not spelled
    result = "".join(out)
    return re.sub(r"(?<=\S) {2,}(?=\S)", " ", result) if dropped else result


def _key(text: str, index: int) -> str:
    """A keyboard key's name, with a "+" to the key or letter it is pressed with: "⌘C" is
    "Cmd+C", "⇧⌘P" "Shift+Cmd+P"."""
    after = text[index + 1 : index + 2]
    before = " " if index and text[index - 1].isalnum() else ""
    return before + _KEYS[text[index]] + ("+" if after.isalnum() or after in _KEYS else "")


def _apart(text: str, index: int, word: str) -> str:
    """A symbol or a Greek letter spelled as a word, with a space from a letter or digit
    beside it: "∀x" is "for all x", not "for allx", and "2πr" is "2 pi r", not "2pir"."""
    if len(word) < 2 or not word.isascii() or not word[0].isalpha():
        return word
    before = " " if index and text[index - 1].isalnum() else ""
    after = " " if text[index + 1 : index + 2].isalnum() else ""
    return before + word + after


def unicode_reason(text: str) -> str | None:
    """Why `text` needs UCS-2: the script of the letters GSM-7 lacks, or None if it doesn't."""
    outside = [char for char in text if not in_gsm_7(char)]
    if not outside:
        return None
    counts = Counter(script for char in outside if (script := script_of(char)))
    return _dominant(counts) if counts else "symbols"
