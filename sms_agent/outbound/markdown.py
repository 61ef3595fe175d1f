"""Markdown to plain text for a phone screen, parsed with markdown-it rather than guessed at."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import takewhile

from markdown_it import MarkdownIt
from markdown_it.common.utils import normalizeReference
from markdown_it.token import Token

from .footnotes import footnotes_to_text
from .html_blocks import row_text
from .html_forms import as_browsers_read
from .html_tags import (
    LINK_CLOSING,
    STRUCK,
    HtmlReader,
    hidden_spans,
    html_reader,
    image_words,
    link_opening,
    link_words,
    linked_image_words,
)
from .link_labels import with_linear_labels
from .python_names import PYTHON_NAMES
from .task_lists import item_words

#: CommonMark's preset stops at 20 levels of nesting (a list ten deep) and drops the words
#: past them; a model's outline may go that deep, and the texter would never know. An
#: escaped character or an entity stays a token of its own (no "text_join"): an escaped
#: asterisk is the answer's own, which _UNPARSED_EMPHASIS must not read as a mark.
_PARSER = with_linear_labels(
    MarkdownIt("commonmark", {"html": True, "maxNesting": 100})
    .enable(["table", "strikethrough"])
    .disable("text_join")
)
#: Every link is read as one, a script's too ("[x](javascript:...)"), which markdown-it
#: would leave as written, address and all: link_words then keeps only its words.
_PARSER.validateLink = lambda url: True


#: GitHub's alerts, a quote that opens with "[!NOTE]" on a line of its own, as GPT and Claude
#: write a note or a warning: the texter reads the label, "Note: ...".
_ALERTS = "NOTE|TIP|IMPORTANT|WARNING|CAUTION"
_ALERT = re.compile(rf"\A\[!({_ALERTS})\][ \t]*\n?", re.IGNORECASE)
_QUOTED_ALERT = re.compile(
    rf"^([ \t]*>[ \t]*)\[!({_ALERTS})\][ \t]*\n(?:[ \t]*>[ \t]*)?", re.IGNORECASE | re.M
)


def _label(name: str) -> str:
    return name.capitalize() + ": "


def alerts_to_labels(markdown: str) -> str:
    """`markdown` (not code) with each alert's marker as its label, still quoted: for
    WhatsApp, which shows the quote but not the marker."""
    return _QUOTED_ALERT.sub(lambda alert: alert[1] + _label(alert[2]), markdown)


#: Pandoc's subscript (H~2~O) and superscript (2^10^), and the highlight of several Markdown
#: flavours (==key==), none of which a phone shows: the words, a power keeping its caret.
PANDOC_MARKS = re.compile(
    r"(?<!~)~([A-Za-z0-9]{1,6})~(?!~)|\^([A-Za-z0-9+-]{1,6})\^"
    r"|(?<![=\w])==(?=\S)([^=\n]+?)(?<=\S)==(?![=\w])"
)


def without_pandoc_marks(mark: re.Match) -> str:
    """For PANDOC_MARKS.sub: a mark's words."""
    subscript, power, highlighted = mark.groups()
    return subscript or (f"^{power}" if power else highlighted)


#: One line that starts with a letter and holds no character Markdown, HTML or an entity
#: gives a meaning to, no control character and no space at either end or two in a row: a
#: paragraph whose words markdown-it gives back as they are, so it is not parsed (a short
#: answer's commonest shape).
_PLAIN_LINE = re.compile(
    r"[^\W\d_][^\s\x00-\x1f\x7f\\`*_\[\]!<>&|~#=^{}$%@+]*"
    r"(?: [^\s\x00-\x1f\x7f\\`*_\[\]!<>&|~#=^{}$%@+]+)*"
)


