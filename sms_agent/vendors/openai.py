"""Asking a language model: OpenAI or any OpenAI-compatible server, or the offline notice.

Nothing outside vendors/ imports openai, and the rest of the app imports from here alone.
The request and what this process remembers of each server are here; the answer is read at
the border (reading.py: readable text, no thinking, template tokens, citation marks or tool
calls left in it), failures become LLMErrors (llm_errors.py), usage becomes counts
(usage.py), clients are kept per worker thread (openai_clients.py), and offline.py is the
backend without a model.

Tools (function calling) are offered when the caller passes them. A server that refuses a
request with tools (400 or 422: many OpenAI-compatible servers know no tools; a 500 that
says so, from llama.cpp's server without --jinja) is asked once more without them, and
this process remembers not to offer that server tools again; a server that ignores them
simply answers. Groq's 400 for a call its model wrote badly (tool_use_failed) is no such
refusal: the call it quotes is read, or the question asked once more without tools. A
server that refuses the answer's cap under OpenAI's name, max_completion_tokens (Mistral's
API), is given it as max_tokens, likewise;
and one whose chat template refuses a system message gets the instructions in the first
user turn.
"""

from __future__ import annotations

import functools
import json
import logging
import re

import openai
from openai._models import FinalRequestOptions
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice

from ..clean_text import readable
from ..current import app_config
from .chat_answer import ChatAnswer
from .completion import Completion, ToolCall
from .events import completion_in_events
from .llm_errors import (
    PROMPT_FILTERED,
    LLMError,
    about_context,
    about_image,
    not_a_completion,
    translate_error,
)
from .offline import OFFLINE_NOTICE, OFFLINE_TRANSCRIPT, OfflineBackend
from .openai_clients import clients, forget_clients
from .reading import completion_from
from .usage import MOST_TOKENS, transcription_usage

__all__ = [
    "BACKENDS",
    "MOST_TOKENS",
    "OFFLINE_NOTICE",
    "OFFLINE_TRANSCRIPT",
    "PROMPT_FILTERED",
    "Completion",
    "LLMError",
    "OfflineBackend",
    "OpenAIBackend",
    "ToolCall",
    "forget_clients",
    "forget_servers",
    "get_llm_backend",
    "not_a_completion",
    "translate_error",
]

