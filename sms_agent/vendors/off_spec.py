"""What OpenAI-compatible servers say outside the chat completion spec, in OpenAI's terms.

Other names for its finish reasons, an error object beside or instead of the answer, the
sources a search model lists, where a reasoning parser put the thinking, and a tool's name
as gpt-oss writes it. The SDK keeps such fields on its objects without checking them, so
each is read only when it has the type it should.
"""

from __future__ import annotations

import re

from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice

from ..clean_text import readable


def error_message(holder) -> str | None:
    """The message of the error object a server put in a 200's body or choice, outside the
    spec: OpenRouter's {"code", "message"}, when the model failed after the request was
    accepted; Ollama's and LocalAI's words alone; FastChat's object "error" with its message.
    None without one."""
    error = getattr(holder, "error", None)
    message = error.get("message") if isinstance(error, dict) else error
    if message is None and getattr(holder, "object", None) == "error":
        message = getattr(holder, "message", None)
    return message if isinstance(message, str) else None


#: Other names servers give OpenAI's stops, in lower case. At the token limit ("length"):
#: Mistral's model_length (the context window was full), and the max_tokens of Anthropic and
#: Gemini (MAX_TOKENS) that a proxy passes through as they are: an answer cut mid-word all
#: the same. Stopped by a filter ("content_filter"): Gemini's SAFETY, RECITATION and their
#: kin, Claude's refusal, passed through so too, and Gemini's LANGUAGE (a language it does
#: not answer in: asked again, it stops again).
_IN_OPENAIS_WORDS = {
    "model_length": "length",
    "max_tokens": "length",
    **dict.fromkeys(
        (
            "safety",
            "image_safety",
            "recitation",
            "prohibited_content",
            "blocklist",
            "spii",
            "refusal",
            "language",
        ),
        "content_filter",
    ),
}


def finish_reason(choice: Choice) -> str | None:
    """Why the model stopped, in OpenAI's words; None when a server says it in no words."""
    reason = choice.finish_reason
    return _IN_OPENAIS_WORDS.get(reason.lower(), reason) if isinstance(reason, str) else None


#: The finish reasons of an answer the server broke off, in lower case: OpenRouter's and
#: Mistral's "error", DeepSeek's insufficient_system_resource (its inference system ran
#: short), vLLM's and SGLang's "abort" (the engine paused, shut down or dropped the request
#: mid-answer), and Gemini's OTHER, FINISH_REASON_UNSPECIFIED and MALFORMED_FUNCTION_CALL
#: (stopped for no reason it names, or at a tool call it wrote badly), passed through.
_BROKEN_OFF = frozenset(
    {
        "error",
        "insufficient_system_resource",
        "abort",
        "other",
        "finish_reason_unspecified",
        "malformed_function_call",
    }
)


def failure(choice: Choice) -> str:
    """What a choice the server broke off says went wrong: its error's message (OpenRouter),
    else its finish reason."""
    reason = finish_reason(choice)
    if reason is None or reason.lower() not in _BROKEN_OFF:
        return ""
    return readable(error_message(choice) or f"finish_reason {reason}").strip()


def sources_listed(response: ChatCompletion) -> int:
    """How many sources a search model listed beside its answer, outside the spec
    (Perplexity's `citations` and `search_results`), which its text cites as "[1]"."""
    lists = (getattr(response, name, None) for name in ("citations", "search_results"))
    return max((len(listed) for listed in lists if isinstance(listed, list)), default=0)


#: The fields outside the spec that hold a model's reasoning: vLLM, SGLang and DeepSeek name
#: it reasoning_content; Ollama, OpenRouter and newer vLLM, reasoning.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def reasoning(message: ChatCompletionMessage) -> tuple[str, str]:
    """(the field that holds the model's reasoning, its text); ("", "") without one."""
    for name in REASONING_FIELDS:
        value = getattr(message, name, None)
        if isinstance(value, str) and value.strip():
            return name, value
    return "", ""


#: What gpt-oss writes around a tool's name: the "functions." namespace its Harmony format
#: calls tools in, and the channel tokens a server's parser may leave after it
#: ("request_human<|channel|>commentary").
_NAMESPACE = re.compile(r"^functions\.")
_AFTER_NAME = re.compile(r"<\|.*", re.DOTALL)


def tool_name(name: str) -> str:
    """The name of the tool called, as it was offered."""
    return _NAMESPACE.sub("", _AFTER_NAME.sub("", name).strip())
