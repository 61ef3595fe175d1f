"""Asking a language model: OpenAI or any OpenAI-compatible server, or the offline notice.

Nothing else in the app imports openai. The SDK's own retries are switched off
(max_retries=0): the job retries with backoff instead, so a slow model never holds a worker
thread through several hidden attempts, and every attempt is visible in the logs. Each
worker thread keeps its client (and so its connection) from one job to the next.

Tools (function calling) are offered when the caller passes them. A server that refuses a
request with tools (400 or 422: many OpenAI-compatible servers know no tools) is asked once
more without them, and this process remembers not to offer that server tools again; a
server that ignores them simply answers.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import httpx2
import openai
from flask import current_app
from openai.types.chat import ChatCompletion

from .per_thread import PerThread

log = logging.getLogger("sms_agent.llm")

OFFLINE_NOTICE = (
    "[Offline mode] No AI model is configured on this server, so I can't answer yet. "
    "Your message was received: "
)


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
    offline: bool = False
    extra: dict = field(default_factory=dict)
    #: Names of the tools the model called (function calling), in order.
    tool_calls: tuple[str, ...] = ()


class LLMError(Exception):
    """The model gave no usable answer. `error_type` is the ErrorLog type to record;
    `retryable` says whether asking again later may work."""

    def __init__(
        self, message: str, *, error_type: str, retryable: bool, request_id=None, status=None
    ):
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.request_id = request_id
        #: The server's HTTP status, when it answered (a 400 to an image: no vision).
        self.status = status


class OpenAIBackend:
    name = "openai"

    def __init__(self, config) -> None:
        self.model = config["OPENAI_MODEL"]
        self.transcribe_model = config["OPENAI_TRANSCRIBE_MODEL"]
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
            if not tools:
                raise translate_error(exc) from exc
            response = self._without_tools(messages, max_tokens, exc)
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        return self._completion(response)

    def _create(self, messages: list[dict], max_tokens: int, tools: list[dict] | None):
        """POST /chat/completions through the client's post(), the call that
        chat.completions.create() ends in. create() first walks every message and tool
        against the SDK's typed-dict annotations (its "transform", which renames aliased
        fields and formats dates and files: none occur in ours), which cost about a fifth of
        a job's Python calls; the request sent is the same."""
        body = {"model": self.model, "messages": messages, "max_completion_tokens": max_tokens}
        if tools:
            body["tools"] = tools
        client = _clients.get(*self.settings)
        return client.post("/chat/completions", body=body, cast_to=ChatCompletion)

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
        if not response.choices:
            raise LLMError(
                "the model returned no choices", error_type="openai_error", retryable=True
            )
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=(choice.message.content or "").strip(),
            model=response.model or self.model,
            finish_reason=choice.finish_reason,
            request_id=response._request_id,
            tokens_used=usage.total_tokens if usage else 0,
            tool_calls=tuple(
                call.function.name
                for call in choice.message.tool_calls or ()
                if getattr(call, "function", None) is not None
            ),
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        )

    def transcribe(self, data: bytes, filename: str, content_type: str) -> str:
        """The words of a voice note, through the server's audio transcription."""
        try:
            result = _clients.get(*self.settings).audio.transcriptions.create(
                model=self.transcribe_model, file=(filename, data, content_type)
            )
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        return (getattr(result, "text", None) or "").strip()


#: (base URL, model) of the servers that refused a request with tools, in this process.
_SERVERS_WITHOUT_TOOLS: set[tuple[str | None, str]] = set()


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


def translate_error(exc: openai.OpenAIError) -> LLMError:
    """Which failures are worth a retry: timeouts, lost connections, 429 and 5xx, but not a
    429 that says the account's credit is used up (that needs a human, not a retry)."""
    request_id = getattr(exc, "request_id", None)
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"AI timeout: {exc}", error_type="openai_timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"AI unreachable: {exc}", error_type="openai_error", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        exhausted = status == 429 and exc.code == "insufficient_quota"
        retryable = (status == 429 and not exhausted) or status >= 500
        text = f"AI error {status} ({exc.code or 'no code'}): {exc.message}"
        return LLMError(
            text,
            error_type="openai_error",
            retryable=retryable,
            request_id=request_id,
            status=status,
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

    def transcribe(self, data: bytes, filename: str, content_type: str) -> str:
        return f"{OFFLINE_TRANSCRIPT} ({content_type}, {len(data)} bytes)"


OFFLINE_TRANSCRIPT = "[Offline transcript] No speech-to-text model is configured: a voice note"

BACKENDS = {"openai": OpenAIBackend, "offline": OfflineBackend}


def get_llm_backend() -> OpenAIBackend | OfflineBackend:
    """The backend LLM_BACKEND names; unknown names stop with a clear error."""
    name = current_app.config["LLM_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"LLM_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    return backend(current_app.config) if name == "openai" else backend()