def markdown_to_text(source: str, *, html_as_written: bool = False) -> str:
    """Headings, emphasis and code lose their markers but keep their words; links keep their URL.

    Lists stay one item a line ("- " or "1. "), tables become one "header: value" line per
    row, footnotes become numbered notes at the end (footnotes.py), and blocks are separated
    by one blank line. `html_as_written` keeps formatting tags and line breaks too (an answer
    about markup, about_markup).
    """
    source = footnotes_to_text(source if html_as_written else as_browsers_read(source))
    if _PLAIN_LINE.fullmatch(source):
        return source
    renderer = _render(source, html_as_written)
    if renderer.lazy_lines:  # read again with a blank line before each such paragraph
        starts, lines = set(renderer.lazy_lines), source.split("\n")
        spaced = ("\n" + line if number in starts else line for number, line in enumerate(lines))
        renderer = _render("\n".join(spaced), html_as_written)
    text = "\n".join(line.rstrip() for line in renderer.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _render(source: str, html_as_written: bool) -> _Renderer:
    renderer = _Renderer(html_reader(source, html_as_written), source.split("\n"))
    for token in _PARSER.parse(source):
        renderer.feed(token)
    return renderer


def tables_to_text(source: str) -> str:
    """`source` with each Markdown table written as markdown_to_text writes it (a "header:
    value" line per row), each indented code block fenced with ``` and everything else as
    it was: for WhatsApp, which shows the rest of the model's Markdown in its own marks but
    has no tables (the pipes and dashes would reach the texter as they are), and shows code
    as written only between ``` (an indented block's "*args" was read as italics)."""
    tokens = _PARSER.parse(source)
    lines = source.split("\n")
    # An answer indented whole is a model's indented prose, left to be read as prose.
    blocks = ("table_open", "code_block") if len(tokens) > 1 else ("table_open",)
    opened = [n for n, token in enumerate(tokens) if token.type in blocks]
    for start in reversed(opened):  # from the end, so earlier line numbers stay right
        first, last = tokens[start].map
        if tokens[start].type == "code_block":
            lines[first:last] = ["```", *tokens[start].content.rstrip("\n").split("\n"), "```"]
            continue
        renderer = _Renderer(source_lines=lines)
        for token in takewhile(lambda t: t.type != "table_close", tokens[start:]):
            renderer.feed(token)
        lines[first:last] = renderer.lines
    return "\n".join(lines)


#: A link or image that names its address by a label defined elsewhere ("[words][label]",
#: "[label][]", "[label]"), not one an address (or a definition) follows.
_REFERENCE = re.compile(r"(!?)\[([^\[\]\n]*)\](?:\[([^\[\]\n]*)\]|(?![(:\[]))")


def reference_definitions(source: str) -> tuple[str, dict[str, str]]:
    """`source` without its link reference definitions ("[docs]: https://..." lines, which
    markdown_to_text shows as nothing) and the address each defines, by its label as
    CommonMark matches one (normalizeReference): for WhatsApp, whose links are rewritten
    rather than parsed (inline_references), so that a reference reads as on SMS."""
    if "]:" not in source:
        return source, {}
    env: dict = {}
    tokens = _PARSER.parse(source, env)
    references = {label: ref["href"] for label, ref in env.get("references", {}).items()}
    if not references:
        return source, {}
    covered = {line for token in tokens if token.map for line in range(*token.map)}
    lines = source.split("\n")
    kept = [line for n, line in enumerate(lines) if n in covered or not line.strip()]
    return "\n".join(kept), references


def inline_references(text: str, references: dict[str, str]) -> str:
    """`text` with each reference to a defined label written as an inline link or image
    ("[words](<address>)"), whose words and address WhatsApp's rules then write as SMS's."""

    def inline(match: re.Match) -> str:
        bang, words, label = match[1], match[2], match[3]
        href = references.get(normalizeReference(label or words))
        return match[0] if href is None else f"{bang}[{words}](<{href}>)"

    return _REFERENCE.sub(inline, text)


class _Renderer:
    """Walks markdown-it's block tokens and writes plain lines."""

    def __init__(self, html: HtmlReader = str, source_lines: Sequence[str] = ()) -> None:
        self.html = html
        self.source_lines = source_lines
        self.lines: list[str] = []
        self.lists: list[int | None] = []  # the next item's number; None in a bullet list
        self.marker = ""  # the list marker waiting for the item's first line
        self.widths: list[int] = []  # the width of each open item's marker
        self.header: list[str] = []
        self.row: list[str] = []
        self.row_line: int | None = None  # the source line of the row being read
        self.prose_rows = False
        self.in_cell = False
        self.quotes = 0  # how many quotes deep the text is
        #: Source lines that open a paragraph after a list with no blank line before them
        #: (_lazy_paragraph): the answer is read again with one there.
        self.lazy_lines: list[int] = []

    def feed(self, token: Token) -> None:
        handler = getattr(self, f"on_{token.type}", None)
        if handler is not None:
            handler(token)

    # -- blocks -----------------------------------------------------------------------
    def write(self, text: str) -> None:
        indent = "  " * max(len(self.lists) - 1, 0)
        marker, self.marker = self.marker, ""
        # An item's later lines and paragraphs stand under its first words, not its marker.
        width = len(marker) if marker else (self.widths[-1] if self.widths else 0)
        for number, line in enumerate(text.split("\n")):
            lead = marker if number == 0 and marker else " " * width
            self.lines.append(f"{indent}{lead}{line}")

    def separate(self) -> None:
        if not self.lists and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def on_inline(self, token: Token) -> None:
        text = inline_text(token.children or [], self.html)
        if self.quotes:
            text = _ALERT.sub(lambda alert: _label(alert[1]), text)
        if self.marker:  # a list item's first words: a task list's box goes
            text = item_words(text)
        if self.in_cell:
            self.row.append(" ".join(text.split()))
        else:
            self.write(text)
        if self.lists and not self.quotes and token.map:
            self._note_lazy_paragraph(*token.map)

    def _note_lazy_paragraph(self, first: int, end: int) -> None:
        """A line of an item's paragraph at the left margin that does not go on in lower
        case ("Hope this helps!" under the last step) is CommonMark's lazy continuation, but
        the model meant a paragraph after the list, and the texter should read it as one."""
        for number in range(first + 1, min(end, len(self.source_lines))):
            line = self.source_lines[number]
            if line[:1] and not line[0].isspace() and not line[0].islower():
                self.lazy_lines.append(number)
                return

    def on_paragraph_close(self, token: Token) -> None:
        if not token.hidden:
            self.separate()

    on_heading_close = on_paragraph_close

    def on_blockquote_open(self, token: Token) -> None:
        self.quotes += 1

    def on_blockquote_close(self, token: Token) -> None:
        self.quotes -= 1
        self.separate()

    def on_fence(self, token: Token) -> None:
        self.write(token.content.rstrip("\n"))
        self.separate()

    on_code_block = on_fence

    def on_html_block(self, token: Token) -> None:
        text = self.html(token.content).strip("\n")
        if text:
            self.write(text)
        self.separate()

    def on_hr(self, token: Token) -> None:
        self.separate()

    # -- lists ------------------------------------------------------------------------
    def on_bullet_list_open(self, token: Token) -> None:
        self.lists.append(None)

    def on_ordered_list_open(self, token: Token) -> None:
        self.lists.append(int(token.attrs.get("start", 1)))

    def on_list_item_open(self, token: Token) -> None:
        number = self.lists[-1] if self.lists else None
        if number is None:
            self.marker = "- "
        else:  # numbered as a browser would: from the first item's number, one by one
            self.marker = f"{number}{token.markup} "
            self.lists[-1] = number + 1
        self.widths.append(len(self.marker))

    def on_list_item_close(self, token: Token) -> None:
        if self.marker:  # an empty item still shows its bullet
            self.write("")
        self.widths.pop()

    def on_bullet_list_close(self, token: Token) -> None:
        self.lists.pop()
        self.separate()

    on_ordered_list_close = on_bullet_list_close

    # -- tables -----------------------------------------------------------------------
    def on_th_open(self, token: Token) -> None:
        self.in_cell = True

    on_td_open = on_th_open

    def on_th_close(self, token: Token) -> None:
        self.in_cell = False

    on_td_close = on_th_close

    def on_tr_open(self, token: Token) -> None:
        self.row_line = token.map[0] if token.map else None

    def on_tr_close(self, token: Token) -> None:
        row, self.row = self.row, []
        if not self.header:
            self.header = row
            return
        if self._without_pipe():
            # A sentence right under the table, with no blank line between, is a row to
            # GFM, but the model meant it as text: "Plan: Pick one." misreads it.
            if not self.prose_rows:
                self.separate()
                self.prose_rows = True
            self.write(" ".join(value for value in row if value))
            return
        self.write(row_text(self.header, row))

    def on_table_close(self, token: Token) -> None:
        self.header, self.prose_rows = [], False
        self.separate()

    def _without_pipe(self) -> bool:
        line = self.row_line
        return (
            line is not None
            and line < len(self.source_lines)
            and "|" not in self.source_lines[line]
        )


def inline_text(children: list[Token], html: HtmlReader = str) -> str:
    """The words of one inline run; a link's URL follows its text unless they are the same."""
    out: list[str] = []
    links: list[tuple[str, int]] = []
    struck: list[int] = []  # where each open strike-through's words start in `out`
    in_address: list[bool] = []  # for each open emphasis, whether a bare address holds it
    # A link in HTML is three tokens, its tags apart from its words: read as one when the
    # run closes it, unless the tags are the answer's subject (kept as written: str).
    closings = [n for n, child in enumerate(children) if _closes_a_link(child)]
    last_closing = closings[-1] if closings and html is not str else -1
    hidden = _hidden(children) if html is not str else set()
    for index, child in enumerate(children):
        if index in hidden:
            continue
        kind, href = _read_as_link(child, index < last_closing, last_closing >= 0)
        if kind == "text":
            text = PANDOC_MARKS.sub(without_pandoc_marks, child.content)
            out.append(_UNPARSED_EMPHASIS.sub(_emphasis_words, text))
        elif kind in ("code_inline", "text_special"):  # code, an escape or an entity
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "html_inline":
            picture = linked_image_words(child.content) if links and html is not str else None
            out.append(html(child.content) if picture is None else picture)
        elif kind == "s_open":
            struck.append(len(out))
        elif kind == "s_close" and struck and "".join(out[struck.pop() :]).strip():
            out.append(STRUCK)
        elif kind in ("em_open", "em_close", "strong_open", "strong_close"):
            if kind.endswith("_open"):
                in_address.append(_in_bare_address(out))
                addressed = in_address[-1]
            else:
                addressed = in_address.pop() if in_address else False
            kept = addressed or _between_terms(children, index) or _dunder(children, index)
            out.append(child.markup if kept else "")
        elif kind == "link_open":
            links.append((href, len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            out[start:] = [link_words("".join(out[start:]), href)]
        elif kind == "image":
            src = str(child.attrs.get("src", ""))
            out.append(image_words(child.content, src, linked=bool(links)))
    return "".join(out)


def _hidden(children: list[Token]) -> set[int]:
    """The children a script or style holds, its tags too (html_tags.hidden_spans)."""
    tags = [n for n, child in enumerate(children) if child.type == "html_inline"]
    spans = hidden_spans([children[n].content for n in tags])
    return {n for first, last in spans for n in range(tags[first], tags[last] + 1)}


def _closes_a_link(token: Token) -> bool:
    return token.type == "html_inline" and LINK_CLOSING.match(token.content) is not None


def _read_as_link(token: Token, closed_later: bool, reading: bool) -> tuple[str, str]:
    """(the token's type, the address it links to): an HTML link's tags (<a href=...>, and
    </a>) read as Markdown's link_open and link_close when `reading` HTML links."""
    if token.type == "html_inline" and reading:
        href = link_opening(token.content) if closed_later else None
        if href is not None:
            return "link_open", href
        if _closes_a_link(token):
            return "link_close", ""
    return token.type, str(token.attrs.get("href", ""))


#: Emphasis that Markdown leaves as written where punctuation and letters meet its marks
#: without a space ('**答案：**巴黎', '这是*“重要”*的', '**Note:**The'): CommonMark wants a
#: space or punctuation outside such a mark, which Chinese and Japanese never write.
_UNPARSED_EMPHASIS = re.compile(r"(\*{1,3})(?=[^\s*])([^*\n]*?[^\s*])\1(?!\*)")


def _emphasis_words(marked: re.Match) -> str:
    """For _UNPARSED_EMPHASIS.sub: the words, unless a mark sits between ASCII letters or
    digits, as in a product (see _between_terms)."""
    text, start, end, words = marked.string, marked.start(), marked.end(), marked[2]
    pairs = (text[start - 1 : start] + words[0], words[-1] + text[end : end + 1])
    if any(len(pair) == 2 and pair.isascii() and pair.isalnum() for pair in pairs):
        return marked[0]
    return words


#: The start of a bare address ("https://x.org/") in the words of its last line so far.
_ADDRESS_SO_FAR = re.compile(r"(?:^|[\s(])https?://\S*\Z")


def _in_bare_address(out: list[str]) -> bool:
    """Whether a mark read now sits inside an address written bare ("https://x.org/*a*",
    ".../Foo_(bar)_baz_"), whose marks are the address's own: read as emphasis, they were
    dropped and the address led nowhere. Looks back over the last few pieces only."""
    tail = "".join(out[-8:])
    return _ADDRESS_SO_FAR.search(tail[-2048:]) is not None


def _dunder(children: list[Token], index: int) -> bool:
    """'__init__' and '__name__ == "__main__"' are Python's names, not bold: keep the
    underscores of a "__" pair around one of them."""
    if children[index].markup != "__":
        return False
    opening = children[index].type == "strong_open"
    start = index if opening else index - 2
    run = children[start : start + 3]
    return (
        start >= 0
        and [token.type for token in run] == ["strong_open", "text", "strong_close"]
        and run[1].content in PYTHON_NAMES
    )


def _between_terms(children: list[Token], index: int) -> bool:
    """'2*3*4', 'l*w*h' and '3*x*y' are products, not emphasis: keep an asterisk between
    two ASCII letters or digits (Chinese bold runs into its words: '这是**重要**的')."""
    before = children[index - 1].content[-1:] if index > 0 else ""
    after = children[index + 1].content[:1] if index + 1 < len(children) else ""
    pair = before + after
    return len(pair) == 2 and pair.isascii() and pair.isalnum()
