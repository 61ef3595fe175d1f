"""A reasoning model's thinking written into its answer, and taking it off.

DeepSeek-R1, Qwen3, QwQ and their kin, served by an OpenAI-compatible server that does not
parse their reasoning out (vLLM or llama.cpp without a reasoning parser, LM Studio, older
Ollama), write it into `content` before the answer, as <think>...</think> (<thinking> for
some, [THINK]...[/THINK] for Mistral's reasoning models, <seed:think> for ByteDance's
Seed-OSS, <reasoning> for models tuned with GRPO on the common "<reasoning>...</reasoning>
<answer>...</answer>" prompt, <|begin_of_thought|> for those distilled on Bespoke-Stratos,
Sky-T1 and OpenThoughts data, ◁think▷ for Kimi-VL-Thinking, <thought> for Gemini's
OpenAI-compatible API asked to include its thoughts, "Here is my thought
process:" ... "Here is my response:" for IBM's Granite 3.2). Many of their chat templates
open the block in the prompt, so only the closing tag arrives. Some then wrap the answer
itself, in <answer>...</answer> (Hunyuan-A13B, the GRPO-tuned) or
<|begin_of_solution|>...<|end_of_solution|>: the texter gets what is inside. The thinking is
the model talking to itself: sent, it would fill the texter's segments and push the answer
itself out to MORE. gpt-oss writes in channels instead
("<|channel|>analysis<|message|>...<|end|><|start|>assistant<|channel|>final
<|message|>answer"), which some servers pass through as they are, and others without the
tokens' text ("analysis...assistantfinalanswer"): its answer is the final channel. A chat
front end in between (Open WebUI, and proxies that copy it) folds the
thinking into HTML instead, as <details><summary>Thinking</summary>...</details> or
<details type="reasoning"><summary>Thought for 3 seconds</summary>...</details> before the
answer. A `reasoning_content` or `reasoning` field beside the content (a server that does
parse it) is never sent; it is read only to estimate the tokens of a call whose server
reported none (reading.py).
"""

from __future__ import annotations

import bisect
import re

