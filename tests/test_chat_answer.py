"""Reading a model server's answer into the SDK's ChatCompletion (vendors/chat_answer.py)."""

from __future__ import annotations

import copy

import openai._base_client
import pydantic
import pytest
from openai._models import construct_type
from openai.types.chat import ChatCompletion

from sms_agent.vendors import chat_answer
from sms_agent.vendors.chat_answer import ChatAnswer
from sms_agent.vendors.openai import get_llm_backend
from tests.standins import (
    chat_completion,
    failed_midway_completion,
    refusal_completion,
    tool_call_completion,
)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _with(body: dict, path: tuple, value) -> dict:
    body = copy.deepcopy(body)
    holder = body
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return body


def _state(value):
    """Everything a model holds: its type, the fields it counts as set, its extra keys and
    every value, down through its nested models."""
    if isinstance(value, pydantic.BaseModel):
        extra = value.__pydantic_extra__ or {}
        return (
            type(value),
            sorted(value.__pydantic_fields_set__),
            _state(extra),
            _state(value.__dict__),
        )
    if isinstance(value, dict):
        return (dict, [(key, _state(item)) for key, item in value.items()])
    if isinstance(value, list):
        return (list, [_state(item) for item in value])
    return (type(value), value)


ANSWERS = {
    "plain": chat_completion("Paris."),
    "tool call": tool_call_completion("request_human", '{"reason": "x"}', "One moment."),
    "refusal": refusal_completion(),
    "an error midway (extra keys)": failed_midway_completion("Par"),
    "reasoning beside the answer": _with(
        chat_completion("4."),
        ("choices", 0, "message"),
        {
            "role": "assistant",
            "content": "4.",
            "reasoning_content": "2+2",
            "tool_calls": [],
        },
    ),
    "usage details": _with(
        chat_completion("Hi."),
        ("usage", "completion_tokens_details"),
        {
            "reasoning_tokens": 5,
            "audio_tokens": None,
            "vendor": "x",
        },
    ),
    "a provider's keys": {**chat_completion("Hi."), "provider": "Groq", "x_groq": {"id": 1}},
    "created as text": _with(chat_completion("Hi."), ("created",), "1700000000"),
    "an unknown finish": _with(chat_completion("Hi."), ("choices", 0, "finish_reason"), "eos"),
    "tokens as a float": _with(chat_completion("Hi."), ("usage", "total_tokens"), 42.0),
    "no choices key": {"id": "x", "object": "chat.completion", "model": "m", "created": 1},
    "a key the SDK takes for itself": _with(chat_completion("Hi."), ("_fields_set",), None),
}


@pytest.mark.parametrize("body", ANSWERS.values(), ids=ANSWERS.keys())
def test_an_answer_is_read_as_the_sdk_builds_it(body):
    assert _state(ChatAnswer.build(response=None, data=copy.deepcopy(body))) == _state(
        construct_type(type_=ChatCompletion, value=copy.deepcopy(body))
    )


def test_only_an_answer_of_other_types_is_built_by_the_sdks_walk(app, openai_server, monkeypatch):
    """An answer whose values all have their declared types is validated by pydantic's core
    (about 0.6 M instructions fewer than the SDK's walk of the type hints in Python); one
    with a value of another type is built by the SDK as before, and reads the same."""
    walked = []

    def walking(**kwargs):
        walked.append(kwargs["type_"])
        return construct_type(**kwargs)

    monkeypatch.setattr(openai._base_client, "construct_type", walking)
    monkeypatch.setattr(chat_answer, "construct_type", walking)
    openai_server.then(200, chat_completion("Paris."))
    assert get_llm_backend().complete(QUESTION, 50).text == "Paris."
    assert walked == []
    openai_server.then(
        200, ANSWERS["created as text"] | {"choices": chat_completion("Rome.")["choices"]}
    )
    assert get_llm_backend().complete(QUESTION, 50).text == "Rome."
    assert walked == [ChatCompletion]
