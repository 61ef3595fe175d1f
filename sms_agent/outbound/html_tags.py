"""Raw HTML in a model's answer as a phone shows it: its formatting goes, the rest stays.

A tag the answer names but never closes ("wrap it in a <div>") is kept as written; text-
formatting tags, line breaks and comments are dropped, scripts and styles with their code
(a browser runs or applies them, never shows them), and blocks (paragraphs, lists, tables:
html_blocks.py) written as lines, unless the question is about markup itself (about_markup),
when the tags are the answer.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from html import unescape
from urllib.parse import unquote, urlsplit

from ..clean_text import is_blank
from .html_blocks import blocks_to_text
from .html_forms import as_browsers_read

# A tag opens formatting only when the text closes it too: "if a<b and b>c" and "the <b>
# tag" are no markup, though an HTML parser reads a tag in each.
_FORMATTING_TAG = re.compile(
    r"<(/?)(b|i|em|strong|u|s|del|strike|ins|sup|sub|span|mark|small|big|font|kbd|code|samp|var|abbr"
    r"|cite|time|dfn|tt|bdi|bdo|data|q"
    # MathML's words and their rows ("<math><mn>2</mn><mo>+</mo><mn>2</mn></math>")
    r"|mi|mn|mo|ms|mtext|mrow|mstyle|semantics)"
    r"\b[^>]*>",
    re.IGNORECASE,
)
_CLOSING_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9]*)\s*>")
_OPENING_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*)\b")
_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
#: A rule across the page (<hr>), which reads as Markdown's "---" does: a blank line; and a
#: place a long word may wrap (<wbr>), which a phone wraps by itself. Never closed, so one
#: named in words, spaces either side ("use an <hr> tag"), keeps them all as written.
_RULE_TAG = re.compile(r"<hr\b[^<>]*>", re.IGNORECASE)
_WORD_BREAK_TAG = re.compile(r"<wbr\s*/?>", re.IGNORECASE)
_NAMED_VOID_TAG = re.compile(r"[ \t]<(hr|wbr)\s*/?>[ \t]", re.IGNORECASE)
#: The end of struck-out words (~~$50~~ $40, <del>old</del>): a phone shows no strike, and
#: without it the texter reads both prices, or the advice the model took back, as meant.
STRUCK = " (crossed out)"
_STRIKE_TAGS = frozenset({"s", "del", "strike"})
#: A power ("10<sup>6</sup>") keeps its raise as a caret, or it reads as another number (106).
_SUPERSCRIPT_TAG = re.compile(r"<sup\b[^>]*>", re.IGNORECASE)
#: A picture (<img src=... alt=...>), which reads as a Markdown image does: its words and its
#: address. One with neither ("use an <img> tag") is named, and stays as written.
_IMAGE_TAG = re.compile(r"<img\b([^<>]*)>", re.IGNORECASE)
#: Embedded content (frames, players, objects) and form controls, as a browser shows them:
#: no tags; a frame or a player reads as a picture without words, its web address. One
#: named in words ("use an <iframe>", no attributes and never closed) stays as written.
_EMBEDDED_TAG = re.compile(
    r"<(/?)(iframe|frame|frameset|embed|object|param|video|audio|source|track|picture|canvas"
    r"|svg|math|form|input|button|select|option|optgroup|textarea|label|fieldset|legend"
    r"|link|meta|base)\b([^<>]*)>",
    re.IGNORECASE,
)
#: A link (<a href=...>words</a>), which reads as a Markdown link does (link_words).
_LINK_TAG = re.compile(r"<a(?:\s([^<>]*))?>([^<]*)</a\s*>", re.IGNORECASE)
#: A picture that is a link's words (<a href=...><img ...></a>): only its words are kept,
#: the link's address follows them.
_LINKED_IMAGE = re.compile(r"(<a(?:\s[^<>]*)?>[^<]*)<img\b([^<>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    r"""(?<![\w-])(src|alt|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+?)(?=\s|/?$))""",
    re.IGNORECASE,
)
#: A question naming a tag or markup: "what does <br> do?", "how do I bold text in HTML?";
#: or a web page's styles or scripts, which an answer writes in <style> and <script>.
_MARKUP_QUESTION = re.compile(
    r"</?[a-z]|\b(?:x?html|xml|svg|jsx|markup|tags?|css|stylesheets?|javascript|js)\b", re.I
)


def about_markup(question: str) -> bool:
    """Whether the texter asked about markup, so that tags in the answer are its subject
    ("use the <b> tag") and not formatting to drop."""
    return _MARKUP_QUESTION.search(question or "") is not None


def html_tags_to_text(text: str) -> str:
    """`text` with its formatting tags, line breaks and comments as markdown_to_text shows
    them: for WhatsApp, whose shaping keeps the Markdown rather than parsing it."""
    text = as_browsers_read(text)
    return html_reader(text)(text)


HtmlReader = Callable[[str], str]


def html_reader(text: str, as_written: bool = False) -> HtmlReader:
    """How the raw HTML in `text` reads: formatting tags the text closes, line breaks and
    comments go, the rest stays as written; all of it stays `as_written`."""
    if as_written:
        return str
    closed = {name.lower() for name in _CLOSING_TAG.findall(text)}
    opened = {name.lower() for name in _OPENING_TAG.findall(text)}
    named = {name.lower() for name in _NAMED_VOID_TAG.findall(text)}

    def formatting(tag: re.Match) -> str:
        name = (tag[2] or "").lower()
        if name and not tag[1]:  # an opening tag
            return "" if name in closed else tag[0]
        return STRUCK if name in _STRIKE_TAGS and name in opened else ""

    def embedded(tag: re.Match) -> str:
        if tag[1]:
            return ""
        if not tag[3].strip(" /") and tag[2].lower() not in closed:
            return tag[0]
        return image_words("", _attributes(tag[3], "src")[0])

    def read(html: str) -> str:
        html = without_comments(html)
        if closed & _HIDDEN:
            html = without_hidden(html)
        html = _SUPERSCRIPT_TAG.sub("^", _LINE_BREAK_TAG.sub("\n", html))
        if "hr" not in named:
            html = _RULE_TAG.sub("\n\n", html)
        if "wbr" not in named:
            html = _WORD_BREAK_TAG.sub("", html)
        if "a" in closed:
            html = _LINKED_IMAGE.sub(lambda tag: tag[1] + _attributes(tag[2], "alt")[0], html)
        html = _IMAGE_TAG.sub(_image_words, html)
        html = _EMBEDDED_TAG.sub(embedded, html)
        html = _FORMATTING_TAG.sub(formatting, blocks_to_text(html, closed))
        return _LINK_TAG.sub(_link_words, html) if "a" in closed else html

    return read


def _attributes(tag: str, *names: str) -> list[str]:
    """The values of the attributes `names` in a tag's `tag` text ("" for each missing)."""
    found = {name.lower(): "".join(value) for name, *value in _ATTRIBUTE.findall(tag)}
    return [unescape(" ".join(found.get(name, "").split())) for name in names]


