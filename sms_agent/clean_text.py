"""Text that comes from outside (a texter's SMS, a model's answer) made fit to store and to
read: the one home of that rule.

PostgreSQL text cannot hold a NUL, and no database can encode a lone surrogate (half of a
UTF-16 pair, which valid JSON may still carry as "\\ud800"): either fails the write, and
with it the task. Other control characters and terminal escape sequences (a model's ANSI
colours) are invisible on a phone, or show as stray "[31m".
"""

from __future__ import annotations

import re
import unicodedata

#: What no database column can hold.
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
#: Control characters but tab and newline (carriage returns too), DEL, the C1 controls,
#: lone surrogates, and the bidirectional embeddings, overrides and isolates: nothing a
#: reader sees, but an override ("\u202e") shows the words after it backwards, so a reply
#: in Chinese or Arabic (sent in UCS-2, which would keep it) would read wrongly. The marks
#: plain text needs (RLM, LRM, the joiners of Arabic or Persian) stay.
_INVISIBLE = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
INVISIBLE = re.compile(f"[{_INVISIBLE}]")
#: What a page or a terminal shows as its escape (shown_as_escapes): the invisible
#: characters, and the direction marks plain text may keep (LRM, RLM, the Arabic letter
#: mark), drawn as nothing yet turning the digits and punctuation around them ("100-200"
#: read "200-100"), as an override turns a whole run. Nothing is hidden from staff there.
_ESCAPED = re.compile(f"[{_INVISIBLE}\u200e\u200f\u061c]")
#: What one line of a text log may not hold: the invisible characters, and the line and
#: paragraph separators some log viewers break a line at.
_OFF_ONE_LINE = re.compile(f"[{_INVISIBLE}\u2028\u2029]")
#: Unicode categories nobody sees: control and format characters (zero-width spaces and
#: joiners, byte-order marks, soft hyphens, direction marks) and separators.
_UNSEEN = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_SELECTORS = "".join(map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))
#: Letters and symbols drawn as nothing, which apps and keyboards use to send a text that
#: looks empty: the Hangul fillers and the blank Braille pattern; the placeholder an
#: iPhone leaves in a text where a picture was attached (U+FFFC); and the marks that
#: change how the character before them is drawn but draw nothing themselves (the
#: combining grapheme joiner, the variation selectors).
BLANK_FILLERS = "\u115f\u1160\u3164\uffa0\u2800\ufffc\u034f" + _SELECTORS
_BLANK = frozenset(BLANK_FILLERS)
#: Line breaks other than a newline: CR LF, an old Mac's lone CR, NEL, and Unicode's line
#: and paragraph separators. Each is a newline to a reader; dropped with the controls, or
#: spelled as a space, they would join two lines into one ("openStep 2").
LINE_BREAK = re.compile(r"\r\n?|[\x85\u2028\u2029]")
#: Terminal escape sequences: CSI ("\x1b[31m"), OSC ("\x1b]0;title\x07") and the
#: two-character ones ("\x1bc").
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def storable(text: str) -> str:
    """`text` exactly as received, but for what a database cannot hold: a NUL or a lone
    surrogate becomes U+FFFD, which shows staff that something unreadable was there. For
    what a texter sent: their words are kept as they are."""
    return UNSTORABLE.sub("\ufffd", text)


def readable(text: str) -> str:
    """`text` with only what a reader sees: escape sequences and invisible characters are
    removed (every line break becomes a newline), tabs and newlines kept. For what a texter
    will read (a model's answer, a reply being shaped): there a U+FFFD would only reach them
    as a stray "?"."""
    return INVISIBLE.sub("", ANSI_ESCAPE.sub("", LINE_BREAK.sub("\n", text)))


def shown_as_escapes(text: str) -> str:
    """`text` fit to print on a terminal or a page: each invisible character and direction
    mark written as its escape (ESC as "\\u001b", as JSON writes it), so staff see it and
    the terminal does not obey it; a texter's ESC could otherwise set the window title,
    clear the screen or worse, a lone carriage return overwrite the line, an override
    reverse it. Line ends (CR LF
    too, as CSV writes them), newlines and tabs are kept."""
    return "\r\n".join(_ESCAPED.sub(_escape, line) for line in text.split("\r\n"))


def from_escapes(text: str, written_in: str | None = None) -> str:
    """shown_as_escapes undone: each escape of an invisible character ("\\u202e") is that
    character again, so a box that showed one as its escape reads back what it showed.
    What no column can hold (a NUL, a lone surrogate) stays written out: no stored text
    was shown with one, and typed, it would fail the save. An escape that `written_in`
    (the stored text the box showed) holds written out, as a model's answer about
    "\\u200b" does, is that text's own words and stays as written."""
    if "\\u" not in text:
        return text
    written = set(_AN_ESCAPE.findall(written_in or ""))
    return _AN_ESCAPE.sub(lambda match: _unescaped(match, written), text)