#: The tags a thinking block opens and closes with; a closing one alone ends thinking that
#: the chat template opened.
_TAG_OPEN = (
    r"<(?:seed:)?(?:think|thinking|thought|reasoning)>|\[THINK\]|<\|begin_of_thought\|>|◁think▷"
)
_TAG_CLOSE = (
    r"</(?:seed:)?(?:think|thinking|thought|reasoning)>|\[/THINK\]|<\|end_of_thought\|>|◁/think▷"
)
#: Granite's thinking in words, which end it only after they began it: "Here is my
#: response:" further into any model's answer is its own.
_WORDS_OPEN = r"Here(?: is|'s) my thought process:"
_WORDS_CLOSE = r"Here(?: is|'s) my response:"
_OPEN = re.compile(f"{_TAG_OPEN}|(?P<words>{_WORDS_OPEN})", re.IGNORECASE)
#: What ends thinking opened by a tag (also alone, when the template opened it), and what
#: ends Granite's words. Each only its own: a think block that drafts "Here's my response:"
#: goes on to its closing tag.
_TAG_END = re.compile(_TAG_CLOSE, re.IGNORECASE)
_WORDS_END = re.compile(_WORDS_CLOSE, re.IGNORECASE)
#: The answer wrapped after the thinking, or alone, to its closing tag or to the end (the
#: token limit): <answer>, <response> (Reflection-style and many R1 distillations),
#: <final_answer>.
_WRAPPED = re.compile(
    r"\A\s*(?:<(answer|response|final_answer)>(.*?)(?:</\1>|\Z)"
    r"|<\|begin_of_solution\|>(.*?)(?:<\|end_of_solution\|>|\Z))",
    re.IGNORECASE | re.DOTALL,
)
#: Thinking folded into HTML at the answer's start, to its </details> or (the token limit
#: came first) to the end; a <details> block of any other summary is the answer's own.
_DETAILS = re.compile(
    r"\A\s*<details\b[^>]*>\s*<summary>\s*(?:thinking|thought|reasoning)[^<]*</summary>"
    r".*?(?:</details>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_FINAL_CHANNEL = re.compile(r"<\|channel\|>\s*final\s*<\|message\|>")
#: The same channels from a server that drops the text of gpt-oss's special tokens
#: (llama.cpp's, LM Studio's, text-generation-webui's, as reported): "analysisThe user
#: asks...assistantfinalParis." The channel's name runs into its first word, which no
#: answer's "Analysis shows..." does.
_BARE_ANALYSIS = re.compile(r"\A\s*analysis(?=[A-Z\"'])")
_BARE_FINAL = "assistantfinal"
_CHANNEL_END = re.compile(r"<\|(?:end|return|call)\|>")


def after_thinking(content: str) -> str | None:
    """The answer in `content`, None when the model never stopped thinking (its token limit
    came first, whatever finish reason the server gave: Ollama's OpenAI API said "stop"
    at its limit): a think block at its start is dropped, and any written again right
    after it, as is everything before a closing tag that no opening tag precedes, and the
    wrapper of an answer that follows. Further into the answer, a block opened on a line
    of its own is thinking too (_without_later_thinking); a tag named in a sentence is the
    answer's own."""
    if content.lstrip().startswith(("<|channel|>", "<|start|>")):
        return _final_channel(content)
    if _BARE_ANALYSIS.match(content):
        final = content.rfind(_BARE_FINAL)
        return content[final + len(_BARE_FINAL) :] if final != -1 else None
    answer = _after_thinking(_DETAILS.sub("", content, count=1))
    if answer is None:
        return None
    wrapped = _WRAPPED.match(answer)
    if wrapped:
        answer = next(part for part in wrapped.groups()[1:] if part is not None)
    elif "</" in answer or "<|end_of_solution|>" in answer:
        answer = _UNOPENED_WRAPPER_END.sub("", answer)
    return _without_later_thinking(answer)


#: The end of a wrapper the chat template opened (the prompt ends "<answer>"), so only its
#: closing tag arrives, after the answer.
_UNOPENED_WRAPPER_END = re.compile(
    r"\s*(?:</(?:answer|response|final_answer)>|<\|end_of_solution\|>)\s*\Z", re.IGNORECASE
)


def _after_thinking(content: str) -> str | None:
    """`content` from where the model stopped thinking; None when it never did. A model may
    think again right after (a second block, an empty one, a stray closing tag), which
    vllm-mlx drops itself and other servers pass on: each at the answer's start goes too."""
    answer = _after_first_thinking(content)
    while answer is not None and answer != content and _THINKING_AT_START.match(answer):
        content, answer = answer, _after_first_thinking(answer)
    return answer


#: A thinking block's opening tag at the start of a line, as a model thinking again between
#: parts of its answer writes it (interleaved thinking: MiniMax-M2, Kimi's thinking models).
_OPENS_A_LINE = re.compile(rf"^[ \t]*(?:{_TAG_OPEN})", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)
_SPACES = re.compile(r"\s*")


def _without_later_thinking(answer: str) -> str:
    """`answer` without the thinking blocks opened on a line of their own further into it
    (to their closing tag and the spaces after it, or to the end when never closed). A
    block in a code fence is code the answer shows, and a tag inside a sentence ("Qwen3
    writes <think> tags") is named, not opened: both stay."""
    fences = [fence.start() for fence in _FENCE.finditer(answer)]
    kept, start = [], 0
    for opening in _OPENS_A_LINE.finditer(answer):
        if opening.start() < start or bisect.bisect(fences, opening.start()) % 2:
            continue
        kept.append(answer[start : opening.start()])
        closing = _TAG_END.search(answer, opening.end())
        if closing is None:
            return "".join(kept)
        start = _SPACES.match(answer, closing.end()).end()
    kept.append(answer[start:])
    return "".join(kept)


#: A thinking block's opening or closing tag (not Granite's words) at the start of a text.
_THINKING_AT_START = re.compile(rf"\s*(?:{_TAG_OPEN}|{_TAG_CLOSE})", re.IGNORECASE)


def _after_first_thinking(content: str) -> str | None:
    """`content` from where the model stopped thinking the first time; None when never."""
    opening = _OPEN.search(content)
    if opening and not content[: opening.start()].strip():
        close = _WORDS_END if opening["words"] else _TAG_END
        closing = close.search(content, opening.end())
        return content[closing.end() :] if closing else None
    closing = _TAG_END.search(content)
    if closing and (not opening or opening.start() > closing.start()):
        return content[closing.end() :]
    return content


def _final_channel(content: str) -> str | None:
    """gpt-oss's answer: its last final channel, None when it never reached one."""
    finals = list(_FINAL_CHANNEL.finditer(content))
    if not finals:
        return None
    answer = content[finals[-1].end() :]
    end = _CHANNEL_END.search(answer)
    return answer[: end.start()] if end else answer
