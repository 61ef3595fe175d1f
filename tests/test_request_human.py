"""The model can ask for a person through its request_human tool, and a model server that
knows no tools still answers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from sms_agent.answering import pipeline
from sms_agent.answering.ask import TOOLS
from sms_agent.extensions import db
from sms_agent.models import Conversation, OutboundMessage, Task, User
from sms_agent.vendors.openai import LLMError, get_llm_backend
from tests.factories import make_task, make_user
from tests.standins import openai_error, openai_standin

QUESTION = [{"role": "user", "content": "I want a refund for my order"}]


@pytest.fixture
def model(app):
    """A model server that calls request_human when the texter mentions a refund."""
    with openai_standin(human_when="refund") as server:
        use(app, server)
        yield server


def use(app, server) -> None:
    app.config.update(
        LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1", OPENAI_API_KEY="sk-test"
    )


def outbox() -> list[OutboundMessage]:
    return db.session.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.created_at)).all()


def test_the_backend_offers_the_tools_and_reports_the_call(app, model):
    completion = get_llm_backend().complete(QUESTION, 100, tools=TOOLS)
    assert completion.tool_calls == ("request_human",)
    [(_, _, request)] = model.requests
    assert [tool["function"]["name"] for tool in request["tools"]] == ["request_human"]


def test_without_tools_the_request_carries_none(app, model):
    completion = get_llm_backend().complete(QUESTION, 100)
    assert completion.tool_calls == () and completion.text
    assert "tools" not in model.requests[0][2]


def test_when_the_model_asks_for_a_person_the_texter_gets_the_acknowledgement(app, model):
    before = REGISTRY.get_sample_value("handoffs_requested_total", {"source": "model"}) or 0
    task = make_task(user=make_user("+15551230000"), sms_content="I want a refund for my order")
    assert pipeline.answer(task.id) == "answered"

    db.session.rollback()
    [ack] = outbox()
    assert (ack.kind, ack.body) == ("handoff", app.config["HANDOFF_ACK_TEXT"])
    task = db.session.get(Task, task.id)
    assert task.status == "completed" and task.metadata_["handoff"] == "model"
    assert db.session.get(User, "+15551230000").conversation_state == "waiting"
    assert db.session.get(Conversation, "+15551230000").handoff_source == "model"
    after = REGISTRY.get_sample_value("handoffs_requested_total", {"source": "model"})
    assert after - before == 1


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Je veux un refund pour ma commande", "Merci. Une personne de notre équipe"),
        ("Quiero un refund por mi pedido", "Gracias. Una persona de nuestro equipo"),
    ],
)
def test_a_person_asked_for_by_the_model_is_promised_in_the_questions_language(
    app, model, question, expected
):
    """Regression: the acknowledgement was in English whatever the question was written in."""
    task = make_task(user=make_user("+15551230000"), sms_content=question)
    assert pipeline.answer(task.id) == "answered"
    db.session.rollback()
    [ack] = outbox()
    assert ack.kind == "handoff" and ack.body.startswith(expected)


def test_an_ordinary_question_is_answered_though_tools_were_offered(app, model):
    task = make_task(user=make_user(), sms_content="What is the capital of France?")
    assert pipeline.answer(task.id) == "answered"
    db.session.rollback()
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]
    assert "tools" in model.requests[0][2]


@pytest.mark.parametrize("status", [400, 422, 500])
def test_a_server_that_refuses_tools_still_answers_and_is_not_offered_them_again(app, status):
    """500: llama.cpp's server without --jinja ("tools param requires --jinja flag"), which
    a retry with tools would meet again, up to the apology."""
    with openai_standin(refuse_tools=status) as server:
        use(app, server)
        first = make_task(user=make_user(), sms_content="What is the capital of France?")
        assert pipeline.answer(first.id) == "answered"
        assert ["tools" in body for _, _, body in server.requests] == [True, False]

        second = make_task(user=make_user(), sms_content="And of Spain?")
        assert pipeline.answer(second.id) == "answered"
        assert ["tools" in body for _, _, body in server.requests] == [True, False, False]
    db.session.rollback()
    assert [m.kind for m in outbox()] == ["reply", "reply"]


def test_a_bad_request_about_something_else_is_reported_and_tools_stay_on(app):
    with openai_standin() as server:
        use(app, server)
        for _ in range(2):
            server.then(400, openai_error("temperature is out of range", "invalid_value"))
        with pytest.raises(LLMError) as caught:
            get_llm_backend().complete(QUESTION, 50, tools=TOOLS)
        assert not caught.value.retryable
        get_llm_backend().complete(QUESTION, 50, tools=TOOLS)
        assert ["tools" in body for _, _, body in server.requests] == [True, False, True]


def call_unparsed(generation: str | None) -> dict:
    """Groq's 400 when its model wrote a tool call that did not parse: what it wrote is in
    failed_generation (beside the error's message, outside OpenAI's error object)."""
    body = openai_error(
        "Failed to call a function. Please adjust your prompt. See 'failed_generation' for "
        "more details.",
        "tool_use_failed",
        "invalid_request_error",
    )
    if generation is not None:
        body["error"]["failed_generation"] = generation
    return body


def test_a_call_for_a_person_groq_could_not_parse_still_hands_over(app, model):
    model.then(400, call_unparsed('<function=request_human>{"reason": "refund"}</function>'))
    task = make_task(user=make_user(), sms_content="I want a refund for my order")
    assert pipeline.answer(task.id) == "answered"
    db.session.rollback()
    assert [m.kind for m in outbox()] == ["handoff"]
    assert len(model.requests) == 1


@pytest.mark.parametrize(
    "generation",
    ["### Paris\nParis is the capital of France.", None],
    ids=["prose", "no-generation"],
)
def test_a_call_groq_could_not_parse_once_leaves_tools_on_for_later_texters(app, model, generation):
    """Groq fails a model's badly written call now and then: taken for a server without
    tools, no texter was offered request_human again until the worker restarted."""
    model.then(400, call_unparsed(generation))
    first = make_task(user=make_user(), sms_content="What is the capital of France?")
    assert pipeline.answer(first.id) == "answered"
    second = make_task(user=make_user(), sms_content="I want a refund for my order")
    assert pipeline.answer(second.id) == "answered"
    assert ["tools" in body for _, _, body in model.requests] == [True, False, True]
    db.session.rollback()
    assert [(m.kind, m.body) for m in outbox()] == [
        ("reply", "Paris is the capital of France."),
        ("handoff", app.config["HANDOFF_ACK_TEXT"]),
    ]


def test_the_offline_backend_ignores_tools(app):
    task = make_task(user=make_user(), sms_content="I want a refund")
    assert pipeline.answer(task.id) == "answered"
    db.session.rollback()
    assert [m.kind for m in outbox()] == ["reply"]
