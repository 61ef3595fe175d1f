"""Tapback reactions sent as texts ("Liked “What is 2+2?”"): stored, never answered nor
counted; while staff hold the conversation they read them like any text. A text is one
only when it quotes a message of its thread: 'Loved "Dune"' out of the blue is a remark."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from sms_agent import handoff, simulator
from sms_agent.extensions import db
from sms_agent.inbound.reactions import is_about, quoted_text
from sms_agent.inbound.routing import route
from sms_agent.models import Conversation, OutboundMessage, Task, TaskMedia, User, utcnow
from tests.factories import make_task, make_user
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

#: The wordings iPhones in Spanish, French, German and Portuguese send, in their quote marks
#: (French with the no-break spaces inside its guillemets).
FOREIGN_REACTIONS = [
    "Le gustó “¿Cuánto es 2+2?”",
    "Le encantó “Gracias, funcionó”",
    "No le gustó “Lloverá mañana…”",
    "Le dio risa “¿Por qué cruzó la gallina?”",
    "Exclamó por “Reunión a las 3”",
    "Dudó sobre “La capital es Sídney”",
    "Reaccionó con 🫡 a “4”",
    "Le encantó una imagen",
    "A aimé «\u00a0Combien font 2+2 ?\u00a0»",
    "A adoré « Merci, ça marche »",
    "N’a pas aimé « Il pleuvra demain… »",
    "A ri de « Pourquoi la poule a traversé ? »",
    "A mis en évidence « Réunion à 15 h »",
    "A réagi avec 😂 à « une blague »",
    "A retiré un J’aime de « 4 »",
    "Gefällt „Was ist 2+2?“",
    "Gefällt »Was ist 2+2?«",
    "Curtiu “Quanto é 2+2?”",
    "Amou “Obrigado, funcionou”",
    "Não curtiu “Vai chover amanhã…”",
    "Riu de “Por que a galinha atravessou?”",
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
    "Le gustó “Dune”. ¿Qué leo ahora?",
    "J'ai adoré « le film », tu as vu la suite ?",
    "Gefällt dir „Dune“?",
]


@pytest.mark.parametrize("body", REACTIONS)
def test_tapbacks_sent_as_texts_are_shaped_like_reactions(body):
    assert quoted_text(body) is not None


@pytest.mark.parametrize("body", FOREIGN_REACTIONS)
def test_tapbacks_from_phones_in_spanish_french_german_and_portuguese_are_reactions(body):
    """An iPhone set to Spanish sends 'Le gustó “¿Cuánto es 2+2?”': it went to the model
    and cost the texter a request, as an English one no longer did."""
    quoted = quoted_text(body)
    assert (
        quoted is not None
        and not quoted.startswith(("«", "»", "„", "“"))
        and quoted == quoted.strip()
    )


@pytest.mark.parametrize(
    ("body", "thread"),
    [
        ("A aimé « Combien font 2+2 ? »", ["Combien font 2+2 ?"]),
        ("Gefällt „Was ist 2+2?“", ["Was ist 2+2?", "4"]),
        ("Le gustó “Lloverá mañana…”", ["Lloverá mañana en Madrid."]),
    ],
)
def test_a_foreign_reaction_quotes_a_message_of_its_thread(body, thread):
    quoted = quoted_text(body)
    assert quoted and is_about(quoted, thread) and not is_about(quoted, ["Something else"])


@pytest.mark.parametrize("body", NOT_REACTIONS)
def test_questions_and_remarks_are_not_shaped_like_reactions(body):
    assert quoted_text(body) is None


@pytest.mark.parametrize(
    ("body", "thread", "about"),
    [
        ("Liked “What is 2+2?”", ["4", "What is 2+2?"], True),
        ("Loved “Rain, with a chance of…”", ["Rain, with a chance of snow."], True),
        ("Reacted ❤️ to “Line one\nline two”", ["Line one\n\nline two"], True),
        ("Liked an image", [], True),
        ('Loved "Dune"', ["What should I read?", "Try Foundation."], False),
        ("Liked “What is 2+2?”", [], False),
    ],
)
def test_a_reaction_quotes_a_message_of_its_thread(body, thread, about):
    assert is_about(quoted_text(body), thread) is about


def text_in(client, body: str) -> None:
    """A signed SMS from PHONE through the real webhook, its jobs run at once."""
    form = inbound_form(body, From=PHONE)
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()


def sent() -> list[OutboundMessage]:
    return db.session.scalars(sa.select(OutboundMessage)).all()


@pytest.mark.parametrize(
    "body",
    [
        "Liked “What is 2+2?”",
        "Reacted 👍 to “What is 2+2?”",
        "Le gustó “What is 2+2?”",
        "A aimé « What is 2+2? »",
    ],
)
def test_a_reaction_is_stored_but_not_answered_nor_counted(app, client, body):
    """Regression: a tapback went to the model, cost a request off the quota and got an
    answer ("Glad you liked it!") nobody asked for."""
    user = make_user(PHONE, monthly_requests=3, total_requests=3)
    make_task(user, sms_content="What is 2+2?", status="completed")
    text_in(client, body)

    [task] = db.session.scalars(sa.select(Task).where(Task.sms_content == body)).all()
    assert (task.sms_content, task.status, task.refusal_reason) == (body, "refused", "reaction")
    assert task.quota_window is None and task.ai_response is None
    assert task.status_label == "reaction (not answered)"
    assert sent() == []
    user = db.session.get(User, PHONE)
    assert (user.monthly_requests, user.total_requests) == (3, 3)


def test_a_reaction_from_a_texter_over_the_quota_brings_no_quota_notice(app, client):
    user = make_user(PHONE, monthly_requests=100, total_requests=100)
    make_task(user, sms_content="Thanks!", status="completed")
    text_in(client, "Loved “Thanks!”")
    assert sent() == []
    [task] = db.session.scalars(sa.select(Task).where(Task.sms_content != "Thanks!")).all()
    assert task.refusal_reason == "reaction"


@pytest.mark.parametrize("body", ["Liked “I will look into it”", "Thanks!"])
def test_while_staff_hold_the_conversation_a_reaction_is_held_for_them(app, client, body):
    """A thank-you, routed as a reaction is, is held for staff too: they read it."""
    make_user(PHONE)
    handoff.request_human(db.session.get(User, PHONE), "keyword")
    db.session.commit()
    text_in(client, body)

    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")
    assert db.session.get(Conversation, PHONE).unread == 1
    assert sent() == []


def test_a_remark_shaped_like_a_reaction_but_quoting_nothing_of_the_thread_is_answered(app, client):
    """Regression: 'Loved "Dune"' (a texter telling the service what they read) was taken
    for a tapback and left unanswered."""
    make_user(PHONE, monthly_requests=3, total_requests=3)
    text_in(client, 'Loved "Dune"')

    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.refusal_reason is None and task.ai_response
    assert [m.kind for m in sent()] == ["reply"]
    assert db.session.get(User, PHONE).monthly_requests == 4


def thread_of(user: User, count: int) -> None:
    """`count` messages in a row, alternating texts and our SMS, the oldest "message 0",
    each a second after the one before."""
    start = utcnow() - timedelta(hours=1)
    for n in range(count):
        at = start + timedelta(seconds=n)
        if n % 2:
            sms = OutboundMessage(to_number=user.phone_number, body=f"message {n}", created_at=at)
            db.session.add(sms)
        else:
            text = Task(user=user, sms_content=f"message {n}", status="completed", created_at=at)
            db.session.add(text)
    db.session.commit()


@pytest.mark.parametrize(("quoted", "about"), [(10, True), (11, True), (9, False), (0, False)])
def test_a_reaction_is_looked_for_in_the_last_fifty_messages_of_its_thread(app, quoted, about):
    """Texts and our SMS alike, the newest REACTION_LOOKBACK of them: 60 in the thread leaves
    messages 10 to 59."""
    user = make_user(PHONE)
    thread_of(user, 60)
    received = route(user, f"Liked “message {quoted}”", [])
    assert (received.outcome == "reaction") is about


def test_a_reaction_reads_only_the_bodies_of_its_thread_in_one_query(app, count_queries):
    """Regression: deciding whether a text was a tapback loaded up to 50 whole tasks (with
    their pictures) and SMS (with their staff authors), in four queries, to read one column."""
    user = make_user(PHONE)
    thread_of(user, 60)
    shown = make_task(user, sms_content="Shown", status="completed")
    db.session.add(TaskMedia(task=shown, content_type="image/png", kind="image"))
    db.session.commit()
    db.session.refresh(user)
    with count_queries() as counter:
        assert route(user, "Liked “Shown”", []).outcome == "reaction"
    [statement] = counter.statements
    unread = ("ai_response", "metadata", "message_sid", "staff_user", "price_usd", "task_media")
    assert not [column for column in unread if column in statement], statement


@pytest.mark.parametrize(
    "body",
    [
        *("thanks", "Thank you!", "ok thx", "Thanks so much 🙏", "ty", "Great, thanks!", "merci"),
        *("thank u", "Thanks :)", "thank you very much!!", "thanks, bye", "Much appreciated"),
        *("👍", "🙏🏽", "❤️", "👍👍", "👌 "),
    ],
)
def test_a_thank_you_alone_is_stored_like_a_reaction_not_answered_nor_counted(app, client, body):
    """Decision: a thank-you alone asks nothing, as a tapback does. It cost a request off
    the quota and a model call, and got an SMS ("You're welcome!") the texter then paid
    for too; texters expect no answer to one."""
    user = make_user(PHONE, monthly_requests=3, total_requests=3)
    make_task(user, sms_content="What is 2+2?", status="completed")
    text_in(client, body)

    [task] = db.session.scalars(sa.select(Task).where(Task.sms_content == body)).all()
    assert (task.status, task.refusal_reason, task.ai_response) == ("refused", "reaction", None)
    assert sent() == []
    user = db.session.get(User, PHONE)
    assert (user.monthly_requests, user.total_requests) == (3, 3)


@pytest.mark.parametrize(
    "body",
    ["ok", "yes", "no thanks", "thanks, and what is 3+3?", "Thanks for nothing, why?", "🍕?", "👎"],
)
def test_a_thank_you_with_anything_more_is_a_question_for_the_model(app, client, body):
    make_user(PHONE)
    text_in(client, body)
    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.refusal_reason is None and [m.kind for m in sent()] == ["reply"]
