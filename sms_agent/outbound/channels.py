"""WhatsApp beside SMS: the address Twilio needs, the 24-hour window, and shaping.

WhatsApp has no segments (Twilio prices it per message) and renders *bold*, _italic_,
~strike~, ```monospace``` and lists (but no tables), so an answer keeps its formatting
there, translated from the model's Markdown, and keeps its emoji and letters (no GSM-7
flattening). One message holds what Twilio takes in one Body, 1,600 characters (error
21617; WhatsApp's own 4,096 is never reached through Twilio); what does not fit waits for
MORE, as on SMS.

WhatsApp lets a business message someone only within 24 hours of their last message (the
customer service window); Twilio refuses anything later (error 63016). `window_problem`
is the reason outbound.send refuses it first, so staff and the API get a 409 instead of a failure.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from flask import current_app

from ..clean_text import readable
from ..models import Channel, User, utcnow
from . import cuts, task_lists, whatsapp_spans
from .closing_marks import ClosedMarks
from .footnotes import footnotes_to_text
from .gsm import ELLIPSIS, message_length, within_units
from .html_tags import STAND_IN, STOOD_IN, about_markup, html_tags_to_text, link_words
from .latex import latex_to_text
from .markdown import (
    PANDOC_MARKS,
    alerts_to_labels,
    inline_references,
    reference_definitions,
    tables_to_text,
    without_pandoc_marks,
)
from .python_names import PYTHON_NAMES
from .shape import Shaped, marker_for, reply_language, tidy_lines, unwrapped
from .split import MAX_MESSAGE_CHARS

#: The longest Body Twilio sends, WhatsApp included (error 21617), as message_length counts.
WHATSAPP_MAX_CHARS = MAX_MESSAGE_CHARS
WHATSAPP_ENCODING = "UTF-8"
PREFIX = "whatsapp:"


#: The texter being answered and the channel their text came on (see `replying_on`).
_REPLYING_ON: ContextVar[tuple[str, str] | None] = ContextVar("replying_on", default=None)


def channel_of(user: User) -> str:
    """The channel a message to `user` goes on: the one the text being answered came on
    (`replying_on`), else the one they last wrote on."""
    replying = _REPLYING_ON.get()
    if replying is not None and replying[0] == user.phone_number:
        return replying[1]
    return user.channel


def is_whatsapp(user: User) -> bool:
    return channel_of(user) == Channel.WHATSAPP


@contextmanager
def replying_on(phone: str, written_to: str | None) -> Iterator[None]:
    """Everything sent to the texter of `phone` meanwhile answers a text written to
    `written_to`, the address of ours it came to ("whatsapp:+1..." or "+1...", Twilio's
    To): it goes back on that text's channel, shaped and priced for it, even if the texter
    has written on the other one since (`User.channel` is the channel they wrote on last).
    Unknown (None), it is the channel they wrote on last."""
    if not written_to:
        yield
        return
    channel = Channel.WHATSAPP if written_to.startswith(PREFIX) else Channel.SMS
    token = _REPLYING_ON.set((phone, channel.value))
    try:
        yield
    finally:
        _REPLYING_ON.reset(token)


def address(number: str, channel: str) -> str:
    """What Twilio's To and From need: "whatsapp:+1..." on WhatsApp, the number on SMS."""
    return PREFIX + number if channel == Channel.WHATSAPP else number


#: Mexico's mobile numbers took a 1 after +52 until its dial plan dropped it in 2019, and
#: WhatsApp still writes them with it: Twilio's From "whatsapp:+5215512345678" is the texter
#: of +525512345678, a number whose old form phonenumbers calls impossible.
_MEXICO_AS_WHATSAPP_WRITES_IT = re.compile(r"\+521(\d{10})")
_MEXICO = re.compile(r"\+52(\d{10})")
#: Brazil's mobile numbers took a 9 after the area code (2012-2016), and WhatsApp still
#: writes many accounts older than that without it, outside São Paulo and Rio mostly: Twilio's
#: From "whatsapp:+558187654321" is the texter of +5581987654321. Mobiles began with 6 to 9
#: before it; an eight-digit number beginning with 2 to 5 is a landline, as it was.
_BRAZIL_BEFORE_THE_NINE = re.compile(r"\+55([1-9]{2})([6-9]\d{7})")
#: Where User.service_state keeps how WhatsApp writes the texter's number when that is not
#: their number, nor Mexico's form of it (`recipient`): a Brazilian account from before the
#: nine, which WhatsApp delivers to only as it writes it.
WHATSAPP_NUMBER = "whatsapp_number"
_E164 = re.compile(r"\+\d{6,15}")