_LINK_OPENING = re.compile(r"<a(?:\s([^<>]*))?>\Z", re.IGNORECASE)
LINK_CLOSING = re.compile(r"</a\s*>\Z", re.IGNORECASE)


def link_opening(tag: str) -> str | None:
    """The address a tag of its own opens a link to (Markdown reads "<a href=...>" apart
    from its words); None for any other tag."""
    opening = _LINK_OPENING.match(tag)
    return _attributes(opening[1] or "", "href")[0] if opening else None


def _link_words(tag: re.Match) -> str:
    """For _LINK_TAG.sub: the link's words and its address, as link_words reads them."""
    [href] = _attributes(tag[1] or "", "href")
    return link_words(tag[2], href)


def link_words(words: str, href: str) -> str:
    """A link as a phone shows it: its words, then its address in brackets, unless they say
    the same ("https://x.org", "help@x.org") or only name its site, as OpenAI's search
    models cite ("[en.wikipedia.org](https://en.wikipedia.org/wiki/Paris)": the address
    says it, once), or say nothing ("[](https://x.org)": the address alone)."""
    label, shown = words.strip(), _usable_address(href)
    if is_unsafe_address(href) and is_unsafe_address(label):
        return ""  # "<javascript:alert(1)>": its words are the address
    if shown and (is_blank(label) or _names_its_site(label, href)):
        return shown
    if shown and _same_address(label, shown):
        return _usable_address(label)  # once, as written: "<https://x.org/a\\b>"
    if shown and shown != label:
        return f"{words} ({shown})"
    return words


