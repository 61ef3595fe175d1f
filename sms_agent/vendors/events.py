"""A chat completion a server sent as server-sent events though none were asked for.

Some OpenAI-compatible servers stream whatever the request says (mini-sglang), or frame
their one JSON answer as an event stream and end it with "data: [DONE]" (9router): the SDK
hands such a body back as text. Its chunks are put together here into the completion they
stream, so the answer in it reaches the texter instead of being retried as a broken page.
A stream that broke off mid-answer (vLLM's and LiteLLM's error event, or its end with no
chunk saying why the model stopped and no [DONE]) is put together as such an answer, whose
finish_reason is "error" (off_spec.failure): its fragment is never sent, it is asked again.
"""

from __future__ import annotations

import json
import re

from openai.types.chat import ChatCompletion

from .off_spec import REASONING_FIELDS


def completion_in_events(page: str) -> ChatCompletion | None:
    """The completion the events of `page` carry, None when it holds none."""
    framed = _event("data:" + page.split("data: [DONE]")[0])  # JSON, then the end event
    if isinstance(framed, dict) and framed.get("object") == "chat.completion":
        return ChatCompletion.construct(**framed)
    events = [_event(line) for line in page.splitlines() if line.startswith("data:")]
    events = [event for event in events if isinstance(event, dict)]
    if not events:
        return None
    if events[-1].get("object") == "chat.completion":  # one answer, framed as an event
        return ChatCompletion.construct(**events[-1])
    choices = [_first_choice(event) for event in events]
    deltas = [choice.get("delta") for choice in choices if isinstance(choice.get("delta"), dict)]
    if not deltas:
        return None
    reasons = [choice["finish_reason"] for choice in choices if choice.get("finish_reason")]
    usage = [event["usage"] for event in events if isinstance(event.get("usage"), dict)]
    message = {
        "role": "assistant",
        "content": _joined(deltas, "content"),
        "refusal": _joined(deltas, "refusal") or None,
        "tool_calls": _calls(deltas) or None,
        **{name: _joined(deltas, name) for name in REASONING_FIELDS},
    }
    first = events[0]
    return ChatCompletion.construct(
        id=first.get("id") or "",
        object="chat.completion",
        created=first.get("created") or 0,
        model=first.get("model") or "",
        choices=[{"index": 0, "message": message, **_ending(page, events, reasons)}],
        usage=usage[-1] if usage else None,
    )


_DONE = re.compile(r"^data:\s*\[DONE\]", re.MULTILINE)


def _ending(page: str, events: list[dict], reasons: list[str]) -> dict:
    """How the stream ended: with its last finish reason (or at least [DONE]), else as one
    the server broke off, with finish_reason "error" and what broke it."""
    for event in events:
        error = event.get("error")
        if error is not None and not _first_choice(event).get("finish_reason"):
            said = error.get("message") if isinstance(error, dict) else error
            return _broken_off(f"the stream ended in an error: {said}")
    if not reasons and not _DONE.search(page):
        return _broken_off("the stream was cut short")
    return {"finish_reason": (reasons or [None])[-1]}


def _broken_off(why: str) -> dict:
    """A choice's ending as OpenRouter reports one broken off (off_spec.failure reads it)."""
    return {"finish_reason": "error", "error": {"message": why}}


def _event(line: str):
    data = line[len("data:") :].strip()
    try:
        return json.loads(data) if data != "[DONE]" else None
    except ValueError:
        return None


def _first_choice(event: dict) -> dict:
    choices = event.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    return choice if isinstance(choice, dict) else {}


def _joined(deltas: list[dict], field: str) -> str:
    return "".join(delta[field] for delta in deltas if isinstance(delta.get(field), str))


def _calls(deltas: list[dict]) -> list[dict]:
    """The tool calls streamed in pieces: each call's id and name once, its arguments in
    parts, by the index each piece names."""
    calls: dict[int, dict] = {}
    for piece in (call for delta in deltas for call in delta.get("tool_calls") or ()):
        if not isinstance(piece, dict):
            continue
        call = calls.setdefault(piece.get("index") or 0, {"type": "function", "id": None})
        call["id"] = call["id"] or piece.get("id")
        function = piece.get("function") if isinstance(piece.get("function"), dict) else {}
        into = call.setdefault("function", {"name": "", "arguments": ""})
        for field in ("name", "arguments"):
            if isinstance(function.get(field), str):
                into[field] += function[field]
    return [calls[index] for index in sorted(calls)]