log = logging.getLogger("sms_agent.llm")


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
            if not tools or about_context(exc) or about_image(exc):
                # Too long for the model, or a picture it cannot open, is no refusal of
                # tools: without them it fails the same way (or fits, and the server would
                # never be offered tools again).
                raise translate_error(exc) from exc
            if exc.code == _CALL_UNPARSED:
                response = self._unparsed_call(messages, max_tokens, exc)
            else:
                response = self._without_tools(messages, max_tokens, exc)
        except openai.InternalServerError as exc:
            if not tools or not _TOOLS_REFUSED.search(_said(exc)):
                raise translate_error(exc) from exc
            response = self._without_tools(messages, max_tokens, exc)
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        return completion_from(response, self.model, messages)

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
        a job's Python calls; the request sent is the same. The answer is read by ChatAnswer
        (chat_answer.py) into the ChatCompletion the SDK would have built."""
        if self.server in _SERVERS_WITHOUT_SYSTEM:
            messages = _system_in_first_turn(messages)
        # "stream" is said, though false is OpenAI's default: some servers default to true.
        body = {"model": self.model, "messages": messages, cap: max_tokens, "stream": False}
        if self.thinking:
            body[cap] += self.thinking.get("tokens", 0)
            if "effort" in self.thinking:
                body["reasoning_effort"] = self.thinking["effort"]
        if tools:
            body["tools"] = tools
        client = clients.get(*self.settings)
        try:
            return client.request(ChatAnswer, _chat_options(body))
        except json.JSONDecodeError as exc:  # the SDK parses any JSON-typed body
            streamed = completion_in_events(exc.doc)  # events labelled as JSON
            if streamed is None:
                raise not_a_completion(f"JSON that does not parse ({exc})") from exc
            return streamed
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            # Asked once more with the instructions moved, never again if that fails too.
            known = self.server in _SERVERS_WITHOUT_SYSTEM
            if known or messages[0]["role"] != "system" or not _NO_SYSTEM_ROLE.search(_said(exc)):
                raise
        log.warning("the model's chat template has no system role; instructions go to the user")
        _SERVERS_WITHOUT_SYSTEM.add(self.server)
        return self._post(messages, max_tokens, tools, cap)

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

    def _unparsed_call(self, messages: list[dict], max_tokens: int, exc: openai.APIStatusError):
        """Groq could not parse the tool call its model wrote, this once: the call it
        quotes, when the border reads one in it (text_calls.py), is the answer; else the
        question is asked once more without tools. Either way the server is still offered
        tools next time."""
        written = exc.body.get("failed_generation") if isinstance(exc.body, dict) else None
        quoted = _quoted(written) if isinstance(written, str) else None
        if quoted and completion_from(quoted, self.model).calls:
            log.warning("the model server could not parse the model's tool call; read here")
            return quoted
        log.warning("the model server could not parse the model's tool call; asked again")
        try:
            return self._create(messages, max_tokens, None)
        except openai.OpenAIError as again:
            raise translate_error(again) from again

    def transcribe(self, data: bytes, filename: str, content_type: str) -> Completion:
        """The words of a voice note, through the server's audio transcription, with the
        usage it was billed for (tokens, or seconds of audio) when the server reports it."""
        try:
            result = clients.get(*self.settings).audio.transcriptions.create(
                model=self.transcribe_model, file=(filename, data, content_type)
            )
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        except json.JSONDecodeError as exc:
            raise not_a_completion(f"JSON that does not parse ({exc})") from exc
        text = getattr(result, "text", None)
        text = readable(text if isinstance(text, str) else "").strip()
        tokens_in, tokens_out, seconds = transcription_usage(
            getattr(result, "usage", None), len(data), text
        )
        return Completion(
            text=text,
            model=self.transcribe_model,
            prompt_tokens=tokens_in,
            completion_tokens=tokens_out,
            audio_seconds=seconds,
        )


@functools.cache
def _chat_post() -> FinalRequestOptions:
    return FinalRequestOptions.construct(
        method="post", url="/chat/completions", json_data=None, content=None, files=None
    )


def _chat_options(body: dict) -> FinalRequestOptions:
    """The options `client.post("/chat/completions", body=body)` builds for its request():
    copied from one built once, where pydantic's construct walked every field of the
    options and copied each default afresh (about 2% of a job's instructions). The
    defaults that are dicts are new ones each time, as construct made them, and the body is
    a copy, as construct's own is."""
    made = _chat_post()
    fresh = {"json_data": dict(body), "params": {}, "security": dict(made.security)}
    return made.model_copy(update=fresh)


#: (base URL, model) of the servers that refused a request with tools, in this process.
_SERVERS_WITHOUT_TOOLS: set[tuple[str | None, str]] = set()
#: Groq's 400 when the model wrote a tool call it could not parse, quoted in the error's
#: failed_generation: a fault of one answer, not a refusal of tools.
_CALL_UNPARSED = "tool_use_failed"


def _quoted(written: str) -> ChatCompletion:
    """What the model wrote, as the answer of a completion."""
    message = ChatCompletionMessage.construct(role="assistant", content=written)
    choice = Choice.construct(index=0, message=message, finish_reason="tool_calls")
    return ChatCompletion.construct(choices=[choice], model=None, usage=None)


#: (base URL, model) of the servers that refused max_completion_tokens, in this process.
_SERVERS_WITH_MAX_TOKENS: set[tuple[str | None, str]] = set()
#: How a server that says so with a 500 refuses tools: llama.cpp's without --jinja, in
#: its words of each version. A retry with tools would meet it again.
_TOOLS_REFUSED = re.compile(
    r"tools param requires --jinja|unsupported param: tools|tools param is not", re.IGNORECASE
)
#: (base URL, model) of the servers whose chat template refused a system message.
_SERVERS_WITHOUT_SYSTEM: set[tuple[str | None, str]] = set()

#: How a chat template without a system role refuses one, as vLLM, SGLang and TGI pass its
#: error on: Gemma's "System role not supported", an early Mistral's "Only user and
#: assistant roles are supported!", and the "Conversation roles must alternate" of
#: templates that count the system message as a user's turn; and OpenAI's o1-mini:
#: "'messages[0].role' does not support 'system' with this model".
_NO_SYSTEM_ROLE = re.compile(
    r"system role (?:is )?not supported|only user and assistant roles|roles must alternate"
    r"|does not support 'system'",
    re.IGNORECASE,
)


def forget_servers() -> None:
    """Forget what this process learned of the model servers it asked (which refused
    tools, max_completion_tokens or a system message): a server started later on the
    same address and model is asked as any other, not as the one before it."""
    for learned in (_SERVERS_WITHOUT_TOOLS, _SERVERS_WITH_MAX_TOKENS, _SERVERS_WITHOUT_SYSTEM):
        learned.clear()


def _system_in_first_turn(messages: list[dict]) -> list[dict]:
    """`messages` without a system message: its instructions open the first user turn, as
    such models are prompted (Gemma's own template does this when it knows the role)."""
    roles = [message["role"] for message in messages[:2]]
    if roles != ["system", "user"]:
        return messages
    instructions, first, *rest = messages
    content = first["content"]
    if isinstance(content, list):  # a picture's parts: the instructions as the first text
        content = [{"type": "text", "text": instructions["content"]}, *content]
    else:
        content = f"{instructions['content']}\n\n{content}"
    return [{**first, "content": content}, *rest]


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


BACKENDS = {"openai": OpenAIBackend, "offline": OfflineBackend}


def get_llm_backend() -> OpenAIBackend | OfflineBackend:
    """The backend LLM_BACKEND names; unknown names stop with a clear error."""
    config = app_config()
    name = config["LLM_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"LLM_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    return backend(config) if name == "openai" else backend()