def phone_of(whatsapp_number: str) -> str:
    """The phone number a WhatsApp address names ("+5215512345678" is "+525512345678",
    "+558187654321" is "+5581987654321"), so that the texter is one with the SMS of the
    same number."""
    number = whatsapp_number.strip()
    if mexican := _MEXICO_AS_WHATSAPP_WRITES_IT.fullmatch(number):
        return "+52" + mexican[1]
    if brazilian := _BRAZIL_BEFORE_THE_NINE.fullmatch(number):
        return f"+55{brazilian[1]}9{brazilian[2]}"
    return whatsapp_number


def note_whatsapp_number(user: User, whatsapp_number: str) -> None:
    """Keep how WhatsApp wrote this texter (Twilio's From less "whatsapp:") when replies
    could not be addressed so from their number alone; written only when it changes (an
    account registered anew comes with the nine)."""
    written = whatsapp_number.strip()
    usual = _by_rule(user.phone_number)
    wanted = written if written != usual and _E164.fullmatch(written) else None
    if user.service_state.get(WHATSAPP_NUMBER) == wanted:
        return
    state = {key: value for key, value in user.service_state.items() if key != WHATSAPP_NUMBER}
    user.service_state = {**state, WHATSAPP_NUMBER: wanted} if wanted else state


def recipient(user: User, channel: str) -> str:
    """The texter's number as Twilio's To names it on `channel` (the backend adds the
    "whatsapp:"): on WhatsApp as WhatsApp writes it, as it last wrote it (a Brazilian
    account without its nine), else Mexico's with its 1 (see phone_of)."""
    if channel != Channel.WHATSAPP:
        return user.phone_number
    return user.service_state.get(WHATSAPP_NUMBER) or _by_rule(user.phone_number)


def _by_rule(phone: str) -> str:
    mexican = _MEXICO.fullmatch(phone)
    return "+521" + mexican[1] if mexican else phone


def window_closes(user: User):
    """When WhatsApp's window for this texter closes (None: it was never opened)."""
    if user.last_whatsapp_at is None:
        return None
    return user.last_whatsapp_at + timedelta(hours=current_app.config["WHATSAPP_WINDOW_HOURS"])


def window_problem(user: User) -> str | None:
    """Why nothing may be sent to this WhatsApp texter now, or None (SMS, or window open)."""
    if not is_whatsapp(user):
        return None
    closes = window_closes(user)
    if closes is not None and closes > utcnow():
        return None
    hours = current_app.config["WHATSAPP_WINDOW_HOURS"]
    return (
        f"WhatsApp allows messages only within {hours} hours of the texter's last message, "
        "and this texter has not written since"
    )


# -- shaping ----------------------------------------------------------------------------------
_FENCE = re.compile(r"(```.*?```)", re.S)
#: A code block's marks, and what closes one a cut leaves open (before the MORE marker).
FENCE = "```"
_CLOSE = "\n" + FENCE + "\n"
#: A fenced block's info string ("```python"): WhatsApp knows none and would show it as the
#: block's first line.
_INFO_STRING = re.compile(r"\A```[^\n`]*\n")
#: WhatsApp's bold italic, *_x_*, its marks as stand-ins (U+E000 + their code, see _ESCAPED)
#: until the rules after it, which would read them as Markdown's, are done.
_BOLD_ITALIC = "\ue02a\ue05f\\1\ue05f\ue02a"


