"""A chat completion read at the border, as a person reads the answer in it.

What the server says is checked here, before anything stores or shapes it: its text is made
readable (no NUL, control characters, escape sequences or lone surrogates: clean_text.py)
and loses a reasoning model's thinking (reasoning.py), the chat template's tokens a
misconfigured server leaves in it (turns.py), the citation marks of a chat app
(citations.py) and the tool calls a server's parser left in it (text_calls.py, read as
calls), and a 200 that is no chat completion (a proxy's HTML error page, JSON cut short,
`null`) is an `openai_error` retried like the 502 it usually stands for, as is an answer the
server broke off (finish_reason "error"). What servers say outside the spec is read in
OpenAI's terms by off_spec.py, and an answer streamed though not asked to be is put
together by events.py.
"""

from __future__ import annotations

from types import SimpleNamespace

from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice

from ..clean_text import readable
from .citations import without_citations
from .completion import Completion, ToolCall
from .events import completion_in_events
from .llm_errors import LLMError, excerpt, not_a_completion
from .off_spec import (
    error_message,
    failure,
    finish_reason,
    reasoning,
    sources_listed,
    tool_name,
)
from .reasoning import after_thinking
from .text_calls import calls_in_text, harmony_calls
from .turns import answer_turn
from .usage import (
    MOST_TOKENS,
    cached_tokens,
    chat_tokens,
    prompt_tokens,
    reported,
    text_tokens,
)


def completion_from(response, model: str, messages: list[dict] = ()) -> Completion:
    """The answer in a chat completion, asked of `model` with `messages`, as the app reads
    it; the tokens the server does not report are estimated from those and the answer."""
    if isinstance(response, str):  # not JSON: the SDK hands back the page as text
        response = completion_in_events(response) or response
    try:
        choice = _first_choice(response)
    except LLMError as exc:
        exc.billed = _billed_without_answer(response, model)
        raise
    message = choice.message
    text, written, thinking, thought_only = _answer_and_calls(
        message.content, sources_listed(response)
    )
    calls = _tool_calls(message) + written
    # What the model wrote, for tokens the server did not report: the thinking its parser
    # put beside the answer is written and paid for too.
    thought_in, thought = reasoning(message)

    def written_tokens() -> int:
        words = _content_text(message.content) + "".join(c.name + c.arguments for c in calls)
        return text_tokens(thought + words)

    prompt, generated, total = chat_tokens(
        response.usage, lambda: prompt_tokens(list(messages)), written_tokens
    )
    return Completion(
        text=text,
        model=response.model if isinstance(response.model, str) else model,
        asked=model,
        finish_reason=finish_reason(choice),
        request_id=getattr(response, "_request_id", None),  # none on events put together
        tokens_used=total,
        calls=calls,
        refusal=readable(
            message.refusal or _parts(message.content, ("refusal",), "refusal")
        ).strip(),
        failure=failure(choice),
        reasoning_field=thought_in,
        still_thinking=thinking,
        thought_only=thought_only,
        prompt_tokens=prompt,
        cached_tokens=cached_tokens(response.usage, prompt),
        completion_tokens=generated,
    )


def _billed_without_answer(response, model: str) -> Completion | None:
    """The call a 200 without an answer was billed for, when its usage says so (a provider
    that failed after the model ran, as OpenRouter reports it); None when it says nothing."""
    usage = getattr(response, "usage", None)
    if not any(
        reported(usage, name, MOST_TOKENS) for name in ("prompt_tokens", "completion_tokens")
    ):
        return None
    prompt, generated, total = chat_tokens(usage)
    named = getattr(response, "model", None)
    return Completion(
        text="",
        model=named if isinstance(named, str) else model,
        asked=model,
        tokens_used=total,
        prompt_tokens=prompt,
        cached_tokens=cached_tokens(usage, prompt),
        completion_tokens=generated,
    )


def _first_choice(response) -> Choice:
    """The choice the answer is read from, once its shape is one a server may send: the
    SDK builds the response object without checking it against the spec."""
    if isinstance(response, str):  # not JSON: the SDK hands back the page as text
        raise not_a_completion(f"a page that is not JSON ({excerpt(response)})")
    if not isinstance(response, ChatCompletion):
        raise not_a_completion(f"JSON that is no chat completion ({excerpt(response)})")
    choices = response.choices
    if not isinstance(choices, list) or not choices:
        said = error_message(response)
        raise not_a_completion(
            f"an error: {excerpt(said)}" if said else "a chat completion without choices"
        )
    choice = choices[0]
    if not isinstance(choice, Choice) or not isinstance(choice.message, ChatCompletionMessage):
        raise not_a_completion("a chat completion whose first choice holds no message")
    message = choice.message
    if _content_text(message.content) is None or not isinstance(message.refusal, str | None):
        raise not_a_completion("a message whose content is not text")
    return choice


def _content_text(content) -> str | None:
    """The words of a message's content, None when it holds none: a string, or a list of
    chunks (Mistral's reasoning models), whose "text" chunks are the answer and whose
    "thinking" chunks are not; the Responses API's "output_text" parts are text too, as
    proxies translating from it pass them on."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        return None
    return _parts(content, ("text", "output_text"))


def _parts(content, kinds: tuple[str, ...], field: str = "text") -> str:
    """The words in `field` of the parts of those `kinds` in a content list ("" for a
    string): the Responses API's "refusal" part holds them under its own name."""
    return "".join(
        part[field]
        for part in (content if isinstance(content, list) else ())
        if isinstance(part, dict) and part.get("type") in kinds and isinstance(part.get(field), str)
    )


def _answer_and_calls(content, sources: int = 0) -> tuple[str, tuple[ToolCall, ...], bool, bool]:
    """The answer a message's content holds, as a person reads it (see the module's doc),
    the tool calls a server's parser left in it, whether the model was still thinking
    when it stopped (no answer then), and whether it finished thinking and wrote nothing
    after."""
    text = readable(_content_text(content))
    turn = answer_turn(text)
    thought = after_thinking(turn)
    answer, named = calls_in_text(without_citations(thought or "", sources))
    named += harmony_calls(text)
    calls = (ToolCall(f"call_text_{n}", tool_name(name)) for n, name in enumerate(named))
    thought_only = thought is not None and not thought.strip() and bool(turn.strip())
    return answer.strip(), tuple(calls), thought is None, thought_only


def _tool_calls(message: ChatCompletionMessage) -> tuple[ToolCall, ...]:
    """The function calls in `message`; anything else in its tool_calls is skipped. Without
    tool_calls, the function_call of OpenAI's older shape, as some compatible servers and
    proxies still answer: a request for a person made so was read as an empty answer."""
    calls = message.tool_calls if isinstance(message.tool_calls, list) else ()
    if not calls and message.function_call is not None:
        calls = (SimpleNamespace(id=None, function=message.function_call),)
    found = []
    for index, call in enumerate(calls):
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        if isinstance(name, str):
            arguments = getattr(function, "arguments", None)
            found.append(
                ToolCall(
                    id=str(getattr(call, "id", None) or f"call_{index}"),
                    name=tool_name(name),
                    arguments=arguments if isinstance(arguments, str) else "{}",
                )
            )
    return tuple(found)
