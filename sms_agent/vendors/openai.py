"""Asking a language model: OpenAI or any OpenAI-compatible server, or the offline notice.

Nothing else in the app imports openai. The SDK's own retries are switched off
(max_retries=0): the job retries with backoff instead, so a slow model never holds a worker
thread through several hidden attempts, and every attempt is visible in the logs. Each
worker thread keeps its client (and so its connection) from one job to the next.

Tools (function calling) are offered when the caller passes them. A server that refuses a
request with tools (400 or 422: many OpenAI-compatible servers know no tools) is asked once
more without them, and this process remembers not to offer that server tools again; a
server that ignores them simply answers. A server that refuses the answer's cap under
OpenAI's name, max_completion_tokens (Mistral's API), is given it as max_tokens, likewise.

What the server says is checked here, at the border: its text is made readable (no NUL,
control characters, escape sequences or lone surrogates: clean_text.py) and loses a
reasoning model's thinking (reasoning.py), the chat template's tokens a misconfigured
server leaves in it (turns.py), the citation marks of a chat app (citations.py) and the
tool calls a server's parser left in it (text_calls.py, read as calls) before anything
stores or shapes it, and a 200 that is no chat completion (a proxy's HTML error page, JSON
cut short, `null`) is an `openai_error` retried like the 502 it usually stands for, as is
an answer the server broke off (finish_reason "error"). What servers say outside the spec
is read in OpenAI's terms by off_spec.py.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from dataclasses import dataclass, field

import httpx2
import openai
from flask import current_app
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice

from ..clean_text import readable
from .citations import without_citations
from .off_spec import (
    error_message,
    failure,
    finish_reason,
    reasoning_field,
    sources_listed,
    tool_name,
)
from .per_thread import PerThread
from .reasoning import without_thinking
from .text_calls import calls_in_text, harmony_calls
from .turns import answer_turn

log = logging.getLogger("sms_agent.llm")

OFFLINE_NOTICE = (
    "[Offline mode] No AI model is configured on this server, so I can't answer yet. "
    "Your message was received: "
)


@dataclass(frozen=True)
class ToolCall:
    """One function call the model made: what the next request must answer by `id`."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    finish_reason: str | None = None
    request_id: str | None = None
    tokens_used: int = 0
    #: The usage the model reported, which its price is computed from.
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: The audio a transcription model was billed for (models priced per audio minute).
    audio_seconds: float = 0.0
    offline: bool = False
    extra: dict = field(default_factory=dict)
    #: The tools the model called (function calling), in order.
    calls: tuple[ToolCall, ...] = ()
    #: What the model said instead of answering when it refused ("I can't help with that").
    refusal: str = ""
    #: Why the answer broke off, when the server stopped it with an error after it began
    #: (finish_reason "error" from OpenRouter or Mistral, insufficient_system_resource from
    #: DeepSeek).
    failure: str = ""
    #: The field beside the content that held the model's reasoning ("reasoning_content",
    #: "reasoning"), "" without one: never read, but named when the content is empty.
    reasoning_field: str = ""

    @property
    def tool_calls(self) -> tuple[str, ...]:
        """The names of the tools the model called, in order."""
        return tuple(call.name for call in self.calls)