_AN_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescaped(match: re.Match, written: set[str]) -> str:
    char = chr(int(match.group(1), 16))
    if match.group(1) in written or not _ESCAPED.match(char) or UNSTORABLE.match(char):
        return match.group()
    return char


def on_one_line(text: str) -> str:
    """`text` fit for one line of a text log: its line breaks written as \\r and \\n, so
    what someone typed cannot pass for a line of ours, and every other invisible character
    as its escape, so a terminal tailing the log does not obey an ESC sequence (a window
    title, a cleared screen) or a direction override that someone put in a name or a URL."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return _OFF_ONE_LINE.sub(_escape, text) if _OFF_ONE_LINE.search(text) else text


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def first_unseen(text: str) -> str | None:
    """The first character of `text` nobody sees, but for a plain space (a control or
    format character, another kind of space), or None."""
    return next((c for c in text if c != " " and unicodedata.category(c) in _UNSEEN), None)


#: What a name staff read may not hold (name_problem): control and format characters (a
#: direction override, a zero-width space, a tag character), line and paragraph separators.
#: Spaces of every width stay (a Japanese name is typed with an ideographic one).
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: The format characters letters need: Persian writes ZWNJ inside a word, and emoji such as
#: a family are joined by ZWJ. Neither moves or hides the characters around it.
_JOINERS = frozenset("\u200c\u200d")


def unseen_refused(char: str) -> str:
    """Why a name or username holding `char`, which nobody sees, is refused."""
    return f"Only letters, digits, punctuation and spaces: this has U+{ord(char):04X}."


def name_problem(name: str) -> str | None:
    """Why `name` may not be a name staff read (a texter's, a token's label), or None. Each
    door a name is typed at (the API, the admin, the commands) refuses one with a control
    or format character: an override (U+202E) showed the words after it backwards in an
    admin cell ("Ann" + U+202E + "moc.elgoog" read "Ann google.com"), a zero-width space
    made two names that read alike. A name of nothing that shows is no name, not refused
    (User.full_name keeps it as ""). Usernames are stricter (models/staff.username_problem)."""
    if is_blank(name):
        return None
    hidden = next((c for c in name if _hidden_in_name(c)), None)
    return None if hidden is None else unseen_refused(hidden)


def seen_name(name: str) -> str:
    """A name nobody can be asked to fix (a WhatsApp profile's) as staff may read it: each
    run of spaces and line breaks one space, what else name_problem refuses dropped, and
    storable."""
    kept = "".join(c for c in name if c.isspace() or not _hidden_in_name(c))
    return " ".join(storable(kept).split())


def _hidden_in_name(char: str) -> bool:
    return char not in _JOINERS and unicodedata.category(char) in _NOT_IN_NAMES


#: What prose may not hold (prose_problem): INVISIBLE's controls but tab, LF, CR and NEL, and its
#: direction embeddings, overrides and isolates; a regular expression's class written alike
#: in Python and ECMAScript, so the API's OpenAPI document states the same rule.
#: The control characters alone (CONTROLS): a keyword beside one is read as Twilio might not.
CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f"
NOT_IN_PROSE = CONTROLS + r"\u202a-\u202e\u2066-\u2069"
_NOT_IN_PROSE = re.compile(f"[{NOT_IN_PROSE}]")


def prose_problem(text: str) -> str | None:
    """Why `text` may not be prose staff or a client write for staff to read (resolution
    notes, a task's answer or error, an error's message or stack trace), or None. Its line
    breaks (a form's CR LF too) and tabs stay, and so do the marks scripts need (RLM, LRM,
    the joiners, a soft hyphen); a direction embedding, override or isolate, or another
    control character, is refused naming it, as a name's is (name_problem): U+202E showed
    the rest of an admin cell backwards. Refused, not dropped, so nothing staff or a client
    wrote is changed behind their back. A texter's words are not prose: kept as sent."""
    hidden = _NOT_IN_PROSE.search(text)
    if hidden is None:
        return None
    where = f"U+{ord(hidden.group()):04X}"
    return f"Only text, spaces, tabs and line breaks: this has {where}, a control character."


#: Why a text that shows nothing (is_blank) is refused where staff or a client type one.
BLANK_REFUSED = "Write some text: spaces and invisible characters are not."


def is_blank(text: str) -> bool:
    """Whether `text` shows nothing at all: only spaces, invisible characters and blank
    fillers (an emoji or a lone "?" is something). A texted one gets the how-to notice,
    never the model."""
    return all(map(shows_nothing, text))


def shows_nothing(char: str) -> bool:
    """Whether `char` is drawn as nothing: a space, an invisible character or a blank
    filler. A keyword beside one is still the keyword (inbound/keywords.py)."""
    return unicodedata.category(char) in _UNSEEN or char in _BLANK
