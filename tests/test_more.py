"""Visible cuts and MORE through the signed webhook, the stand-in model and the Twilio
stand-in: a long answer ends with the marker, MORE sends the rest once per SMS without
counting, and the next question's context is what the texter read."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import more, quota
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, OutboundMessage, Task, User
from sms_agent.outbound.gsm import ELLIPSIS, segment_count
from sms_agent.outbound.shape import MARKER
from tests.factories import make_user
from tests.standins import chat_completion, inbound_form, signed_post
from tests.test_webhook import queued_jobs

PHONE = "+15551230000"
LONG = " ".join(
    f"Step {n}: check that the service {word} before you deploy it to production."
    for n, word in enumerate(["starts", "answers", "logs", "recovers", "scales"] * 5, start=1)
)


@pytest.fixture(autouse=True)
def texter(app):
    """An established texter (the one-time program notice is behind them), so the SMS these
    tests read are the answer's parts."""
    return make_user(PHONE)


def text(app, client, body: str, form: dict | None = None) -> dict:
    """Text the service through the signed webhook and run the jobs it enqueued."""
    form = form or inbound_form(body, From=PHONE)
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    celery = app.extensions["celery"]
    for name, args in queued_jobs(app):
        celery.tasks[name](*args)
    db.session.rollback()
    return form


def read(body: str) -> str:
    """What a part says, without the marker or the "..." of a cut at a word (which may have
    replaced a comma or a colon)."""
    text = body.removesuffix(MARKER)
    if text.endswith(ELLIPSIS):
        text = text.removesuffix(ELLIPSIS).rstrip(",;:-(/.")
    return text


def bodies(twilio_server) -> list[str]:
    return [request[2]["Body"] for request in twilio_server.requests]


def test_a_cut_answer_says_so_and_more_sends_every_remaining_part(
    app, client, openai_server, twilio_server
):
    openai_server.then(200, chat_completion(LONG))
    text(app, client, "How do I deploy safely?")
    [first] = bodies(twilio_server)
    assert first.endswith(MARKER) and segment_count(first) <= 3  # free tier
    for _ in range(20):
        text(app, client, "more")
        if bodies(twilio_server)[-1] == more.WHOLE:
            break
    *parts, whole = bodies(twilio_server)
    assert whole == more.WHOLE and len(parts) >= 3
    assert all(part.endswith(MARKER) for part in parts[:-1])
    assert not parts[-1].endswith(MARKER)
    assert all(segment_count(part) <= 3 for part in parts)
    shown = [read(part) for part in parts]
    position = 0
    for text_read in shown:  # every part continues where the previous one stopped
        position = LONG.index(text_read, position) + len(text_read)
    assert position == len(LONG)
    task = db.session.scalars(sa.select(Task)).one()
    assert task.metadata_["sent"] == LONG and task.metadata_["more"] == ""
    user = db.session.get(User, PHONE)
    assert quota.used(user) == 1  # MORE is part of an answer already counted
    kinds = db.session.scalars(sa.select(OutboundMessage.kind).order_by(OutboundMessage.created_at))
    assert list(kinds) == ["reply"] + ["more"] * (len(parts) - 1) + ["more_done"]


def test_a_retried_more_sends_its_part_once(app, client, openai_server, twilio_server):
    openai_server.then(200, chat_completion(LONG))
    text(app, client, "How do I deploy safely?")
    form = text(app, client, "MORE")
    text(app, client, "MORE", form)  # Twilio retries the same MessageSid
    app.extensions["celery"].tasks["sms_agent.jobs.send_notice"](PHONE, "more", form["MessageSid"])
    assert len(bodies(twilio_server)) == 2  # the answer's first part and one MORE part


def test_more_with_nothing_to_continue_gets_one_friendly_line(app, client, twilio_server):
    text(app, client, "More.")
    assert bodies(twilio_server) == [more.NOTHING]


