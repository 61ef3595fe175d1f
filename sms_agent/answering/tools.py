"""The tools the model is offered (OpenAI function calling), and the reply a call to any
other tool gets.

Models sometimes call a tool they were never offered (get_weather, web_search), having
learnt it elsewhere, and may add a promise such as "Let me check the weather." Neither is
an answer. A well-built agent loop answers such a call with a tool error, as it would a
failed tool, and lets the model answer with what it has: this module writes that reply,
ask.py sends it once."""

from __future__ import annotations

import json

from ..vendors.openai import Completion

#: The tool the model may call to hand the texter to staff.
REQUEST_HUMAN = "request_human"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": REQUEST_HUMAN,
            "description": (
                "Hand this conversation to a human staff member. Call it when the texter asks "
                "for a person, or when you cannot help them (account, billing or order "
                "problems, complaints, anything needing a human decision)."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why a person is needed."}
                },
            },
        },
    }
]
OFFERED = frozenset(tool["function"]["name"] for tool in TOOLS)


def calls_unknown_tool(completion: Completion) -> bool:
    """Whether the model called only tools it was not offered (a request_human beside them
    is obeyed)."""
    return bool(completion.calls) and not OFFERED.intersection(completion.tool_calls)


def unknown_tool_replies(completion: Completion) -> list[dict]:
    """The model's turn as it made it, then a tool error for each of its calls: the
    messages that let it answer directly on the next request."""
    turn = {
        "role": "assistant",
        "content": completion.text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _replayable(call.arguments)},
            }
            for call in completion.calls
        ],
    }
    errors = [
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": (
                f"Error: there is no tool named {call.name}. Answer the texter directly with "
                "what you know, or say plainly that you cannot."
            ),
        }
        for call in completion.calls
    ]
    return [turn, *errors]


def _replayable(arguments: str) -> str:
    """A call's arguments as the next request may carry them. Servers that render the call
    for the model (vLLM, SGLang) parse them and refuse the whole request when they are not
    a JSON object, as a model cut short or careless writes them: the texter would get the
    apology. The tool is never run, so an empty object says as much as they did."""
    try:
        return arguments if isinstance(json.loads(arguments), dict) else "{}"
    except (ValueError, RecursionError):
        return "{}"