#: Schemes whose address a phone finds in plain text by itself: shown without the scheme.
_BARE_SCHEMES = ("mailto:", "tel:", "sms:")


def _usable_address(href: str) -> str:
    """The address as a texter can use it: an email address or phone number without its
    scheme (and a mailto's subject), nothing for a place in the page itself ("#", "#top"),
    which leads nowhere from an SMS, nor for one a phone must not open (is_unsafe_address)."""
    if href.startswith("#") or is_unsafe_address(href):
        return ""
    if href.lower().startswith(_BARE_SCHEMES):
        return href.partition(":")[2].partition("?")[0]
    return href


def _same_address(label: str, shown: str) -> bool:
    """Whether a link's words are its address, as Markdown's autolinks are: the address
    percent-encoded ("a%5Cb" for "a\\b", "%C3%A9" for "é"), its scheme written or not."""
    return unquote(shown) == unquote(_usable_address(label))


def _names_its_site(label: str, href: str) -> bool:
    try:
        host = (urlsplit(href).hostname or "").removeprefix("www.")
    except ValueError:  # an address no browser would open
        return False
    return bool(host) and label.lower().removeprefix("www.") == host


#: Addresses a texter must never be handed: a script (javascript:, vbscript:), a page or
#: picture carried in the address itself (data:), a file on the model's machine (file:).
_UNSAFE_SCHEME = re.compile(r"(?:javascript|vbscript|data|file):", re.IGNORECASE)
#: What a browser ignores in a scheme ("java\tscript:", " javascript:").
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20]")
#: The private-use stand-ins WhatsApp's shaping writes for escaped ASCII while it reads
#: marks (channels._ESCAPED: "&colon;" is one for ":" then), and what they stand for.
STAND_IN = 0xE000
STOOD_IN = {STAND_IN + code: code for code in range(128)}


def is_unsafe_address(href: str) -> bool:
    """Whether `href` is an address a phone must not open (_UNSAFE_SCHEME)."""
    plain = _IGNORED_IN_SCHEME.sub("", href.translate(STOOD_IN))
    return _UNSAFE_SCHEME.match(plain) is not None


#: A picture's address a phone can open: one on the web. "x" or "chart.png" is a file
#: next to a page the texter never saw ("Paris.<img src=x>" read "Paris.x").
_WEB_ADDRESS = re.compile(r"https?://[^/\s]", re.IGNORECASE)


def image_words(alt: str, src: str, linked: bool = False) -> str:
    """A picture as a phone shows it: "alt (src)", or the one of them it has. A `linked`
    picture is its words alone, as the link's address follows them ("[![](src)](href)" is
    the href), and an address a phone cannot or must not open (not on the web,
    is_unsafe_address) is left out."""
    usable = _WEB_ADDRESS.match(src.translate(STOOD_IN)) and not is_unsafe_address(src)
    shown = src if usable and not linked else ""
    return f"{alt} ({shown})" if alt and shown else alt or shown


def _image_words(tag: re.Match) -> str:
    """For _IMAGE_TAG.sub: image_words, or the tag as written when it has neither words nor
    address ("use an <img> tag")."""
    alt, src = _attributes(tag[1], "alt", "src")
    return image_words(alt, src) if tag[1].strip(" /") else tag[0]


