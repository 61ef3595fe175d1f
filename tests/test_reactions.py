"""Tapback reactions sent as texts ("Liked “What is 2+2?”"): stored, never answered nor
counted; while staff hold the conversation they read them like any text."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import handoff, simulator
from sms_agent.extensions import db
from sms_agent.inbound.reactions import is_reaction
from sms_agent.models import Conversation, OutboundMessage, Task, User
from tests.factories import make_user
from tests.standins import inbound_form, signed_post

PHONE = "+15551230000"

REACTIONS = [
    "Liked “What is 2+2?”",
    'Loved "Thanks, that worked"',
    "Disliked “It will rain tomorrow in Paris and the day after, with a chance of…”",
    "Laughed at “Why did the chicken cross the road?”",
    "Emphasized “Meeting at 3pm”",
    "Emphasised “Meeting at 3pm”",
    "Questioned “The capital of Australia is Sydney”",
    "Removed a like from “What is 2+2?”",
    "Removed a heart from “ok”",
    "Removed an exclamation from “Meeting at 3pm”",
    "Removed a question mark from “4”",
    "Reacted 👍 to “What is 2+2?”",
    "Reacted ❤️ to “Line one\nline two”",
    "Reacted 👍🏽 to “4”",
    "Removed 😂 from “a joke”",
    "👍 to “What is 2+2?”",
    '😂 to "Why did the chicken cross the road?"',
    "Liked an image",
    "Loved a movie",
    " Liked “4” ",
]

NOT_REACTIONS = [
    "What is 2+2?",
    "Liked",
    "I liked “Dune”, what should I read next?",
    "Liked “Dune”. What should I read next?",
    'How to "rebase" in git?',
    '2 to "3"',
    "Loved it",
    "liked the answer, thanks",
    "Removed a tooth from my dog, what now?",
    "👍",
    "",
]


@pytest.mark.parametrize("body", REACTIONS)
def test_tapbacks_sent_as_texts_are_reactions(body):
    assert is_reaction(body)


@pytest.mark.parametrize("body", NOT_REACTIONS)
def test_questions_and_remarks_are_not_reactions(body):
    assert not is_reaction(body)


def text_in(client, body: str) -> None:
    """A signed SMS from PHONE through the real webhook, its jobs run at once."""
    form = inbound_form(body, From=PHONE)
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()


def sent() -> list[OutboundMessage]:
    return db.session.scalars(sa.select(OutboundMessage)).all()


@pytest.mark.parametrize("body", ["Liked “What is 2+2?”", "Reacted 👍 to “What is 2+2?”"])
def test_a_reaction_is_stored_but_not_answered_nor_counted(app, client, body):
    """Regression: a tapback went to the model, cost a request off the quota and got an
    answer ("Glad you liked it!") nobody asked for."""
    make_user(PHONE, monthly_requests=3, total_requests=3)
    text_in(client, body)

    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.sms_content, task.status, task.refusal_reason) == (body, "refused", "reaction")
    assert task.quota_window is None and task.ai_response is None
    assert task.status_label == "reaction (not answered)"
    assert sent() == []
    user = db.session.get(User, PHONE)
    assert (user.monthly_requests, user.total_requests) == (3, 3)


def test_a_reaction_from_a_texter_over_the_quota_brings_no_quota_notice(app, client):
    make_user(PHONE, monthly_requests=100, total_requests=100)
    text_in(client, "Loved “Thanks!”")
    assert sent() == []
    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.refusal_reason == "reaction"


def test_while_staff_hold_the_conversation_a_reaction_is_held_for_them(app, client):
    make_user(PHONE)
    handoff.request_human(db.session.get(User, PHONE), "keyword")
    db.session.commit()
    text_in(client, "Liked “I will look into it”")

    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")
    assert db.session.get(Conversation, PHONE).unread == 1
    assert sent() == []
