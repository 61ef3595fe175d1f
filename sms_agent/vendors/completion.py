"""A model's answer as the app reads it, whichever backend gave it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ToolCall:
    """One function call the model made: what the next request must answer by `id`."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class Completion:
    text: str
    #: The model that answered, as the answer names it.
    model: str
    finish_reason: str | None = None
    request_id: str | None = None
    tokens_used: int = 0
    #: The usage the model reported, which its price is computed from.
    prompt_tokens: int = 0
    #: Of those, the ones the server read from its prompt cache, billed at a lower price.
    cached_tokens: int = 0
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
    #: DeepSeek, abort from vLLM).
    failure: str = ""
    #: The field beside the content that held the model's reasoning ("reasoning_content",
    #: "reasoning"), "" without one: never read, but named when the content is empty.
    reasoning_field: str = ""
    #: The model stopped inside thinking it never closed: its token limit came first,
    #: whatever finish reason the server gave, so asking again pays for the same thinking.
    still_thinking: bool = False
    #: The model closed its thinking and wrote nothing after it: it ended there by itself,
    #: and asking again pays for the same thinking, mostly to the same end.
    thought_only: bool = False
    #: The model the request named, when the answer names another: llama.cpp's server
    #: names every answer gpt-3.5-turbo, a router's alias (openrouter/auto, LiteLLM's) the
    #: model it chose. Priced as the model asked when the one named has no price.
    asked: str = ""

    @property
    def tool_calls(self) -> tuple[str, ...]:
        """The names of the tools the model called, in order."""
        return tuple(call.name for call in self.calls)
