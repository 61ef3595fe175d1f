"""A reasoning model's thinking written into its answer, and taking it off.

DeepSeek-R1, Qwen3, QwQ and their kin, served by an OpenAI-compatible server that does not
parse their reasoning out (vLLM or llama.cpp without a reasoning parser, LM Studio, older
Ollama), write it into `content` before the answer, as <think>...</think> (<thinking> for
some, [THINK]...[/THINK] for Mistral's reasoning models). Many of their chat templates open
the block in the prompt, so only the closing tag arrives. The thinking is the model talking
to itself: sent, it would fill the texter's segments and push the answer itself out to
MORE. A `reasoning_content` or `reasoning` field beside the content (a server that does
parse it) is simply never read.
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"<(?:think|thinking)>|\[THINK\]", re.IGNORECASE)
_CLOSE = re.compile(r"</(?:think|thinking)>|\[/THINK\]", re.IGNORECASE)


def without_thinking(content: str) -> str:
    """The answer in `content`: a think block at its start is dropped (all of the content
    when it was never closed: the token limit came first), as is everything before a
    closing tag that no opening tag precedes. A tag further into an answer is its own."""
    opening = _OPEN.search(content)
    if opening and not content[: opening.start()].strip():
        closing = _CLOSE.search(content, opening.end())
        return content[closing.end() :] if closing else ""
    closing = _CLOSE.search(content)
    if closing and (not opening or opening.start() > closing.start()):
        return content[closing.end() :]
    return content
