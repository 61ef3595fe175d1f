"""A chat app's citation marks in a model's answer, and the tracking on its links, taken off.

Models trained on ChatGPT's answers write its citation marks through the API too, where
nothing renders them and no source is attached: private-use characters around "cite" and
source ids ("\ue200cite\ue202turn0search0\ue201", which a phone shows as boxes or as
"citeturn0search0"), ChatGPT's ":contentReference[oaicite:0]{index=0}", and the
"【4:0†source】" of OpenAI's Assistants (gpt-oss's browsing writes "【1†L3-L7】"), and
Gemini's "[cite_start]" before a cited sentence and "[cite: 1, 2]" after it. Each names
a source the texter cannot open, and costs their segments. So does the "[1][2]" with which
a search model (Perplexity's Sonar) numbers the sources it lists beside the answer, in the
response's `citations`. So do the tracking parameters on links (utm_source=openai, which
OpenAI's search models append to every link, and utm_source=chatgpt.com): analytics for
the site, nothing the page needs.
"""

from __future__ import annotations

import re

#: A mark, with the spaces before it (it follows a word or a sentence's end): the private-use
#: span (to the end when the token limit cut it), the bracketed one, ChatGPT's reference.
_MARK = re.compile(
    r"(?<![ \t])[ \t]*(?:\ue200[^\ue201]*(?:\ue201|\Z)"
    r"|\u3010[^\u3010\u3011\n]*\u2020[^\u3010\u3011\n]*\u3011"
    r"|:contentReference\[oaicite:\d+\](?:\{index=\d+\})?|\[cite:[\d,\s]*\])"
)
#: Where a cited passage starts (Gemini), with the spaces after it: the words follow it.
_START = re.compile(r"\[cite_start\][ \t]*")


#: A link, and the punctuation that may end the sentence or the Markdown around it.
_LINK = re.compile(r"https?://[^\s<>\"'\]]+")
_AFTER_LINK = re.compile(r"[).,;:!?]*\Z")


#: A run of numbered citations ("[1][2]"), with the spaces before it.
_NUMBERED = re.compile(r"(?<![ \t])[ \t]*((?:\[\d{1,3}\])+)")


def without_citations(content: str, sources: int = 0) -> str:
    """`content` without a chat app's citation marks, its links without tracking, and
    without numbered citations of the `sources` sources listed beside it (none: a "[1]" is
    the answer's own, an index say)."""
    content = _LINK.sub(_untracked, _MARK.sub("", _START.sub("", content)))
    if not sources:
        return content

    def cited(match: re.Match) -> str:
        numbers = [int(number) for number in re.findall(r"\d+", match[1])]
        return "" if all(1 <= number <= sources for number in numbers) else match[0]

    return _NUMBERED.sub(cited, content)


def _untracked(match: re.Match) -> str:
    """A link without its utm_ parameters."""
    link = match.group()
    if "utm_" not in link:
        return link
    after = _AFTER_LINK.search(link).group()
    address, _, query = link[: len(link) - len(after)].partition("?")
    query, hashmark, fragment = query.partition("#")
    kept = "&".join(part for part in query.split("&") if part and not part.startswith("utm_"))
    return address + ("?" + kept if kept else "") + hashmark + fragment + after