#: Emphasis inside emphasis that ends or begins with it, as CommonMark reads "**a *b***"
#: (bold a, bold italic b), "***a* b**", "*a **b***" and "***a** b*": whole, before the
#: rules for ***, * and ** each take a part of its stars. No part reads a star, so each
#: opening mark is read only up to the next star (linear time). WhatsApp's marks are
#: written as stand-ins, as in _BOLD_ITALIC.
_OPEN, _CLOSE_MARK = r"(?<![*\w])", r"(?![*\w])"
_WORDS, _INNER = r"([^*\n]*?)", r"(?![\s*])([^*\n]+?)(?<![\s*])"
_NESTED_ENDING_TOGETHER = [
    (  # **bold *bold italic***
        re.compile(rf"{_OPEN}\*\*(?![\s*]){_WORDS}\*{_INNER}\*\*\*{_CLOSE_MARK}"),
        "\ue02a\\1\ue05f\\2\ue05f\ue02a",
    ),
    (  # ***bold italic* bold**
        re.compile(rf"{_OPEN}\*\*\*{_INNER}\*{_CLOSE_MARK}{_WORDS}(?<![\s*])\*\*{_CLOSE_MARK}"),
        "\ue02a\ue05f\\1\ue05f\\2\ue02a",
    ),
    (  # *italic **bold italic***
        re.compile(rf"{_OPEN}\*(?![\s*]){_WORDS}\*\*{_INNER}\*\*\*{_CLOSE_MARK}"),
        "\ue05f\\1\ue02a\\2\ue02a\ue05f",
    ),
    (  # ***bold italic** italic*
        re.compile(rf"{_OPEN}\*\*\*{_INNER}\*\*{_CLOSE_MARK}{_WORDS}(?<![\s*])\*{_CLOSE_MARK}"),
        "\ue05f\ue02a\\1\ue02a\\2\ue05f",
    ),
]


def _image_words(image: re.Match) -> str:
    """![alt](src "title") as "alt (src)", or the bare src, as markdown_to_text writes it:
    by link_words, so never a script's or data: address."""
    inside = image[2].strip()
    if inside.startswith("<") and ">" in inside:  # <an address with spaces> "title"
        src = inside[1 : inside.index(">")]
    else:
        src = (inside.split() or [""])[0]
    return link_words(image[1].strip(), src)


def _bold_unless_python(strong: re.Match) -> str:
    """__bold__ as *bold*, but __init__ as written: Python's name (PYTHON_NAMES)."""
    return strong[0] if strong[1] in PYTHON_NAMES else f"*{strong[1]}*"


def _bold_line(heading: re.Match) -> str:
    """A heading as one bold line: the bold its words had already is the heading's own."""
    return "*" + heading[1].replace("*", "") + "*"


