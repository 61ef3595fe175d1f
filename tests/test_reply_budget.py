"""The length the model is asked for follows the encoding the reply will use and the tier's
segments, and an answer within it arrives whole (stand-in model, real openai and twilio SDKs
talking to the stand-ins)."""

from __future__ import annotations

import pytest

from sms_agent import more
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.outbound.gsm import GSM_7, UCS_2, encoding_of, segment_count
from sms_agent.outbound.shape import MARKER, char_budget
from tests.factories import make_task, make_user
from tests.standins import chat_completion

CHINESE_QUESTION = "\u4ec0\u4e48\u662f\u57df\u540d\u7cfb\u7edf\uff1f"  # What is DNS?
CHINESE_SENTENCE = "\u57df\u540d\u7cfb\u7edf\u628a\u540d\u5b57\u53d8\u6210\u5730\u5740\u3002"


def answer_of_length(length: int, sentence: str) -> str:
    """Whole sentences repeated, then cut to `length` characters with a final stop."""
    text = (sentence * (length // len(sentence) + 1))[: length - 1]
    return text.rstrip() + ("\u3002" if sentence.endswith("\u3002") else ".")


def bodies(twilio_server) -> list[str]:
    return [request[2]["Body"] for request in twilio_server.requests]


def test_a_chinese_question_is_asked_for_a_ucs2_length(app, openai_server, twilio_server):
    """Regression: the model was asked for 459 characters (GSM-7) whatever the script, so a
    Chinese answer of that length was then cut to 196 characters."""
    task = make_task(user=make_user(tier="free"), sms_content=CHINESE_QUESTION)
    openai_server.then(200, chat_completion(answer_of_length(190, CHINESE_SENTENCE)))
    pipeline.answer(task.id)
    request = openai_server.requests[0][2]
    assert "under 190 characters" in request["messages"][0]["content"]
    assert request["max_completion_tokens"] == 190 + 32
    [body] = bodies(twilio_server)
    assert len(body) == 190 and not body.endswith(MARKER)
    assert encoding_of(body) == UCS_2 and segment_count(body) == 3


def test_a_long_chinese_answer_is_cut_visibly_and_fully_reachable(
    app, openai_server, twilio_server
):
    """Regression: a 448-character Chinese answer was cut to 196 characters without a sign."""
    user = make_user(tier="free")
    task = make_task(user=user, sms_content=CHINESE_QUESTION)
    answer = answer_of_length(448, CHINESE_SENTENCE)
    openai_server.then(200, chat_completion(answer))
    pipeline.answer(task.id)
    while more.send_more(user):
        db.session.commit()
        if bodies(twilio_server)[-1] == more.WHOLE:
            break
    *parts, last = bodies(twilio_server)
    assert last == more.WHOLE
    assert all(part.endswith(MARKER) for part in parts[:-1])
    assert all(segment_count(part) <= 3 for part in parts)
    assert "".join(part.removesuffix(MARKER) for part in parts) == answer


@pytest.mark.parametrize("tier", ["free", "premium", "enterprise"])
@pytest.mark.parametrize(
    ("question", "sentence", "encoding"),
    [
        ("How does DNS work?", "DNS maps a name to the address of a server. ", GSM_7),
        (CHINESE_QUESTION, CHINESE_SENTENCE, UCS_2),
    ],
)
def test_an_answer_of_the_asked_length_arrives_whole(
    app, openai_server, twilio_server, tier, question, sentence, encoding
):
    segments = app.config[f"SEGMENTS_{tier.upper()}"]
    asked = char_budget(segments, encoding)
    openai_server.then(200, chat_completion(answer_of_length(asked, sentence)))
    task = make_task(user=make_user(tier=tier), sms_content=question)
    pipeline.answer(task.id)
    assert f"under {asked} characters" in openai_server.requests[0][2]["messages"][0]["content"]
    sent = bodies(twilio_server)
    assert not sent[-1].endswith(MARKER)
    assert sum(segment_count(body) for body in sent) <= segments
    assert {encoding_of(body) for body in sent} == {encoding}
    assert db.session.get(type(task), task.id).metadata_["more"] == ""


def test_one_emoji_does_not_make_a_model_answer_ucs2(app, openai_server, twilio_server):
    """Regression: one emoji sent a whole answer as UCS-2, 168 characters in 3 segments."""
    answer = answer_of_length(440, "DNS maps a name to the address of a server. ")
    openai_server.then(200, chat_completion("\U0001f680 " + answer))
    pipeline.answer(make_task(user=make_user(tier="free")).id)
    [body] = bodies(twilio_server)
    assert encoding_of(body) == GSM_7 and body == answer