def test_more_as_a_numbers_first_text_comes_after_the_program_notice(app, client, twilio_server):
    """A number whose first text was MORE got "no answer yet" before the carriers' program
    notice, which must precede anything a number gets from us."""
    newcomer = "+15551230077"
    make_user(newcomer, service_state={})
    text(app, client, "MORE", inbound_form("MORE", From=newcomer))
    kinds = db.session.scalars(sa.select(OutboundMessage.kind).order_by(OutboundMessage.created_at))
    assert list(kinds) == ["program", "more_done"]
    assert bodies(twilio_server)[1] == more.NOTHING


def test_more_from_abroad_sends_nothing_and_leaves_staff_the_error(app, client, twilio_server):
    abroad = "+447700900123"
    make_user(abroad)
    text(app, client, "MORE", inbound_form("MORE", From=abroad))
    assert bodies(twilio_server) == []
    [error] = db.session.scalars(sa.select(ErrorLog)).all()
    assert (error.error_type, error.user_phone) == ("validation_error", abroad)


def test_more_after_reset_does_not_continue_the_forgotten_answer(
    app, client, openai_server, twilio_server
):
    """Regression: RESET answered "OK, I've forgotten our conversation", and MORE then
    went on with the answer from before it."""
    openai_server.then(200, chat_completion(LONG))
    text(app, client, "How do I deploy safely?")
    read_a_while_ago()
    text(app, client, "RESET")
    text(app, client, "MORE")
    assert bodies(twilio_server)[-1] == more.NOTHING


def read_a_while_ago() -> None:
    """The texter's answers came minutes ago: time enough to read them before texting."""
    from datetime import timedelta

    for task in db.session.scalars(sa.select(Task)):
        task.created_at -= timedelta(minutes=5)
        task.completed_at -= timedelta(minutes=5)
    db.session.commit()


def test_more_continues_an_answer_that_crossed_the_reset(app, client, openai_server, twilio_server):
    """Regression: an answer finished a moment before the texter's RESET arrived (it was on
    its way to their phone when they sent it) came, "(Reply MORE)" under it, beside "I've
    forgotten our conversation", and MORE said there was no answer to continue; had it
    finished a moment after the RESET, MORE continued it."""
    openai_server.then(200, chat_completion(LONG))
    text(app, client, "How do I deploy safely?")
    text(app, client, "RESET")
    text(app, client, "MORE")
    first, reset, second = bodies(twilio_server)
    assert reset.startswith("OK, I've forgotten") and first.endswith(MARKER)
    assert second not in (more.NOTHING, more.WHOLE)
    assert LONG.index(read(second)) > LONG.index(read(first))


def test_the_answer_that_crossed_the_reset_is_context_for_the_next_question(
    app, client, openai_server, twilio_server
):
    """Regression: the answer that crossed the RESET reached the texter beside "I've
    forgotten our conversation" (MORE continues it), but their follow-up was asked of the
    model without it, which then did not know what "it" was. Answers read before the RESET
    stay forgotten."""
    openai_server.then(200, chat_completion("Use a staging server first."))
    text(app, client, "What is a staging server?")
    read_a_while_ago()
    openai_server.then(200, chat_completion("Deploy to staging, then to production."))
    text(app, client, "How do I deploy safely?")
    text(app, client, "RESET")
    text(app, client, "And how do I roll back?")
    asked = [m["content"] for m in openai_server.requests[-1][2]["messages"][1:]]
    assert asked == [
        "How do I deploy safely?",
        "Deploy to staging, then to production.",
        "And how do I roll back?",
    ]


def test_more_after_a_whole_answer_says_it_was_whole(app, client, openai_server, twilio_server):
    text(app, client, "What is the capital of France?")
    text(app, client, "MORE")
    assert bodies(twilio_server) == ["Paris is the capital of France.", more.WHOLE]


def test_more_for_a_texter_out_of_requests_does_not_invite_a_new_question(
    app, client, openai_server, twilio_server
):
    """Regression: the texter's last request of the month answered whole, MORE said "Text
    a new question any time.": the question they texted then got nothing (the quota notice
    had gone out once already, or went now), as a reply to that invitation."""
    app.config["QUOTA_FREE"] = 1
    text(app, client, "What is the capital of France?")
    text(app, client, "MORE")
    assert bodies(twilio_server)[1:] == ["That's the whole answer."]