#: In this order: list markers before emphasis ("* item" is not emphasis), bold italics
#: before italics, single-star italics before double-star bold (whose output is single
#: stars), headings last.
_RULES = [
    (PANDOC_MARKS, without_pandoc_marks),  # H~2~O, 2^10^, ==key==: before ~strike~
    # A rule (---, or * * * with spaces between, as CommonMark allows): nothing.
    (re.compile(r"^[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$", re.M), ""),
    # A linked image: the link, its words the image's alt text ([![logo](src)](href) is
    # "logo (href)", [![](src)](href) the href). An image: its alt text and its address, as
    # on SMS. A link: its words and address as on SMS (link_words: never a script's
    # address), without the title it may have ([docs](url "The docs")). None reads past a
    # "[" (nor an image past a "("): from each "[" of many that nothing closes, they read
    # on to the end of the line (seconds for 50,000).
    (re.compile(r"\[!\[([^\[\]]*)\]\((?:[^()]|\([^()]*\))*\)\]"), r"[\1]"),
    (re.compile(r"!\[([^\[\]]*)\]\(((?:[^()]|\([^()]*\))*)\)"), _image_words),
    (
        re.compile(
            r"\[([^\[\]]*)\]\((?:<([^<>\n]*)>|((?:[^\s\[()<>]|\([^\s()]*\))*))"
            r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\)"
        ),
        lambda link: link_words(link[1], link[2] or link[3] or ""),
    ),
    (
        re.compile(r"<([a-zA-Z][\w+.-]{1,31}:[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.\w+)>"),  # <url>
        lambda url: link_words(url[1], url[1]),
    ),
    (re.compile(r"^([ \t]*)[*+][ \t]+", re.M), r"\1- "),  # "* item" -> "- item"
    (task_lists.ITEM, task_lists.item_line),  # "- [x] item" -> "- item (done)"
    *_NESTED_ENDING_TOGETHER,
    (ClosedMarks(r"\*\*\*(?![\s*])(.+?)(?<![\s*])\*\*\*", r"(?<![\s*])\*\*\*"), _BOLD_ITALIC),
    (
        ClosedMarks(r"(?<!\w)___(?![\s_])(.+?)(?<![\s_])___(?!\w)", r"(?<![\s_])___(?!\w)"),
        _BOLD_ITALIC,
    ),
    (
        ClosedMarks(r"(?<![*\w])\*(?![\s*])(.+?)(?<![\s*])\*(?![*\w])", r"(?<![\s*])\*(?![*\w])"),
        r"_\1_",
    ),
    (ClosedMarks(r"\*\*(?!\s)(.+?)(?<!\s)\*\*", r"(?<!\s)\*\*"), r"*\1*"),  # **bold** -> *bold*
    (ClosedMarks(r"(?<!\w)__(?!\s)(.+?)(?<!\s)__(?!\w)", r"(?<!\s)__(?!\w)"), _bold_unless_python),
    (ClosedMarks(r"~~(?!\s)(.+?)(?<!\s)~~", r"(?<!\s)~~"), r"~\1~"),  # ~~strike~~ -> ~strike~
    # A backslash ending a line (an escaped one waits as a stand-in): Markdown's line break.
    (re.compile(r"\\(?=\n)"), ""),
    (re.compile(r"^[ \t]*#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M), _bold_line),  # heading
    (re.compile(r"^[ \t]*(\S.*?)[ \t]*\n[ \t]*=+[ \t]*$", re.M), _bold_line),  # Title\n=====
]


#: Markdown's backslash escapes ("my\\_var", "\\*not italic\\*") and HTML entities ("&amp;",
#: "&#42;", which a model writes as it would on a web page) outside inline code: the
#: character itself, as markdown_to_text reads them for SMS. An ASCII one, which the rules
#: below must not read as a mark, waits as a private-use stand-in meanwhile. Only an entity
#: with its semicolon counts, as in CommonMark: a URL's "&copy=2" stays as written. Inline
#: code's own marks wait so too, and are shown as written ("`__init__`").
_BACKSLASH_ESCAPE = r"\\([!-/:-@\[-`{-~])"
_ESCAPED = re.compile(
    r"(`[^`\n]*`)"  # inline code: as written
    rf"|{_BACKSLASH_ESCAPE}"  # a backslash escape
    r"|(&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)"  # an entity
    r"|(https?://[^\s<>\[\]]*[^\s<>\[\]*_~.,;:!?'\"()\\])"  # an address: see _stand_in
)
#: An address's escapes ("https://x.org/my\\_page", as a model escapes the marks of words):
#: the characters themselves, as SMS reads them; kept, the link led nowhere.
_ESCAPE_IN_ADDRESS = re.compile(_BACKSLASH_ESCAPE)
#: An escaped mark ("\\*", "&#42;": the model means the star, not bold) waits as a stand-in
#: of its own, apart from an address's marks. WhatsApp has no escapes: where it would read
#: such marks as a span, they are written as look-alikes it does not read (_marks_shown).
_ESCAPED_MARK = 0xE100
_LOOK_ALIKES = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_ESCAPED_MARKS = {_ESCAPED_MARK + ord(mark): mark for mark in _LOOK_ALIKES}
_AN_ESCAPED_MARK = re.compile("[" + "".join(map(chr, _ESCAPED_MARKS)) + "]")
#: The marks an address may hold that the rules would read as emphasis or strike-through
#: ("https://x.org/*a*", ".../Foo_(bar)_baz_"): they wait as stand-ins, the address kept.
_ADDRESS_MARKS = {ord(mark): STAND_IN + ord(mark) for mark in "*_~"}


def to_whatsapp_text(text: str | None, question: str = "") -> str:
    """The model's Markdown as WhatsApp shows it; code blocks are left as they are (less
    their language name), and tables and footnotes, which WhatsApp cannot show, become
    "header: value" lines and numbered notes as on SMS. HTML tags are read as on SMS too: a
    <br> is a new line, <b> and its like go, unless the texter asked about markup
    (about_markup), when they are the answer."""
    markdown = footnotes_to_text(latex_to_text(unwrapped(readable(text or ""), question)))
    if markdown.count(FENCE) % 2:
        # A block never closed (the token limit cut the answer inside its code) runs to
        # the end, as Markdown reads it; WhatsApp would show its ``` and language name.
        markdown += _CLOSE.rstrip()
    markdown, references = reference_definitions(markdown)
    pieces = _FENCE.split(tables_to_text(markdown))
    tags_as_written = about_markup(question)
    for index in range(1, len(pieces), 2):
        pieces[index] = _INFO_STRING.sub("```\n", pieces[index])
    for index in range(0, len(pieces), 2):  # the odd ones are ```code```
        piece = _ESCAPED.sub(_stand_in, alerts_to_labels(pieces[index]))
        if references:  # after _ESCAPED: code's and escaped brackets are no link's
            piece = inline_references(piece, references)
        if not tags_as_written:
            piece = html_tags_to_text(piece)
        for pattern, replacement in _RULES:
            piece = pattern.sub(replacement, piece)
        pieces[index] = piece.translate(STOOD_IN)
    text = _marks_shown("".join(pieces))
    if task_lists.DONE in text:  # a ticked item's "(done)", in the reply's language
        text = task_lists.said_done(text, reply_language(question, text))
    return tidy_lines(readable(text))


def _stand_in(match: re.Match) -> str:
    code, escaped, entity, address = match[1], match[2], match[3], match[4]
    if address:  # the marks around it (**https://x.org**) are not in it: they still count
        return _ESCAPE_IN_ADDRESS.sub(r"\1", address).translate(_ADDRESS_MARKS)
    if code:  # its marks wait as stand-ins too, so that no rule reads them
        return "`" + "".join(map(_ascii_stand_in, code[1:-1])) + "`"
    char = escaped or html.unescape(entity)
    if char in _LOOK_ALIKES:
        return chr(_ESCAPED_MARK + ord(char))
    return _ascii_stand_in(char) if len(char) == 1 else char


def _marks_shown(text: str) -> str:
    """Each escaped mark as itself, or as its look-alike where WhatsApp would read it as a
    span's ("\\*asterisks\\*" would show "asterisks" bold, the stars gone); one it would
    show as written anyway ("\\*67", "5 \\* 3") stays the mark."""
    if not _AN_ESCAPED_MARK.search(text):
        return text
    lines = []
    for line in text.split("\n"):
        shown = line.translate(_ESCAPED_MARKS)
        chars = list(shown)
        for mark, look_alike in _LOOK_ALIKES.items():
            for span in whatsapp_spans.spans(shown, mark):
                for at in span:
                    if ord(line[at]) in _ESCAPED_MARKS:
                        chars[at] = look_alike
        lines.append("".join(chars))
    return "\n".join(lines)


def _ascii_stand_in(char: str) -> str:
    return chr(STAND_IN + ord(char)) if ord(char) < 128 and not char.isalnum() else char


_STRIKE = re.compile(r"(?<![~\w])~(?![\s~])(.+?)(?<![\s~])~(?![~\w])")


def whatsapp_to_markdown(text: str) -> str:
    """WhatsApp's formatting read back as Markdown, which it nearly is already (*bold* and
    _italic_ are Markdown's emphasis, ``` its code): only ~strike~ needs a second tilde."""
    pieces = _FENCE.split(text)
    for index in range(0, len(pieces), 2):
        pieces[index] = _STRIKE.sub(r"~~\1~~", pieces[index])
    return "".join(pieces)


def cut_for_whatsapp(text: str, marker: str = "") -> tuple[str, str, str]:
    """(what to send, the text it carries, the rest) within one WhatsApp message; a code
    block the cut falls inside is closed there and opened again at the rest."""
    if message_length(text) <= WHATSAPP_MAX_CHARS:
        return text, text, ""
    reserve = len(_CLOSE) if FENCE in text else 0  # room to close a block cut through
    reserve += whatsapp_spans.RESERVE  # and the *bold* (_italic_...) spans it goes through
    budget = WHATSAPP_MAX_CHARS - message_length(marker) - 3 - reserve
    room = within_units(text, budget)  # an emoji counts twice
    window = text[: room + 1]
    sentences = [cut for cut in cuts.sentence_cuts(window) if cut <= room]
    words = [cut for cut in cuts.word_cuts(window) if cut <= room]
    at_sentence = bool(sentences) and sentences[-1] >= 0.9 * (words[-1] if words else room)
    anywhere = cuts.last_character_cut(text, room)
    cut = sentences[-1] if at_sentence else words[-1] if words else anywhere
    opened = _open_fence(text[:cut])
    if opened is not None:
        return _cut_in_code(text, cut, opened, marker)
    # A span cut through is closed here and opened again at the rest (see whatsapp_spans).
    spans = whatsapp_spans.cut_through(text, cut)
    head, closing = text[:cut].rstrip(), spans[::-1]
    ellipsis = "" if at_sentence else ELLIPSIS  # after the span's close: not formatted
    shown = cuts.with_ellipsis(head).removesuffix(ellipsis) if ellipsis else head
    return shown + closing + ellipsis + marker, head + closing, spans + cuts.rest_after(text, cut)


def _open_fence(head: str) -> int | None:
    """Where the ```block``` that `head` ends inside begins; None when it ends outside."""
    fences = [match.start() for match in re.finditer(FENCE, head)]
    return fences[-1] if len(fences) % 2 else None


def _cut_in_code(text: str, cut: int, opened: int, marker: str) -> tuple[str, str, str]:
    """A cut inside a ```block``` closes it in this message and opens it again in the rest:
    left open, WhatsApp shows the ``` as written and the rest's code in its own font,
    reading its * and _ as formatting. The cut is at a line's end when the block has one
    (no "..." in code), and the MORE marker goes on a line of its own, after the block."""
    line_end = text.rfind("\n", opened, cut)
    if text.find("\n", opened) < line_end:  # a line of code ends within the room
        cut = line_end
    head = text[:cut].rstrip()
    shown = head + _CLOSE + marker.strip() if marker else head + _CLOSE.rstrip()
    return shown, head + _CLOSE.rstrip(), FENCE + "\n" + cuts.rest_after(text, cut)


def shape_whatsapp(
    text: str | None,
    *,
    question: str = "",
    plain: bool = False,
    more: bool = False,
    as_written: bool = False,
    known: str | None = None,
) -> Shaped:
    """One WhatsApp message for `text` (an answer to `question`); with `more`, a cut ends
    with the MORE marker and the rest is kept for MORE (`plain`: a kept rest, formatted already).
    `as_written`: a person's text (staff's), whose *bold*, _italic_ and ~strike~ are
    WhatsApp's own, not a model's Markdown to translate; only what no one sees goes."""
    if plain:
        clean = cuts.without_blank_ends(text)
    elif as_written:
        clean = tidy_lines(readable(text or ""))
    else:
        clean = to_whatsapp_text(text, question)
    if not clean.strip():
        return Shaped([])
    marker = marker_for(question, clean, known) if more else ""
    shown, sent, rest = cut_for_whatsapp(clean, marker)
    return Shaped([shown], sent, rest if more else "", WHATSAPP_ENCODING, cut=bool(rest))
