"""What the texter gets when the model's answer is not plain words: control characters and
escape sequences, and a 200 that is no answer at all. Each goes through the real openai SDK
over HTTP."""

from __future__ import annotations

import pytest

from sms_agent.answering import pipeline
from tests.factories import make_task
from tests.standins import NOT_COMPLETIONS, chat_completion
from tests.test_pipeline import errors, fresh, outbox


@pytest.mark.parametrize(
    "answer,sent",
    [
        ("Hello\x00 world", "Hello world"),
        ("\x1b[31mRed\x1b[0m means stop.", "Red means stop."),
        ("Bad \ud800surrogate\udfff here.", "Bad surrogate here."),
    ],
    ids=["nul", "ansi", "lone-surrogates"],
)
def test_an_answer_with_characters_no_one_can_read_is_stored_and_sent_clean(
    app, openai_server, answer, sent
):
    openai_server.then(200, chat_completion(answer))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert (task.status, task.success, task.ai_response) == ("completed", True, sent)
    assert [(m.kind, m.body, m.encoding) for m in outbox()] == [("reply", sent, "GSM-7")]
    assert errors() == []


@pytest.mark.parametrize("name,body", NOT_COMPLETIONS, ids=[name for name, _ in NOT_COMPLETIONS])
def test_a_200_that_is_not_an_answer_is_retried_then_answered(app, openai_server, name, body):
    openai_server.then(200, body)
    task = make_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert (caught.value.cause.error_type, caught.value.limit_key) == (
        "openai_error",
        "OPENAI_MAX_RETRIES",
    )
    assert fresh(task).status == "queued" and outbox() == []

    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]
    assert errors() == []