def test_more_with_nothing_to_continue_and_no_request_left_does_not_invite_one(
    app, client, texter, twilio_server
):
    app.config["QUOTA_FREE"] = 1
    quota.admit(texter)
    db.session.commit()
    text(app, client, "MORE")
    assert bodies(twilio_server) == ["There's no answer to continue yet."]


def test_the_next_questions_context_is_what_the_texter_read(
    app, client, openai_server, twilio_server
):
    """Regression: the model got the full raw answer as history, as if it had been read."""
    openai_server.then(200, chat_completion("## Deploying\n\n" + LONG))
    text(app, client, "How do I deploy safely?")
    text(app, client, "MORE")
    text(app, client, "And how do I roll back?")
    first, second = bodies(twilio_server)[:2]
    [question, answer] = openai_server.requests[-1][2]["messages"][1:-1]
    assert question == {"role": "user", "content": "How do I deploy safely?"}
    assert answer["role"] == "assistant"
    sent = answer["content"]
    assert sent.startswith(read(first)) and sent.endswith(read(second))
    assert len(read(first)) + len(read(second)) <= len(sent) <= len(first) + len(second)
    assert sent.startswith("Deploying\n\nStep 1:") and MARKER not in sent


def test_more_continues_an_answer_that_came_after_a_reset_sent_while_it_was_being_made(
    app, client, openai_server, twilio_server
):
    """A texter who sent RESET right after a question still got its answer, with "(Reply
    MORE)" under it, and MORE then said there was no answer to continue."""
    openai_server.then(200, chat_completion(LONG))
    question = inbound_form("How do I deploy safely?", From=PHONE)
    assert signed_post(client, "/sms/inbound", question).status_code == 200
    [answer_job] = queued_jobs(app)
    text(app, client, "RESET")
    app.extensions["celery"].tasks[answer_job[0]](*answer_job[1])
    text(app, client, "MORE")
    reset, first, second = bodies(twilio_server)
    assert reset.startswith("OK, I've forgotten") and first.endswith(MARKER)
    assert second not in (more.NOTHING, more.WHOLE)
    assert LONG.index(read(second)) > LONG.index(read(first))


def test_more_answering_the_models_offer_of_more_is_asked_of_the_model(
    app, client, openai_server, twilio_server
):
    """Regression: "Photosynthesis turns light into sugar. Want more detail?" "More" got
    "That's the whole answer", though the texter was answering the model's question."""
    openai_server.then(200, chat_completion("Photosynthesis turns light into sugar. Want more?"))
    text(app, client, "What is photosynthesis?")
    openai_server.then(200, chat_completion("Light splits water; the energy builds glucose."))
    text(app, client, "More please")
    assert bodies(twilio_server)[-1] == "Light splits water; the energy builds glucose."
    assert openai_server.requests[-1][2]["messages"][-1]["content"] == "More please"


@pytest.mark.parametrize(
    ("question", "marker"),
    [
        ("Comment déployer une application en toute sécurité ?", " (Répondez MORE)"),
        ("¿Cómo despliego una aplicación de forma segura?", " (Responde MORE)"),
        ("How do I deploy an application safely?", " (Reply MORE)"),
    ],
)
def test_a_cut_answer_asks_for_more_in_the_language_of_the_question(
    app, client, openai_server, twilio_server, question, marker
):
    """Regression: a texter who wrote in French or Spanish was told "(Reply MORE)" in
    English, under an answer in their language, and "That's the whole answer" at its end."""
    openai_server.then(200, chat_completion(LONG))
    text(app, client, question)
    text(app, client, "MORE")
    first, second = bodies(twilio_server)
    assert first.endswith(marker) and second.endswith(marker)
    assert segment_count(first) <= 3
    for _ in range(20):
        text(app, client, "more")
        if not bodies(twilio_server)[-1].endswith(marker):
            break
    text(app, client, "MORE")
    assert bodies(twilio_server)[-1] == more.whole_answer(question)
    assert segment_count(more.whole_answer(question)) == 1


ARABIC = " ".join(f"الخطوة {n}: تأكد من أن الخدمة تعمل قبل النشر." for n in range(1, 12))
HINDI = " ".join(f"चरण {n}: सेवा को तैनात करने से पहले जाँचें।" for n in range(1, 12))