class LLMError(Exception):
    """The model gave no usable answer. `error_type` is the ErrorLog type to record;
    `retryable` says whether asking again later may work."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        retryable: bool,
        request_id=None,
        status=None,
        context_too_long: bool = False,
        image_rejected: bool = False,
    ):
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.request_id = request_id
        #: The server's HTTP status, when it answered (a 400 to an image: no vision).
        self.status = status
        #: The server refused the request as longer than the model's context window.
        self.context_too_long = context_too_long
        #: The server refused a picture itself (broken, or a kind it does not take), not
        #: pictures as such.
        self.image_rejected = image_rejected


def _thinking_settings(config) -> dict:
    """What a reasoning model is allowed for thinking (OPENAI_REASONING_TOKENS, added to
    each call's token cap, which its thinking shares with its answer) and how hard it
    should think (OPENAI_REASONING_EFFORT); empty for a model that answers at once, whose
    requests carry neither."""
    settings = {}
    if config.get("OPENAI_REASONING_TOKENS"):
        settings["tokens"] = int(config["OPENAI_REASONING_TOKENS"])
    if config.get("OPENAI_REASONING_EFFORT"):
        settings["effort"] = config["OPENAI_REASONING_EFFORT"]
    return settings


class OpenAIBackend:
    name = "openai"

    def __init__(self, config) -> None:
        self.model = config["OPENAI_MODEL"]
        self.transcribe_model = config["OPENAI_TRANSCRIBE_MODEL"]
        self.thinking = _thinking_settings(config)
        self.settings = (
            config.get("OPENAI_API_KEY") or "not-needed",
            config.get("OPENAI_BASE_URL"),
            config["OPENAI_TIMEOUT"],
        )

    @property
    def server(self) -> tuple[str | None, str]:
        return (self.settings[1], self.model)

    def complete(
        self, messages: list[dict], max_tokens: int, tools: list[dict] | None = None
    ) -> Completion:
        if tools and self.server in _SERVERS_WITHOUT_TOOLS:
            tools = None
        try:
            response = self._create(messages, max_tokens, tools)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if exc.code in PROMPT_FILTERED:
                return self._filtered(exc)
            if not tools or _about_context(exc) or _about_image(exc):
                # Too long for the model, or a picture it cannot open, is no refusal of
                # tools: without them it fails the same way (or fits, and the server would
                # never be offered tools again).
                raise translate_error(exc) from exc
            response = self._without_tools(messages, max_tokens, exc)
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        return self._completion(response)

    def _create(self, messages: list[dict], max_tokens: int, tools: list[dict] | None):
        """The request, its answer capped as the server understands it: with
        max_completion_tokens (OpenAI's name since its reasoning models, which refuse
        max_tokens), or with max_tokens for a server that refused that name (Mistral's API:
        422, extra inputs not permitted; Azure OpenAI's older API versions), as this process
        remembers."""
        if self.server in _SERVERS_WITH_MAX_TOKENS:
            return self._post(messages, max_tokens, tools, "max_tokens")
        try:
            return self._post(messages, max_tokens, tools, "max_completion_tokens")
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if not _UNKNOWN_CAP.search(_said(exc)):
                raise
        response = self._post(messages, max_tokens, tools, "max_tokens")
        log.warning("the model server refused max_completion_tokens; capping with max_tokens")
        _SERVERS_WITH_MAX_TOKENS.add(self.server)  # only once max_tokens worked
        return response

    def _post(self, messages: list[dict], max_tokens: int, tools: list[dict] | None, cap: str):
        """POST /chat/completions through the client's post(), the call that
        chat.completions.create() ends in. create() first walks every message and tool
        against the SDK's typed-dict annotations (its "transform", which renames aliased
        fields and formats dates and files: none occur in ours), which cost about a fifth of
        a job's Python calls; the request sent is the same."""
        body = {"model": self.model, "messages": messages, cap: max_tokens}
        if self.thinking:
            body[cap] += self.thinking.get("tokens", 0)
            if "effort" in self.thinking:
                body["reasoning_effort"] = self.thinking["effort"]
        if tools:
            body["tools"] = tools
        client = _clients.get(*self.settings)
        try:
            return client.post("/chat/completions", body=body, cast_to=ChatCompletion)
        except json.JSONDecodeError as exc:  # the SDK parses any JSON-typed body
            raise not_a_completion(f"JSON that does not parse ({exc})") from exc

    def _filtered(self, exc: openai.APIStatusError) -> Completion:
        """The provider refused the question itself: an answer stopped by its content
        filter before a word of it was written (and no tokens billed)."""
        log.info("the model server filtered the prompt: %s", exc.message)
        return Completion(
            text="", model=self.model, finish_reason="content_filter", request_id=exc.request_id
        )

    def _without_tools(self, messages: list[dict], max_tokens: int, refusal: Exception):
        """Ask again without tools; remember the server only if that worked (a 400 about
        something else fails the same way again and is reported as it is)."""
        try:
            response = self._create(messages, max_tokens, None)
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        log.warning("the model server refused tools (%s); answering without them", refusal)
        _SERVERS_WITHOUT_TOOLS.add(self.server)
        return response

    def _completion(self, response) -> Completion:
        choice = _first_choice(response)
        message = choice.message
        prompt_tokens, completion_tokens, total = _chat_tokens(response.usage)
        text, written = _answer_and_calls(message.content, sources_listed(response))
        return Completion(
            text=text,
            model=response.model if isinstance(response.model, str) else self.model,
            finish_reason=finish_reason(choice),
            request_id=response._request_id,
            tokens_used=total,
            calls=_tool_calls(message) + written,
            refusal=readable(message.refusal or "").strip(),
            failure=failure(choice),
            reasoning_field=reasoning_field(message),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def transcribe(self, data: bytes, filename: str, content_type: str) -> Completion:
        """The words of a voice note, through the server's audio transcription, with the
        usage it was billed for (tokens, or seconds of audio) when the server reports it."""
        try:
            result = _clients.get(*self.settings).audio.transcriptions.create(
                model=self.transcribe_model, file=(filename, data, content_type)
            )
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        except json.JSONDecodeError as exc:
            raise not_a_completion(f"JSON that does not parse ({exc})") from exc
        text = getattr(result, "text", None)
        usage = getattr(result, "usage", None)
        return Completion(
            text=readable(text if isinstance(text, str) else "").strip(),
            model=self.transcribe_model,
            prompt_tokens=_tokens(usage, "input_tokens"),
            completion_tokens=_tokens(usage, "output_tokens"),
            audio_seconds=_usage_number(usage, "seconds"),
        )


#: More tokens than any model reads or writes in one call. A count past it is a server's
#: garbage: stored, it would overflow its column (failing the task on PostgreSQL); billed,
#: it would trip the spend caps for every texter.
MOST_TOKENS = 10_000_000


def _usage_number(usage, name: str, most: float = math.inf):
    """A number from a usage report (tokens or seconds), 0 when not reported or not a count
    a server could mean (negative, infinite, past `most`)."""
    value = getattr(usage, name, None)
    if isinstance(value, int | float) and 0 <= value <= most and value != math.inf:
        return value
    if value is not None:
        log.warning("the model server reported %s=%r; counted as 0", name, value)
    return 0


def _tokens(usage, name: str) -> int:
    return int(_usage_number(usage, name, MOST_TOKENS))


def _chat_tokens(usage) -> tuple[int, int, int]:
    """(prompt, completion, total) tokens of a chat completion's usage. OpenAI-compatible
    servers leave counts out or send them as null (some report no total, some no usage at
    all): such a count is 0, and a missing total is the sum of the other two."""
    prompt, generated = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
    return prompt, generated, _tokens(usage, "total_tokens") or prompt + generated


def _first_choice(response) -> Choice:
    """The choice the answer is read from, once its shape is one a server may send: the
    SDK builds the response object without checking it against the spec."""
    if isinstance(response, str):  # not JSON: the SDK hands back the page as text
        raise not_a_completion(f"a page that is not JSON ({_excerpt(response)})")
    if not isinstance(response, ChatCompletion):
        raise not_a_completion(f"JSON that is no chat completion ({_excerpt(response)})")
    choices = response.choices
    if not isinstance(choices, list) or not choices:
        said = error_message(response)
        raise not_a_completion(
            f"an error: {_excerpt(said)}" if said else "a chat completion without choices"
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
    "thinking" chunks are not."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        return None
    return "".join(
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def _answer_and_calls(content, sources: int = 0) -> tuple[str, tuple[ToolCall, ...]]:
    """The answer a message's content holds, as a person reads it (see the module's doc),
    and the tool calls a server's parser left in it."""
    text = readable(_content_text(content))
    answer = without_thinking(answer_turn(text))
    answer, named = calls_in_text(without_citations(answer, sources))
    named += harmony_calls(text)
    calls = (ToolCall(f"call_text_{n}", tool_name(name)) for n, name in enumerate(named))
    return answer.strip(), tuple(calls)


def _tool_calls(message: ChatCompletionMessage) -> tuple[ToolCall, ...]:
    """The function calls in `message`; anything else in its tool_calls is skipped."""
    calls = message.tool_calls if isinstance(message.tool_calls, list) else ()
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


def not_a_completion(what: str) -> LLMError:
    """A 200 that is no answer: mostly a proxy or gateway before the model server, whose
    fault passes, as a 502's does; so it is retried like one, with a message a person can
    read instead of the parser's traceback."""
    return LLMError(
        f"AI error: the model server answered 200 with {what}",
        error_type="openai_error",
        retryable=True,
    )


def _excerpt(value, length: int = 120) -> str:
    """The start of a body, as a person would read it: an HTML page without its tags."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    words = " ".join(re.sub(r"<[^>]*>", " ", text).split())
    return repr(words if len(words) <= length else words[: length - 3] + "...")


#: The codes of a 400 that refuses the question itself, whatever is asked of it: Azure
#: OpenAI's content filter on the prompt, OpenAI's usage policy check of reasoning models.
PROMPT_FILTERED = frozenset({"content_filter", "invalid_prompt"})

#: (base URL, model) of the servers that refused a request with tools, in this process.
_SERVERS_WITHOUT_TOOLS: set[tuple[str | None, str]] = set()
#: (base URL, model) of the servers that refused max_completion_tokens, in this process.
_SERVERS_WITH_MAX_TOKENS: set[tuple[str | None, str]] = set()


#: A refusal of max_completion_tokens as a field the server does not know (Mistral's
#: "extra_forbidden", Azure's "Unrecognized request argument"), not of its value ("too
#: large").
_UNKNOWN_CAP = re.compile(
    r"max_completion_tokens.*(?:extra|not permitted|unrecogni[sz]ed|unknown|unexpected|"
    r"not supported|unsupported)|(?:extra|not permitted|unrecogni[sz]ed|unknown|unexpected|"
    r"not supported|unsupported)[^.]*max_completion_tokens",
    re.IGNORECASE | re.DOTALL,
)


def _said(exc: openai.APIStatusError) -> str:
    """All a refusal says: its message, and its body, where a server whose message is no
    string (Mistral's, a list of the fields it refused) leaves the SDK's message bare."""
    return f"{exc.message} {json.dumps(exc.body, default=str)}"


def _build_client(api_key: str, base_url: str | None, timeout: float) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(verify=_tls_context())
    return openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0, http_client=http
    )


_clients = PerThread(_build_client, close=lambda client: client.close())


def forget_clients() -> None:
    """Close this thread's kept client, so the next call builds one from the current config."""
    _clients.forget()


@functools.cache
def _tls_context():
    """The SDK's default TLS settings, built once per process: loading the CA bundle costs
    ~50 ms of CPU, which each thread's new client would otherwise pay again."""
    return httpx2.create_ssl_context()


#: Statuses the SDK itself would retry besides 429 and 5xx: a request timeout (what a proxy
#: such as LiteLLM answers when the model behind it is too slow) and a lock timeout.
_PASSING_STATUSES = {408: "openai_timeout", 409: "openai_error"}


#: How servers say a request is longer than the model's context window: OpenAI's code,
#: vLLM's "maximum context length is 4096 tokens", llama.cpp's "exceeds the available
#: context size".
_CONTEXT_WORDS = re.compile(r"context[ _](?:length|size|window)", re.IGNORECASE)


def _about_context(exc: openai.APIStatusError) -> bool:
    return exc.code == "context_length_exceeded" or bool(_CONTEXT_WORDS.search(exc.message))


#: How OpenAI says a picture itself will not do (a broken file, an animated GIF, a format
#: it does not take), where a model that reads no pictures names image_url instead.
_IMAGE_CODES = frozenset({"invalid_image", "invalid_image_format", "image_parse_error"})
_IMAGE_WORDS = re.compile(r"\b(?:invalid|unsupported) image\b", re.IGNORECASE)


def _about_image(exc: openai.APIStatusError) -> bool:
    return exc.code in _IMAGE_CODES or bool(_IMAGE_WORDS.search(exc.message))


def _readable_message(exc: openai.APIStatusError) -> str:
    """The SDK's message, with the start of the body when the SDK found no message string
    in it ("Error code: 422" alone: Mistral's list of refused fields, FastAPI's "detail",
    a proxy's HTML page), so that the error log says what the server said."""
    if exc.message != f"Error code: {exc.status_code}" or exc.body is None:
        return exc.message
    return f"{exc.message} - {_excerpt(exc.body, 300)}"


def translate_error(exc: openai.OpenAIError) -> LLMError:
    """Which failures are worth a retry: timeouts (a proxy's 408 too), lost connections,
    409, 429 and 5xx, but not a 429 that says the account's credit is used up (that needs a
    human, not a retry)."""
    request_id = getattr(exc, "request_id", None)
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"AI timeout: {exc}", error_type="openai_timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"AI unreachable: {exc}", error_type="openai_error", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        exhausted = status == 429 and exc.code == "insufficient_quota"
        passing = status in _PASSING_STATUSES or status >= 500
        retryable = (status == 429 and not exhausted) or passing
        text = f"AI error {status} ({exc.code or 'no code'}): {_readable_message(exc)}"
        return LLMError(
            text,
            error_type=_PASSING_STATUSES.get(status, "openai_error"),
            retryable=retryable,
            request_id=request_id,
            status=status,
            context_too_long=status == 400 and _about_context(exc),
            image_rejected=status == 400 and _about_image(exc),
        )
    return LLMError(f"AI error: {exc}", error_type="openai_error", retryable=False)


class OfflineBackend:
    """The embedded default when no model is configured: an honest notice, never dressed up
    as an AI answer (metadata marks it offline and it costs no tokens)."""

    name = "offline"

    def complete(
        self, messages: list[dict], max_tokens: int, tools: list[dict] | None = None
    ) -> Completion:
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if isinstance(question, list):  # text and image parts: quote the text
            texts = [part.get("text", "") for part in question if part.get("type") == "text"]
            question = " ".join(texts)
        excerpt = question if len(question) <= 80 else question[:77].rstrip() + "..."
        return Completion(
            text=f'{OFFLINE_NOTICE}"{excerpt}"',
            model="offline",
            finish_reason="stop",
            offline=True,
        )

    def transcribe(self, data: bytes, filename: str, content_type: str) -> Completion:
        text = f"{OFFLINE_TRANSCRIPT} ({content_type}, {len(data)} bytes)"
        return Completion(text=text, model="offline", offline=True)


OFFLINE_TRANSCRIPT = "[Offline transcript] No speech-to-text model is configured: a voice note"

BACKENDS = {"openai": OpenAIBackend, "offline": OfflineBackend}


def get_llm_backend() -> OpenAIBackend | OfflineBackend:
    """The backend LLM_BACKEND names; unknown names stop with a clear error."""
    name = current_app.config["LLM_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"LLM_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    return backend(current_app.config) if name == "openai" else backend()