def linked_image_words(tag: str) -> str | None:
    """The words of an <img> tag of its own inside a link (image_words), or None when `tag`
    is no picture."""
    image = _IMAGE_TAG.fullmatch(tag)
    return image_words(*_attributes(image[1], "alt", "src"), linked=True) if image else None


#: Elements whose words no reader sees: a browser runs a script, applies a style and draws
#: a picture (an SVG's shapes, and its labels with them); it never shows a template, nor a
#: noscript's words while it runs scripts.
_HIDDEN = frozenset({"script", "style", "svg", "template", "noscript"})
_HIDDEN_OPENING = re.compile(r"<(script|style|svg|template|noscript)\b[^<>]*>", re.IGNORECASE)
_HIDDEN_CLOSING = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _HIDDEN}


def hidden_spans(tags: Sequence[str]) -> list[tuple[int, int]]:
    """Where a run of tags each of its own (Markdown reads an inline tag apart from its
    words) opens a script or style and closes it: (opening, closing) positions in `tags`,
    all between them hidden, as without_hidden hides them in one piece of HTML."""
    closings: dict[str, list[int]] = {name: [] for name in _HIDDEN}
    for position, tag in enumerate(tags):
        for name, closing in _HIDDEN_CLOSING.items():
            if closing.fullmatch(tag):
                closings[name].append(position)
    spans, end = [], -1
    for position, tag in enumerate(tags):
        opening = _HIDDEN_OPENING.fullmatch(tag) if position > end else None
        if opening is None:
            continue
        later = closings[opening[1].lower()]
        after = bisect.bisect_right(later, position)
        if after < len(later):
            end = later[after]
            spans.append((position, end))
    return spans


def without_hidden(html: str) -> str:
    """`html` without the scripts and styles it closes, their code with them; one never
    closed stays as written ("put JS in a <script> tag"). Each closing is looked for once
    from each opening and never again once missing, so thousands of openings no closing
    follows do not each rescan the rest of the answer."""
    kept, start, unclosed = [], 0, set()
    for opening in _HIDDEN_OPENING.finditer(html):
        name = opening[1].lower()
        if opening.start() < start or name in unclosed:
            continue
        closing = _HIDDEN_CLOSING[name].search(html, opening.end())
        if closing is None:
            unclosed.add(name)
            continue
        kept.append(html[start : opening.start()])
        start = closing.end()
    kept.append(html[start:])
    return "".join(kept)


#: A script or style opened with its code after it, on the next line or run on
#: ("<script>alert(1)"): not a tag named in words ("put it in a <script> tag").
_OPENED_WITH_CODE = re.compile(r"<(script|style)\b[^<>]*>(?![ \t]+\S)", re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)


def before_open_hidden(text: str) -> str:
    """`text` up to the script or style it opens and never closes: an answer the model
    stopped at its token limit inside one, whose code a browser would run, never show
    (without_hidden drops only what is closed). One in a code fence is code the answer
    shows, and text that is nothing but the script is kept as it is."""
    last_closing = {
        name: max((found.start() for found in closing.finditer(text)), default=-1)
        for name, closing in _HIDDEN_CLOSING.items()
    }
    fences = [fence.start() for fence in _FENCE.finditer(text)]
    for opening in _OPENED_WITH_CODE.finditer(text):
        in_fence = bisect.bisect(fences, opening.start()) % 2
        if opening.start() > last_closing[opening[1].lower()] and not in_fence:
            return text[: opening.start()] if text[: opening.start()].strip() else text
    return text


def without_comments(html: str) -> str:
    """`html` without its comments ("<!-- ... -->"). Found with str.find rather than a
    pattern: "<!--.*?-->" reads to the end of the text from every "<!--" no "-->" closes,
    and an answer of 12,500 of them kept a worker shaping it for 15 seconds."""
    kept, start = [], 0
    while (opening := html.find("<!--", start)) != -1:
        closing = html.find("-->", opening + 4)
        if closing == -1:
            break
        kept.append(html[start:opening])
        start = closing + 3
    kept.append(html[start:])
    return "".join(kept)