@pytest.mark.parametrize(
    ("question", "answer"),
    [("كيف أنشر تطبيقًا؟", ARABIC), ("ऐप कैसे तैनात करें?", HINDI)],
    ids=["arabic", "hindi"],
)
@pytest.mark.parametrize(
    ("language", "marker"), [("fr", " (Répondez MORE)"), ("es", " (Responde MORE)")]
)
def test_a_cut_answer_in_arabic_or_hindi_asks_for_more_in_the_texters_known_language(
    app, client, openai_server, twilio_server, texter, question, answer, language, marker
):
    """Regression: a texter known to write French or Spanish (after AIDE, say) who asked in
    Arabic or Hindi got every notice in their language, but "(Reply MORE)" in English under
    the cut answer. The marker stays within the reply's UCS-2 segments (70 characters)."""
    texter.note_help_language(language)
    db.session.commit()
    openai_server.then(200, chat_completion(answer))
    text(app, client, question)
    text(app, client, "MORE")
    first, second = bodies(twilio_server)
    assert first.endswith(marker) and second.endswith(marker)
    budget = quota.segment_budget(texter.tier)
    assert all(segment_count(body) <= budget for body in (first, second))


PLANETS = (
    "Here's how the planets compare:\n\n"
    "| Planet | Distance (AU) | Moons | Year |\n|---|---|---|---|\n"
    + "".join(
        f"| {name} | {au} | {moons} | {year} |\n"
        for name, au, moons, year in [
            ("Mercury", 0.39, 0, "88 days"),
            ("Venus", 0.72, 0, "225 days"),
            ("Earth", 1.00, 1, "365 days"),
            ("Mars", 1.52, 2, "687 days"),
            ("Jupiter", 5.20, 95, "11.9 years"),
            ("Saturn", 9.58, 146, "29.5 years"),
            ("Uranus", 19.2, 28, "84 years"),
            ("Neptune", 30.1, 16, "165 years"),
        ]
    )
)


@pytest.mark.parametrize(
    "answer",
    [
        PLANETS,
        "Flights from LA to MA leave at 9 a.m. EST, and it's a long one. " * 8,
    ],
    ids=["au", "est"],
)
def test_an_english_answer_to_a_short_question_asks_for_more_in_english(
    app, client, openai_server, twilio_server, answer
):
    """Regression: a question too short to tell its language ("Compare the planets") left
    the marker to the answer's words, where "Here's" gave a French "s" (as of "s'il") and
    the astronomical unit's "AU", or "DES", "EST", "LA" and "MA", French words: an English
    texter was told "(Répondez MORE)"."""
    openai_server.then(200, chat_completion(answer))
    text(app, client, "Compare the planets")
    [first] = bodies(twilio_server)
    assert first.endswith(" (Reply MORE)")


def test_an_english_question_about_french_is_asked_for_more_in_english(
    app, client, openai_server, twilio_server
):
    """Regression: the marker went by the answer's words whenever the question was English,
    since English and "too little to tell" read alike: an English texter who asked how to
    say something in French was told "(Répondez MORE)" under the French phrases."""
    phrases = (
        "Good morning is \u00ab Bonjour \u00bb. \u00ab Salut \u00bb c'est pour les amis, "
        "\u00ab Bonsoir \u00bb est pour le soir et \u00ab Coucou \u00bb est très familier. "
    )
    openai_server.then(200, chat_completion(phrases * 6))
    text(app, client, "How do you say good morning in French?")
    [first] = bodies(twilio_server)
    assert first.endswith(" (Reply MORE)")


def test_more_after_a_short_text_answered_whole_says_so_in_the_texters_language(
    app, client, openai_server, twilio_server, texter
):
    """Regression: a texter known to write French whose latest text ("ok ?") said too
    little to tell its language was told "That's the whole answer" in English. ("merci",
    the text this was found with, is a thank-you now, never answered.)"""
    texter.note_help_language("fr")
    db.session.commit()
    openai_server.then(200, chat_completion("Avec plaisir !"))
    text(app, client, "ok ?")
    text(app, client, "MORE")
    assert bodies(twilio_server) == ["Avec plaisir !", more.whole_answer("Bonjour, ça va ?")]


