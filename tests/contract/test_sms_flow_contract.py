"""One signed inbound SMS through the real openai and twilio SDKs, over HTTP, against the
vendors' own API specs: every request we make must pass the spec's validation."""

from __future__ import annotations

import json
from decimal import Decimal

import openai
import pytest
import sqlalchemy as sa

from sms_agent import jobs, notices
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task
from sms_agent.vendors import twilio as sms
from tests.broker import drained
from tests.factories import make_task, make_user
from tests.standins import inbound_form, signed_post

pytestmark = pytest.mark.contract

PUBLIC_URL = "https://sms.example.com"


@pytest.fixture
def contract_app(app, contract_mocks):
    app.config.update(
        SMS_BACKEND="twilio",
        TWILIO_API_BASE_URL=contract_mocks["TWILIO_API_BASE_URL"],
        LLM_BACKEND="openai",
        OPENAI_BASE_URL=contract_mocks["OPENAI_BASE_URL"],
        OPENAI_API_KEY="sk-contract-test",
        PUBLIC_BASE_URL=PUBLIC_URL,
    )
    return app


def queued_answer_jobs(app) -> list[str]:
    return [
        message.payload[0][0]
        for message in drained(app)
        if message.headers["task"] == "sms_agent.jobs.answer_task"
    ]


def test_an_inbound_sms_is_answered_through_both_vendor_contracts(contract_app, client, exchanges):
    queued_answer_jobs(contract_app)  # start from an empty queue
    # A texter who had the program notice already: the mock answers every send with the
    # spec's one example sid, so a second SMS in one test would collide with the first.
    make_user("+15551230000")
    form = inbound_form("What is the capital of France?")
    response = signed_post(client, "/sms/inbound", form, url=PUBLIC_URL + "/sms/inbound")
    assert response.status_code == 200

    [task_id] = queued_answer_jobs(contract_app)
    assert jobs.answer_task.apply(args=[task_id]).get() == "answered"

    db.session.rollback()
    task = db.session.scalar(sa.select(Task).where(Task.message_sid == form["MessageSid"]))
    assert task.status == "completed"
    assert task.ai_response == "Hello! How can I assist you today?"  # OpenAI's documented example
    assert task.tokens_used > 0 and task.metadata_["finish_reason"] == "stop"
    # The spec's usage, prompt_tokens_details.cached_tokens included, as the SDK reads it.
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert (call.prompt_tokens, call.cached_tokens, call.completion_tokens) == (19, 0, 10)
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert sent.sid.startswith("SM") and sent.status == "queued"  # Twilio's documented example
    assert exchanges == [("openai", 200, None), ("twilio", 201, None)]


def test_the_twilio_contract_rejects_what_the_spec_forbids(contract_app, exchanges):
    """The mock really validates: a malformed status callback URL is refused with 422."""
    contract_app.config["PUBLIC_BASE_URL"] = "not a url"
    with pytest.raises(sms.SmsError) as caught:
        sms.get_sms_backend().send("+15551230000", "hi")
    assert caught.value.status == 422 and not caught.value.retryable
    assert exchanges[-1][:2] == ("twilio", 422)


def test_offering_the_model_the_request_human_tool_meets_the_openai_spec(contract_app, exchanges):
    """Chat completions accept `tools`: the mock validates our function definition."""
    from sms_agent.answering.ask import TOOLS
    from sms_agent.vendors.openai import get_llm_backend

    question = [{"role": "user", "content": "Can I talk to someone about my bill?"}]
    completion = get_llm_backend().complete(question, 100, tools=TOOLS)
    assert completion.text  # the spec's example answers in words; no tool is called
    assert exchanges == [("openai", 200, None)]


def test_a_reasoning_models_effort_is_sent_as_the_openai_spec_names_it(contract_app, exchanges):
    """The mock validates `reasoning_effort` against the spec's values: a known effort is
    accepted, a made-up one refused, so the field is the one OpenAI reads."""
    from sms_agent.vendors.openai import LLMError, get_llm_backend

    question = [{"role": "user", "content": "What is 2 + 2?"}]
    contract_app.config.update(OPENAI_REASONING_TOKENS=512, OPENAI_REASONING_EFFORT="low")
    assert get_llm_backend().complete(question, 100).text
    contract_app.config["OPENAI_REASONING_EFFORT"] = "as-hard-as-you-can"
    with pytest.raises(LLMError):
        get_llm_backend().complete(question, 100)
    assert [status for _, status, _ in exchanges] == [200, 422]


def test_twilios_price_of_a_message_is_read_through_the_contract(contract_app, exchanges):
    """GET .../Messages/{Sid}.json as the price job makes it: the spec's example is priced."""
    price = sms.get_sms_backend().fetch_price("SM" + "b" * 32)
    assert (price.amount, price.unit) == (Decimal("-0.00750"), "USD")
    assert exchanges == [("twilio", 200, None)]


@pytest.fixture
def model_calls_a_tool(monkeypatch, exchanges):
    """Every chat completion answers with the spec's `functions` example: a call to
    get_current_weather, a tool we never offer."""
    watched = openai.OpenAI

    class CallingOpenAI(watched):
        def __init__(self, **kwargs):
            super().__init__(default_headers={"Prefer": "example=functions"}, **kwargs)

    monkeypatch.setattr(openai, "OpenAI", CallingOpenAI)
    return exchanges


def test_a_tool_we_never_offered_is_answered_as_the_spec_defines_a_tool_reply(
    contract_app, model_calls_a_tool
):
    """The model's turn and our tool error, sent back to ask once more, pass the spec's
    request validation; a model that still wants the tool gets the texter the declined
    notice, not an apology."""
    task = make_task(user=make_user("+15551230000"), sms_content="Weather in Boston?")
    assert pipeline.answer(task.id) == "answered"

    statuses = [(service, status) for service, status, _ in model_calls_a_tool]
    assert statuses == [("openai", 200), ("openai", 200), ("twilio", 201)]
    # The only violation is the spec's own: its `functions` example lacks `refusal`.
    for _, _, violations in model_calls_a_tool:
        for violation in json.loads(violations or "[]"):
            assert violation["location"][0] == "response", violation
    db.session.rollback()
    task = db.session.get(Task, task.id)
    assert (task.metadata_["finish_reason"], task.metadata_["declined"]) == (
        "tool_calls",
        "unknown_tool",
    )
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (sent.kind, sent.body) == ("declined", notices.compose("declined", task.user))
