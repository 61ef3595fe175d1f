"""A chat app's citation marks in a model's answer, and taking them off.

Models trained on ChatGPT's answers write its citation marks through the API too, where
nothing renders them and no source is attached: private-use characters around "cite" and
source ids ("\ue200cite\ue202turn0search0\ue201", which a phone shows as boxes or as
"citeturn0search0"), ChatGPT's ":contentReference[oaicite:0]{index=0}", and the
"【4:0†source】" of OpenAI's Assistants (gpt-oss's browsing writes "【1†L3-L7】"). Each names
a source the texter cannot open, and costs their segments.
"""

from __future__ import annotations

import re

#: A mark, with the spaces before it (it follows a word or a sentence's end): the private-use
#: span (to the end when the token limit cut it), the bracketed one, ChatGPT's reference.
_MARK = re.compile(
    r"[ \t]*(?:\ue200[^\ue201]*(?:\ue201|\Z)"
    r"|\u3010[^\u3010\u3011\n]*\u2020[^\u3010\u3011\n]*\u3011"
    r"|:contentReference\[oaicite:\d+\](?:\{index=\d+\})?)"
)


def without_citations(content: str) -> str:
    """`content` without a chat app's citation marks."""
    return _MARK.sub("", content)