@pytest.mark.parametrize(
    ("language", "nothing"),
    [
        (
            "fr",
            "Il n'y a pas encore de réponse à continuer. Envoyez une question quand vous voulez.",
        ),
        ("es", "No hay ninguna respuesta que continuar. Escribe una pregunta cuando quieras."),
    ],
)
def test_more_with_nothing_to_continue_says_so_in_the_texters_language(
    app, client, twilio_server, texter, language, nothing
):
    """Regression: a texter known to write French or Spanish (after AIDE, say) who sent MORE
    before any answer was told so in English."""
    texter.note_help_language(language)
    db.session.commit()
    text(app, client, "MORE")
    assert bodies(twilio_server) == [nothing]


def test_more_sent_while_the_answer_is_being_made_waits_for_it_and_continues_it(
    app, client, openai_server, twilio_server
):
    """Regression: a texter who sent MORE before their answer came (a long question, a
    slow model) got "There's no answer to continue yet", sometimes after the answer and
    its "(Reply MORE)". The MORE now waits for the answer, then sends its next part."""
    openai_server.then(200, chat_completion(LONG))
    question = inbound_form("How do I deploy safely?", From=PHONE)
    assert signed_post(client, "/sms/inbound", question).status_code == 200
    assert signed_post(client, "/sms/inbound", inbound_form("MORE", From=PHONE)).status_code == 200
    celery = app.extensions["celery"]
    answer_job, more_job = queued_jobs(app)
    celery.tasks[more_job[0]](*more_job[1])  # a second worker takes the MORE first
    assert bodies(twilio_server) == []
    celery.tasks[answer_job[0]](*answer_job[1])
    [waited] = queued_jobs(app)
    celery.tasks[waited[0]](*waited[1])
    first, second = bodies(twilio_server)
    assert first.endswith(MARKER) and second not in (more.NOTHING, more.WHOLE)
    assert LONG.index(read(second)) > LONG.index(read(first))


def test_more_sent_while_a_whole_answer_is_being_made_says_it_was_whole_after_it(
    app, client, openai_server, twilio_server
):
    text(app, client, "What is the capital of France?")
    openai_server.then(200, chat_completion("Madrid is the capital of Spain."))
    for body in ("And Spain?", "more"):
        assert (
            signed_post(client, "/sms/inbound", inbound_form(body, From=PHONE)).status_code == 200
        )
    celery = app.extensions["celery"]
    answer_job, more_job = queued_jobs(app)
    celery.tasks[more_job[0]](*more_job[1])
    celery.tasks[answer_job[0]](*answer_job[1])
    for name, args in queued_jobs(app):
        celery.tasks[name](*args)
    assert bodies(twilio_server)[1:] == ["Madrid is the capital of Spain.", more.WHOLE]


@pytest.mark.parametrize(
    "body",
    [
        "continue",
        "Continue please",
        "next",
        "Go on",
        "keep going",
        "Más",
        "mas por favor",
        "Sigue",
        "La suite",
        "plus svp",
        "weiter",
    ],
)
def test_asking_to_go_on_after_a_cut_answer_sends_its_next_part(
    app, client, openai_server, twilio_server, body
):
    """Regression: a texter who answered "(Reply MORE)" with "continue" or "go on" had it
    asked of the model, a request off their quota and a model call, for an answer that
    started again or repeated itself, while the rest waited for a MORE."""
    openai_server.then(200, chat_completion(LONG))
    text(app, client, "How do I deploy safely?")
    text(app, client, body)
    first, second = bodies(twilio_server)
    assert LONG.index(read(second)) > LONG.index(read(first))
    assert len(openai_server.requests) == 1
    assert db.session.get(User, PHONE).monthly_requests == 1


def test_continue_after_a_whole_answer_is_asked_of_the_model(
    app, client, openai_server, twilio_server
):
    text(app, client, "Write the first line of a poem")
    text(app, client, "continue")
    assert len(openai_server.requests) == 2
    assert more.WHOLE not in bodies(twilio_server)
