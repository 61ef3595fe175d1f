"""HTML a browser reads otherwise than its tags suggest, rewritten before the tags are read
(html_tags.py): tags whose attributes "/" separates, the word break after a player, MathML's
layout (a power, a fraction, a root) and ruby's readings.

Markdown reads "<img/src=x/onerror=...>" as text, where a browser reads a picture whose
"/"s are spaces; the text after <audio>...</audio> ran into the word before it; and MathML
lost its layout with its tags (x squared read "x2", one half "12"). Code the answer shows
(in backticks or a fence) is left as written.
"""

from __future__ import annotations

import re

#: The tags html_tags.py reads as pictures, players, frames or hidden code, written with
#: "/" where a space goes ("<svg/onload=...>"); "<br/>" and "and/or" are no such tag.
_SLASHED = re.compile(
    r"<(img|svg|iframe|frame|embed|object|video|audio|source|picture|canvas|script|style"
    r"|input|button|form|math|a)/(?=[^\s/>])([^<>]*)>",
    re.IGNORECASE,
)
_ATTRIBUTE_SLASH = re.compile(r"/(?=[A-Za-z_:][\w:.-]*\s*=)")
#: A player's or frame's closing tag right before a word: a browser shows the player
#: between them.
_PLAYER_END = re.compile(r"(</(?:audio|video|iframe|object|canvas)\s*>)(?=\w)", re.IGNORECASE)
#: Code the answer shows: a fenced block, or a span in backticks.
_CODE = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1[^\n]*$|\Z)|(`+)[^`].*?\2", re.M | re.S)


def as_browsers_read(text: str) -> str:
    """`text` outside its code with the rewrites above; as it was when it holds no tag."""
    if "<" not in text:
        return text
    kept, start = [], 0
    for code in _CODE.finditer(text):
        kept += [_rewritten(text[start : code.start()]), code[0]]
        start = code.end()
    kept.append(_rewritten(text[start:]))
    return "".join(kept)


def _rewritten(html: str) -> str:
    if "<" not in html:
        return html
    html = _SLASHED.sub(_spaced, html)
    html = _PLAYER_END.sub(r"\1 ", html)
    if "</rt" in html.lower():
        html = _readings(html)
    if _MATH_LAYOUT.search(html):
        html = math_to_text(html)
    return html


def _spaced(tag: re.Match) -> str:
    return f"<{tag[1]} {_ATTRIBUTE_SLASH.sub(' ', tag[2])}>"


# -- ruby --------------------------------------------------------------------------------------
_RUBY_PARENTHESES = re.compile(r"<rp\b[^<>]*>[^<]*</rp\s*>", re.IGNORECASE)
_RUBY_TAG = re.compile(r"</?(?:ruby|rb|rtc)\b[^<>]*>", re.IGNORECASE)
_READING_OPEN = re.compile(r"<rt\b[^<>]*>", re.IGNORECASE)
_READING_CLOSE = re.compile(r"</rt\s*>", re.IGNORECASE)


def _readings(html: str) -> str:
    """Ruby as a browser without ruby shows it: each reading in brackets after its word
    ("漢(kan)"); the brackets <rp> holds for such browsers are these."""
    html = _RUBY_TAG.sub("", _RUBY_PARENTHESES.sub("", html))
    return _READING_CLOSE.sub(")", _READING_OPEN.sub("(", html))


# -- MathML ------------------------------------------------------------------------------------
_MATH_LAYOUT = re.compile(
    r"</(?:msup|msub|msubsup|mfrac|msqrt|mroot|mover|munder|munderover|mfenced|mtable)\s*>",
    re.IGNORECASE,
)
_MATH_NAMES = (
    "math|mi|mn|mo|ms|mtext|mrow|mstyle|mpadded|mphantom|menclose|merror|mfenced|msup|msub"
    "|msubsup|mfrac|msqrt|mroot|mover|munder|munderover|mtable|mtr|mtd|semantics"
    "|annotation-xml|annotation"
)
#: An element holding no other tag: the innermost, read first.
_INNERMOST = re.compile(rf"<({_MATH_NAMES})\b[^<>]*>([^<>]*)</\1\s*>", re.IGNORECASE)
_EMPTY = re.compile(r"<(?:mspace|none|mprescripts|malignmark|maligngroup)\b[^<>]*/?>", re.I)
#: What an element read already becomes until its parent is read: its text between these.
_OPEN, _CLOSE = "\ue0f0", "\ue0f1"
_READ = re.compile(f"{_OPEN}([^{_OPEN}{_CLOSE}]*){_CLOSE}")
#: How deep elements are read; deeper ones (no formula nests so far) keep their tags.
_DEEPEST = 20


def math_to_text(html: str) -> str:
    """`html` with its MathML written as LaTeX's is (latex.py): "x^2", "(a+b)/2", "sqrt(2)"."""
    html = _EMPTY.sub("", html)
    for _ in range(_DEEPEST):
        read = _INNERMOST.sub(_element, html)
        if read == html:
            break
        html = read
    return html.replace(_OPEN, "").replace(_CLOSE, "")


def _group(text: str) -> str:
    """A power's, index's or fraction's part, in brackets unless it is one word or number."""
    return text if len(text) <= 1 or text.isalnum() else f"({text})"


def _element(element: re.Match) -> str:
    name, content = element[1].lower(), element[2]
    parts = _READ.findall(content)
    if not parts and name not in ("annotation", "annotation-xml"):
        return _OPEN + " ".join(content.split()) + _CLOSE  # a token: mi, mn, mo, mtext...
    return _OPEN + _layout(name, parts) + _CLOSE


def _layout(name: str, parts: list[str]) -> str:
    if name in ("annotation", "annotation-xml"):
        return ""  # another form of the formula (its TeX): the formula is shown once
    if name in ("msup", "msub", "mfrac", "mroot") and len(parts) == 2:
        base, other = parts
        if name == "mfrac":
            return f"{_group(base)}/{_group(other)}"
        if name == "mroot":
            return f"{_group(base)}^(1/{other})"
        return f"{base}{'^' if name == 'msup' else '_'}{_group(other)}"
    if name == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{_group(parts[1])}^{_group(parts[2])}"
    if name == "msqrt":
        return f"sqrt({''.join(parts)})"
    if name == "mfenced":
        return f"({','.join(parts)})"
    if name == "mtr":
        return ", ".join(parts)
    if name == "mtable":
        return "; ".join(parts)
    return "".join(parts)
