"""The service's own short texts, each sent at most once per inbound SMS."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

import config
from sms_agent import create_app, jobs, notice_wording, notices, outbound, program_notice, simulator
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, TaskMedia, User, utcnow
from sms_agent.vendors.twilio import OutboxBackend
from tests.broker import drained
from tests.factories import ESTABLISHED, make_task, make_user
from tests.standins import inbound_form, signed_post
from tests.test_pipeline import outbox


def test_a_notice_keeps_the_sid_a_webhook_recorded_meanwhile(app):
    """The notice job read the texter before a webhook of theirs handled a keyword."""
    user = make_user()
    assert user.service_state == ESTABLISHED  # read by the job...
    with db.engine.begin() as webhook:  # ...when the webhook commits a handled keyword
        webhook.execute(
            sa.update(User)
            .where(User.phone_number == user.phone_number)
            .values(service_state={**ESTABLISHED, "handled_sids": ["SM" + "2" * 32]})
        )
    assert notices.send_notice(user, "help", reply_to="SM" + "1" * 32) is True
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).service_state == {
        **ESTABLISHED,
        "handled_sids": ["SM" + "2" * 32],
        "noticed_sids": ["SM" + "1" * 32],
    }


def test_send_notice_is_skipped_for_opted_out_users(app):
    user = make_user(opted_out_at=utcnow())
    assert notices.send_notice(user, "help") is False
    assert outbox() == []


def test_help_tells_the_commands_the_quota_left_the_support_contact_and_the_rates(app):
    user = make_user(monthly_requests=7)
    assert notices.send_notice(user, "help") is True
    [sms] = outbox("help")
    for command in ["MORE", "AGENT", "RESET", "USAGE", "STOP"]:
        assert command in sms.body
    assert "93 of 100 left" in sms.body
    assert "Support: SMS-to-AI Agent support." in sms.body
    assert "Msg&data rates may apply." in sms.body


def test_help_names_the_configured_service_and_support_contact(app):
    app.config.update(SERVICE_NAME="AskBot", SUPPORT_CONTACT="help@askbot.example")
    notices.send_notice(make_user(), "help")
    [sms] = outbox("help")
    assert sms.body.startswith("AskBot: ") and "Support: help@askbot.example." in sms.body


def test_usage_and_quota_notices_say_when_the_quota_resets(app):
    from datetime import UTC, datetime

    reset = datetime(2031, 3, 1, tzinfo=UTC)
    user = make_user(monthly_requests=100, rate_limit_reset=reset)
    notices.send_notice(user, "usage")
    notices.send_notice(user, "quota")
    usage, quota_notice = outbox("usage")[0], outbox("quota")[0]
    assert "used 100 of 100" in usage.body and "Mar 1" in usage.body
    assert "your 100 requests" in quota_notice.body and "Mar 1" in quota_notice.body


def test_the_reset_day_is_the_texters_local_day(app):
    from datetime import UTC, datetime

    # Midnight on Mar 1 in Tokyo is still Feb 28 in UTC.
    reset = datetime(2031, 2, 28, 15, 0, tzinfo=UTC)
    user = make_user(timezone="Asia/Tokyo", rate_limit_reset=reset)
    notices.send_notice(user, "usage")
    assert "Mar 1" in outbox("usage")[0].body


def test_usage_after_the_window_ended_names_the_next_reset_not_a_past_day(app):
    from datetime import timedelta

    from sms_agent.models import first_of_next_month

    ended = utcnow() - timedelta(hours=2)  # beat has not rolled it yet
    user = make_user(monthly_requests=40, rate_limit_reset=ended)
    notices.send_notice(user, "usage")
    next_reset = first_of_next_month(utcnow(), "UTC")
    assert "used 0 of 100" in outbox("usage")[0].body
    assert f"resets on {next_reset:%b} {next_reset.day}." in outbox("usage")[0].body


def test_a_tier_with_no_requests_is_not_told_it_used_them_up_or_that_they_come_back(app, client):
    """Regression: with QUOTA_FREE=0 (answers for paying plans only) a new texter's first
    text got "You've used all 0 requests for this month. Your quota resets on Jan 1.", and
    USAGE "You have used 0 of 0 requests": they had used nothing, and nothing came back on
    the 1st, when the same text came again."""
    app.config["QUOTA_FREE"] = 0
    text_in(client, "What is DNS?")
    text_in(client, "USAGE")
    expected = (
        "Your free plan includes no AI answers, so texts are not answered. Reply HELP for help."
    )
    assert [(m.kind, m.body) for m in outbox() if m.kind != "program"] == [
        ("quota", expected),
        ("usage", expected),
    ]


@pytest.mark.parametrize("cap", ["SPEND_CAP_FREE", "DAILY_SPEND_CAP"])
def test_a_tier_with_no_requests_held_by_a_spend_cap_is_not_promised_answers_on_a_date(
    app, client, cap
):
    """Regression: with QUOTA_FREE=0 and a spend cap that held the texter's answers (their
    tier's monthly one, or the service's daily one), their text got "Texts are not
    answered until Jan 1" (or "paused answers until Dec 7. Please text again then") and
    HELP "AI answers paused until ...": texting again then got them nothing either. They
    are told their plan has no AI answers, with no date."""
    app.config.update(QUOTA_FREE=0, **{cap: Decimal("0")})
    text_in(client, "What is DNS?")
    text_in(client, "HELP")
    [refused, help_sms] = [m for m in outbox() if m.kind != "program"]
    assert refused.body == (
        "Your free plan includes no AI answers, so texts are not answered. Reply HELP for help."
    )
    assert help_sms.body.startswith("SMS-to-AI Agent: Your free plan has no AI answers. Text")
    assert "until" not in help_sms.body


def test_a_tier_whose_spend_cap_is_0_is_not_promised_answers_on_a_date(app, client):
    """Regression: with SPEND_CAP_FREE=0 (no spend allowed: answers for paying plans only,
    whatever the quota) a free texter's text got "Texts are not answered until Jan 1",
    USAGE "are at its usage limit: texts are not answered until Jan 1" and HELP "AI
    answers paused until Jan 1": on the 1st the cap was 0 again and the same text was
    refused again. They are told their plan has no AI answers, with no date."""
    app.config["SPEND_CAP_FREE"] = Decimal("0")
    text_in(client, "What is DNS?")
    text_in(client, "USAGE")
    text_in(client, "HELP")
    [refused, usage, help_sms] = [m for m in outbox() if m.kind != "program"]
    expected = (
        "Your free plan includes no AI answers, so texts are not answered. Reply HELP for help."
    )
    assert (refused.kind, refused.body, usage.body) == ("spend_cap", expected, expected)
    assert help_sms.body.startswith("SMS-to-AI Agent: Your free plan has no AI answers. Text")


@pytest.mark.parametrize("language", [None, "fr", "es"])
def test_help_to_a_tier_with_no_requests_says_so_in_one_sms(app, language):
    app.config["QUOTA_ENTERPRISE"] = 0
    state = {**ESTABLISHED, **({"help_language": language} if language else {})}
    notices.send_notice(make_user(tier="enterprise", service_state=state), "help")
    [sms] = outbox("help")
    assert "enterprise" in sms.body and (sms.segments, sms.encoding) == (1, "GSM-7")


@pytest.mark.parametrize("language", [None, "fr", "es"])
@pytest.mark.parametrize("kind", sorted(notices.NOTICES))
def test_every_notice_fits_one_sms(app, kind, language):
    """One segment even with the longest numbers: a five-digit quota, a long month; in
    each language a texter's notices may be written in."""
    app.config.update(QUOTA_ENTERPRISE=99999, SEGMENTS_ENTERPRISE=99)
    reset = utcnow().replace(month=9, day=30, hour=12)
    opted_out = utcnow() if kind == "opt_out" else None
    state = {**ESTABLISHED, **({"help_language": language} if language else {})}
    user = make_user(
        tier="enterprise", rate_limit_reset=reset, opted_out_at=opted_out, service_state=state
    )
    notices.send_notice(user, kind)
    [sms] = outbox(kind)
    assert sms.segments == 1 and sms.encoding == "GSM-7"


@pytest.mark.parametrize(
    ("words", "starts"),
    [
        ("AIDE", "SMS-to-AI Agent: réponses IA par texto. Reste 99999 sur 99999."),
        ("Ayuda por favor", "SMS-to-AI Agent: respuestas IA por texto. Quedan 99999 de 99999."),
        ("HELP", "SMS-to-AI Agent: AI answers by text. 99999 of 99999 left."),
    ],
)
def test_help_is_answered_in_the_language_it_was_asked_in(app, client, words, starts):
    """Regression: AIDE and AYUDA were answered in English, which a texter who asked in
    French or Spanish may not read, as ARRÊT and BAJA are confirmed in theirs. In one GSM-7
    segment at the longest figures, and English again for a HELP after it."""
    app.config.update(QUOTA_ENTERPRISE=99999)
    make_user("+15551230000", tier="enterprise")
    text_in(client, words)
    text_in(client, "help")
    answer, english = outbox("help")
    assert answer.body.startswith(starts)
    assert (answer.segments, answer.encoding) == (1, "GSM-7")
    assert english.body.startswith("SMS-to-AI Agent: AI answers by text.")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (
            "Combien de messages il me reste ?",
            "Vous avez utilisé 3 demandes sur 100 ce mois-ci (forfait free). "
            "Votre quota repart le 1 mars.",
        ),
        (
            "¿Cuántos mensajes me quedan?",
            "Has usado 3 de 100 solicitudes este mes (plan free). Tu cuota se renueva el 1 mar.",
        ),
    ],
)
def test_asking_how_much_is_left_in_french_or_spanish_is_answered_in_it(
    app, client, words, expected
):
    """Regression: asked in French or Spanish, the question went to the model (which cannot
    know, and took a request off the quota); it is USAGE, answered in the texter's language
    in one GSM-7 segment, and the next notices come in it too."""
    from datetime import UTC, datetime

    make_user("+15551230000", monthly_requests=3, rate_limit_reset=datetime(2031, 3, 1, tzinfo=UTC))
    text_in(client, words)
    [usage] = outbox("usage")
    assert usage.body == expected
    assert (usage.segments, usage.encoding) == (1, "GSM-7")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 0


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Quelle est la capitale de la France ?",
            "Vous avez utilisé votre quota de 100 demandes de ce mois. Il repart le 1 mars. "
            "Répondez USAGE pour le vérifier.",
        ),
        (
            "¿Cuál es la capital de Francia?",
            "Has usado tu cuota de 100 solicitudes de este mes. Se renueva el 1 mar. "
            "Responde USAGE para consultarla.",
        ),
    ],
)
def test_a_question_over_the_quota_in_french_or_spanish_is_told_so_in_it(
    app, client, question, expected
):
    """Regression: the quota's notice, the one most texters meet, was in English whatever
    language the refused question was written in; and USAGE after it is answered in that
    language too."""
    from datetime import UTC, datetime

    reset = datetime(2031, 3, 1, tzinfo=UTC)
    make_user("+15551230000", monthly_requests=100, rate_limit_reset=reset)
    text_in(client, question)
    text_in(client, "USAGE")
    [refused] = outbox("quota")
    assert refused.body == expected
    assert (refused.segments, refused.encoding) == (1, "GSM-7")
    assert not outbox("usage")[0].body.startswith("You have used")


@pytest.mark.parametrize(
    ("kind", "question", "expected"),
    [
        (
            "apology",
            "Quelle est la capitale de la France ?",
            "Désolé, une erreur s'est produite et je n'ai pas pu répondre à votre message. "
            "Réessayez plus tard.",
        ),
        (
            "apology",
            "¿Cuál es la capital de Francia?",
            "Lo siento, hubo un error y no pude responder a tu mensaje. Inténtalo de nuevo luego.",
        ),
        (
            "declined",
            "Quelle est la capitale de la France ?",
            "Désolé, je ne peux pas répondre à cette question. Posez-m'en une autre.",
        ),
        (
            "declined",
            "¿Cuál es la capital de Francia?",
            "Lo siento, no puedo responder a eso. Hazme otra pregunta.",
        ),
        ("apology", "What is the capital of France?", notice_wording.APOLOGY[None]),
    ],
)
def test_a_failed_or_declined_question_is_told_so_in_its_language(app, kind, question, expected):
    """Regression: a texter who asked in French or Spanish was sent the apology and the
    `declined` notice in English."""
    notices.send_notice(make_user(), kind, task=make_task(sms_content=question))
    [sms] = outbox(kind)
    assert sms.body == expected
    assert (sms.segments, sms.encoding) == (1, "GSM-7")


@pytest.mark.parametrize(
    ("kind", "language", "starts"),
    [
        ("reset", "fr", "OK, j'ai oublié notre conversation. Votre prochain message repart"),
        ("reset", "es", "OK, he olvidado nuestra charla. Tu siguiente mensaje empieza de cero."),
        ("empty", "fr", "Votre texto était vide. Envoyez-moi une question, p. ex."),
        ("empty", "es", "Tu mensaje estaba en blanco. Manda una pregunta, p. ej."),
        ("paused", "fr", "SMS-to-AI Agent a mis ses réponses en pause jusqu'au "),
        ("paused", "es", "SMS-to-AI Agent tiene las respuestas en pausa hasta el "),
        ("spend_cap", "fr", "Vous avez atteint la limite d'usage de ce mois de votre forfait"),
        ("spend_cap", "es", "Llegaste al limite de uso de este mes de tu plan free."),
        ("rate_limited", "fr", "Vous écrivez plus vite que je ne peux répondre."),
        ("rate_limited", "es", "Me escribes demasiado seguido."),
        ("media", "fr", "Désolé, je lis les photos (JPEG, PNG, GIF, WebP) et les messages"),
        ("media", "es", "Lo siento, leo fotos (JPEG, PNG, GIF, WebP) y notas de voz"),
        ("media_note", "fr", "Note: je ne peux pas ouvrir ce type de fichier"),
        ("media_note", "es", "Nota: no puedo abrir ese tipo de archivo"),
        ("media_failed", "fr", "Désolé, je n'ai pas pu recevoir votre photo ou message vocal."),
        ("media_failed", "es", "Lo siento, no pude recibir tu foto o nota de voz."),
        ("media_unavailable", "fr", "Désolé, je ne peux pas lire les photos ni les messages"),
        ("media_unavailable", "es", "Lo siento, ahora no puedo leer fotos ni notas de voz."),
        ("media_unreadable", "fr", "Désolé, je ne peux pas lire cette photo ou ce message vocal"),
        ("media_unreadable", "es", "Lo siento, no puedo leer esa foto o nota de voz: es muy"),
        ("voice_unheard", "fr", "Désolé, je n'ai pas compris les mots de votre message vocal."),
        ("voice_unheard", "es", "Lo siento, no pude entender las palabras de tu nota de voz."),
        ("no_vision", "fr", "Je ne peux pas lire les photos avec le modèle actuel."),
        ("no_vision", "es", "No puedo leer fotos con el modelo actual."),
        ("handoff", "fr", "Merci. Une personne de notre équipe vous répondra ici."),
        ("handoff", "es", "Gracias. Una persona de nuestro equipo te va a responder"),
        ("handoff_ended", "fr", "Personne de notre équipe n'a pu répondre à temps"),
        ("handoff_ended", "es", "Nadie de nuestro equipo pudo responder a tiempo"),
        ("tier_change", "fr", "Votre forfait SMS-to-AI Agent est maintenant free: 100 demandes"),
        ("tier_change", "es", "Tu plan de SMS-to-AI Agent ahora es free: 100 solicitudes al mes"),
    ],
)
def test_a_texter_known_to_write_french_or_spanish_gets_the_other_notices_in_it(
    app, kind, language, starts
):
    """Regression: after AIDE, a USAGE or a refused text in French or Spanish, the reset
    confirmation, the empty text's how-to, the spend caps' and the sender rate's notices
    still came in English; and the notices of pictures and voice notes, of a request for a
    person and of a tier change after those too."""
    user = make_user(service_state={**ESTABLISHED, "help_language": language})
    notices.send_notice(user, kind)
    [sms] = outbox(kind)
    assert sms.body.startswith(starts)
    assert (sms.segments, sms.encoding) == (1, "GSM-7")


def test_a_texter_who_asked_in_french_then_writes_english_gets_english_notices(app, client):
    """Regression: one AIDE (or one refused text in French) made every notice after it
    French, the apology for a question written in English and the quota's notice for
    English texts too."""
    from datetime import UTC, datetime

    user = make_user("+15551230000", service_state={**ESTABLISHED, "help_language": "fr"})
    notices.send_notice(user, "apology", task=make_task(user, sms_content="What is DNS?"))
    user.monthly_requests = 100
    user.rate_limit_reset = datetime(2031, 3, 1, tzinfo=UTC)
    db.session.commit()
    text_in(client, "How do I deploy an application safely?")
    text_in(client, "USAGE")
    assert [m.body.split(" ")[:2] for m in outbox() if m.kind != "program"] == [
        ["Sorry,", "something"],
        ["You've", "used"],
        ["You", "have"],
    ]


@pytest.mark.parametrize(
    ("questions", "command", "kind", "starts"),
    [
        (["Quelle est la capitale de la France ?"], "AGENT", "handoff", "Merci. Une personne"),
        (["Quelle est la capitale de la France ?", "merci"], "AGENT", "handoff", "Merci. Une"),
        (["C'est quoi le DNS ?", "oui stp"], "RESET", "reset", "OK, j'ai oublié"),
        (["¿Cuál es la capital de Francia?", "ok"], "AGENT", "handoff", "Gracias. Una persona"),
        (["Quelle est la capitale ?", "What is DNS?"], "AGENT", "handoff", "Thanks. A person"),
    ],
)
def test_a_texter_whose_last_questions_were_french_or_spanish_gets_notices_in_it(
    app, client, openai_server, questions, command, kind, starts
):
    """Regression: a texter who asked every question in French got AGENT's acknowledgement,
    RESET's confirmation and every other notice that answers no question of theirs in
    English: only a HELP, a USAGE or a refused text made their language known. Their
    latest question that says enough tells it; a short one ("merci", "oui stp", "ok")
    leaves it as it was."""
    make_user("+15551230000")
    for question in questions:
        text_in(client, question)
    text_in(client, command)
    [sms] = outbox(kind)
    assert sms.body.startswith(starts)
    assert (sms.segments, sms.encoding) == (1, "GSM-7")


@pytest.mark.parametrize("language", [None, "fr", "es"])
def test_usage_past_the_spend_cap_fits_one_sms(app, language):
    # A cap with no room for an answer: one of 0 is a plan with no answers at all.
    app.config.update(QUOTA_ENTERPRISE=99999, SPEND_CAP_ENTERPRISE=Decimal("0.000001"))
    user = make_user(tier="enterprise", monthly_requests=99999, timezone="Asia/Kolkata")
    user.note_help_language(language)
    notices.send_notice(user, "usage")
    [sms] = outbox("usage")
    assert {None: "not answered until", "fr": "pas de réponse avant", "es": "sin respuestas"}[
        language
    ] in sms.body
    assert sms.segments == 1 and sms.encoding == "GSM-7"


def test_an_unknown_notice_is_a_programming_error(app):
    with pytest.raises(ValueError, match="unknown notice"):
        notices.send_notice(make_user(), "birthday")


def test_help_names_more_and_agent_and_still_fits_one_segment(app):
    app.config["QUOTA_ENTERPRISE"] = 99999
    text = notices.compose("help", make_user(tier="enterprise"))
    assert "MORE" in text and "AGENT" in text and len(text) <= 160


def test_help_on_whatsapp_does_not_say_answers_come_by_sms(app):
    """HELP is answered on the channel it came on; "by SMS" was wrong on WhatsApp."""
    text = notices.compose("help", make_user(channel="whatsapp"))
    assert "answers by SMS" not in text
    assert "AI answers by text." in notices.compose("help", make_user())


# --- STOP's confirmation ------------------------------------------------------------------


def text_in(client, body: str, **fields) -> dict:
    """A signed SMS from +15551230000 through the real webhook, its jobs run at once."""
    form = inbound_form(body, **fields)
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()
    return form


def test_stop_is_confirmed_once_through_twilio_though_the_texter_is_opted_out(
    app, client, twilio_server
):
    make_user("+15551230000")
    form = text_in(client, "STOP")
    with simulator.jobs_inline():
        signed_post(client, "/sms/inbound", form)  # Twilio's retry
        jobs.send_notice.apply(args=["+15551230000", "opt_out", form["MessageSid"]])  # redelivery
    [(_, _, sent)] = twilio_server.requests
    assert sent["To"] == "+15551230000"
    assert sent["Body"].startswith("You're unsubscribed from SMS-to-AI Agent")
    assert sent["Body"].endswith("Reply START to resubscribe.")
    [confirmation] = outbox()
    assert (confirmation.kind, confirmation.segments, confirmation.encoding) == (
        "opt_out",
        1,
        "GSM-7",
    )
    assert db.session.get(User, "+15551230000").is_opted_out


@pytest.mark.parametrize("name", ["智能助手", "The Extraordinarily Long Name " * 3])
def test_stop_is_confirmed_whatever_service_name_is_configured(app, client, twilio_server, name):
    """A name in another script (UCS-2) or a long one made the confirmation two segments,
    which outbound.send refuses for an opted-out texter: STOP went unconfirmed."""
    app.config["SERVICE_NAME"] = name
    make_user("+15551230000")

    text_in(client, "STOP")

    [(_, _, sent)] = twilio_server.requests
    assert sent["Body"] == notice_wording.OPT_OUT_UNNAMED


@pytest.mark.parametrize(
    ("words", "opted_out_before", "kind", "starts"),
    [
        ("ARRÊT", False, "opt_out", "Désabonnement de SMS-to-AI Agent confirmé"),
        ("stop svp", False, "opt_out", "Désabonnement de SMS-to-AI Agent confirmé"),
        ("Baja por favor", False, "opt_out", "Baja de SMS-to-AI Agent confirmada"),
        ("ALTA", True, "opt_in", "Alta en SMS-to-AI Agent confirmada"),
        # Regression: a French texter coming back got nothing, or an English confirmation.
        ("Réabonnez-moi", True, "opt_in", "Réabonnement à SMS-to-AI Agent confirmé"),
        ("START SVP", True, "opt_in", "Réabonnement à SMS-to-AI Agent confirmé"),
        ("STOP", False, "opt_out", "You're unsubscribed from SMS-to-AI Agent"),
        # We write no German notices: a German STOPP is confirmed in English.
        ("STOPP", False, "opt_out", "You're unsubscribed from SMS-to-AI Agent"),
        # Nor Russian, Chinese or Arabic ones (keywords.OTHER_SCRIPTS_OPT_OUT); nor a STOP
        # in a hurry.
        ("СТОП", False, "opt_out", "You're unsubscribed from SMS-to-AI Agent"),
        ("退订", False, "opt_out", "You're unsubscribed from SMS-to-AI Agent"),
        ("إيقاف", False, "opt_out", "You're unsubscribed from SMS-to-AI Agent"),
        ("Stopppp", False, "opt_out", "You're unsubscribed from SMS-to-AI Agent"),
    ],
)
def test_an_opt_out_or_in_is_confirmed_in_the_language_it_was_asked_in(
    app, client, words, opted_out_before, kind, starts
):
    """Regression: a texter who wrote ARRÊT or BAJA was told in English only, which they
    may not read, whether it worked. In one GSM-7 segment still."""
    make_user("+15551230000", opted_out_at=utcnow() if opted_out_before else None)
    text_in(client, words)
    [confirmation] = outbox(kind)
    assert confirmation.body.startswith(starts)
    assert (confirmation.segments, confirmation.encoding) == (1, "GSM-7")


def test_a_start_after_a_stop_in_spanish_is_confirmed_in_english(app, client):
    make_user("+15551230000")
    text_in(client, "BAJA")
    text_in(client, "START")
    assert outbox("opt_in")[0].body.startswith("You're subscribed")


@pytest.mark.parametrize("words", ["ARRÊT", "BAJA"])
def test_a_stop_in_french_or_spanish_is_confirmed_whatever_service_name(app, client, words):
    app.config["SERVICE_NAME"] = "The Extraordinarily Long Name " * 3
    make_user("+15551230000")
    text_in(client, words)
    [confirmation] = outbox("opt_out")
    assert "Extraordinarily" not in confirmation.body and confirmation.segments == 1
    assert not confirmation.body.startswith("You're")


def test_after_the_confirmation_nothing_more_is_sent(app, client, twilio_server):
    make_user("+15551230000")
    text_in(client, "STOP")
    text_in(client, "HELP")
    text_in(client, "What is DNS?")
    assert [m.kind for m in outbox()] == ["opt_out"]
    assert len(twilio_server.requests) == 1


def test_a_start_before_the_confirmation_went_out_cancels_it(app):
    user = make_user("+15551230000")  # STOP then START, both handled before the job ran
    assert notices.send_notice(user, "opt_out", reply_to="SM" + "1" * 32) is False
    assert outbox() == []


@pytest.mark.parametrize(
    ("words", "opted_out_before", "confirmed"),
    [
        (["STOP", "START", "STOP"], False, ["opt_out"]),
        (["START", "STOP", "START"], True, ["opt_in"]),
        (["STOP", "START", "STOP", "START"], False, ["opt_in"]),
        (["STOP", "STOP"], False, ["opt_out"]),
        (["START", "START"], True, ["opt_in"]),
        (["START", "STOP", "STOP"], True, ["opt_out"]),
    ],
)
def test_a_burst_of_stops_and_starts_is_confirmed_once_as_it_ended(
    app, client, words, opted_out_before, confirmed
):
    """Regression: STOP, START, STOP texted before the first confirmation went out got two
    "You're unsubscribed" texts (the second one breaking "the last we send"), and START,
    STOP, START two "You're subscribed"."""
    make_user("+15551230000", opted_out_at=utcnow() if opted_out_before else None)
    drained(app)
    for word in words:
        signed_post(client, "/sms/inbound", inbound_form(word))
    for message in drained(app):
        jobs.send_notice.apply(args=message.payload[0])
    assert [m.kind for m in outbox()] == confirmed


def test_twilio_advanced_opt_out_means_we_send_no_confirmation(app, client):
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    make_user("+15551230000")
    text_in(client, "STOP")
    assert outbox() == []


def test_only_the_opt_out_confirmation_may_pass_an_opt_out(app):
    user = make_user(opted_out_at=utcnow())
    with pytest.raises(outbound.OptedOut):
        outbound.send(user, "You're unsubscribed.", kind="opt_out")
    for kind in ["reply", "help", "api", "program"]:
        with pytest.raises(ValueError, match="only a one-part 'opt_out' SMS"):
            outbound.send(user, "Hello again", kind=kind, confirming_opt_out=True)
    with pytest.raises(ValueError, match="only a one-part"):
        outbound.send(user, "word " * 200, kind="opt_out", confirming_opt_out=True)
    assert outbox() == []


# --- the program notice ------------------------------------------------------------------


def test_a_new_numbers_first_answer_comes_after_the_program_notice_once(app, client):
    text_in(client, "What is DNS?")
    text_in(client, "And what is TCP?")
    assert [m.kind for m in outbox()] == ["program", "reply", "reply"]
    program = outbox("program")[0]
    assert program.body == (
        "SMS-to-AI Agent: AI answers to your texts. Msg&data rates may apply. "
        "Msg frequency varies. Reply HELP for help, STOP to opt out."
    )
    assert program.segments == 1 and program.task is not None


def test_a_new_numbers_first_notice_also_comes_after_the_program_notice(app, client):
    text_in(client, "HELP")
    text_in(client, "What is DNS?")
    assert [m.kind for m in outbox()] == ["program", "help", "reply"]


def test_the_program_notice_is_configurable(app, client):
    app.config["PROGRAM_NOTICE"] = "AskBot: answers by AI. Msg&data rates may apply. HELP, STOP."
    text_in(client, "hi")
    assert outbox("program")[0].body == app.config["PROGRAM_NOTICE"]


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"PROGRAM_NOTICE": "AskBot: answers by AI. " * 8 + "HELP, STOP."}, "is 2 SMS segments"),
        ({"SERVICE_NAME": "The Very Long Name of Our Answering Service, Inc. " * 2}, "segments"),
        ({"PROGRAM_NOTICE": "AskBot: answers by AI. Msg&data rates may apply."}, "HELP or STOP"),
        ({"PROGRAM_NOTICE": "AskBot: AI answers. Reply STOP to opt out."}, "mention HELP:"),
    ],
)
def test_a_program_notice_carriers_frown_on_is_named_when_the_app_starts(caplog, settings, said):
    """Regression: every new texter is sent the program notice, and a PROGRAM_NOTICE of two
    segments (or a SERVICE_NAME that made the default one two) doubled the cost of every
    first contact, or one without STOP broke the carriers' rules, with nothing said."""
    create_app(
        config.TestingConfig, PROGRAM_NOTICE="AskBot: AI answers. HELP for help, STOP to quit."
    )
    create_app(config.TestingConfig)  # the default notice is one segment with HELP and STOP
    assert "program notice" not in caplog.text
    create_app(config.TestingConfig, **settings)
    [warning] = [r for r in caplog.records if "program notice" in r.getMessage()]
    assert warning.levelname == "WARNING" and said in warning.getMessage()


def test_a_support_contact_making_help_two_sms_is_named_when_the_app_starts(caplog):
    """Regression: SUPPORT_CONTACT set to a help centre's long URL made every HELP reply two
    SMS segments, against the README's "HELP must fit one SMS", with nothing said, where a
    program notice of two segments is named as the app starts."""
    create_app(config.TestingConfig, SUPPORT_CONTACT="help@askbot.example")
    assert "HELP reply" not in caplog.text
    long_url = "https://support.example.com/a-rather-long-help-centre-path/sms-agent/contact-us"
    create_app(config.TestingConfig, SUPPORT_CONTACT=long_url)
    [warning] = [r for r in caplog.records if "HELP reply" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert "2 SMS segments" in warning.getMessage() and "SUPPORT_CONTACT" in warning.getMessage()


def test_a_new_number_texting_start_is_not_told_it_is_subscribed_again(app, client):
    """Regression: START is what an advert tells people to text first, and a number that never
    opted out was told "You're subscribed to SMS-to-AI Agent again", a subscription it never
    had; the one wording is right for both."""
    text_in(client, "START")
    assert [m.kind for m in outbox()] == ["program", "opt_in"]
    assert outbox("opt_in")[0].body == (
        "You're subscribed to SMS-to-AI Agent. Text any question. Reply STOP to opt out."
    )


def test_an_opted_out_number_never_gets_the_program_notice(app, client):
    text_in(client, "STOP")
    assert [m.kind for m in outbox()] == ["opt_out"]
    assert "program_notice_sent" not in db.session.get(User, "+15551230000").service_state


def test_the_program_notice_is_on_record_before_it_is_sent(app, monkeypatch):
    """As an answer's parts are: a worker that dies while Twilio has it leaves the notice on
    record (maybe sent) for staff and the spend, never sent and unrecorded."""
    committed_at_send = []
    send = OutboxBackend.send

    def send_as_another_process_sees_it(self, to, body, *args, **kwargs):
        with db.engine.connect() as other:
            kinds = other.execute(sa.select(OutboundMessage.kind)).scalars()
            committed_at_send.append(sorted(kinds))
        return send(self, to, body, *args, **kwargs)

    monkeypatch.setattr(OutboxBackend, "send", send_as_another_process_sees_it)
    pipeline.answer(make_task(user=make_user(service_state={})).id)
    assert committed_at_send == [["program"], ["program", "reply"]]


def test_a_job_whose_row_was_read_before_the_notice_was_recorded_sends_no_second(app):
    user = make_user(service_state={})
    task = make_task(user=user)
    assert notices.send_program_notice_once(user, task) is True
    db.session.commit()
    set_committed_value(user, "service_state", {})  # as another worker loaded it earlier
    assert notices.send_program_notice_once(user, task) is False
    assert len(outbox("program")) == 1


# --- empty texts and pictures ------------------------------------------------------------


def test_an_empty_text_gets_one_how_to_reply(app, client):
    form = text_in(client, "")
    with simulator.jobs_inline():
        signed_post(client, "/sms/inbound", form)  # Twilio's retry
    [how_to] = outbox("empty")
    assert "empty" in how_to.body and how_to.segments == 1
    assert [m.kind for m in outbox()] == ["program", "empty"]


def test_a_file_we_cannot_read_alone_is_answered_with_what_we_can_read(app, client):
    make_user("+15551230000")
    text_in(client, "", NumMedia="1", MediaUrl0="https://a.example", MediaContentType0="video/mp4")
    [note] = outbox()
    assert note.kind == "media" and "pictures" in note.body and "voice notes" in note.body


def test_a_file_we_cannot_read_with_text_gets_the_answer_and_a_note(app, client):
    make_user("+15551230000")
    text_in(client, "What is this?", NumMedia="1", MediaUrl0="https://example.com/c.vcf")
    assert [m.kind for m in outbox()] == ["media_note", "reply"]
    assert "can't open that kind of file" in outbox("media_note")[0].body


def test_staff_hours_are_named_in_the_texters_language_and_a_set_text_is_sent_as_written(app):
    app.config["STAFF_HOURS"] = "lun-ven 9h-17h"
    french = make_user("+15551230001", service_state={**ESTABLISHED, "help_language": "fr"})
    notices.send_notice(french, "handoff")
    app.config["HANDOFF_ACK_TEXT"] = "Hold on, a human is coming."
    notices.send_notice(
        make_user("+15551230002", service_state=dict(french.service_state)), "handoff"
    )
    assert [sms.body for sms in outbox("handoff")] == [
        "Merci. Une personne de notre équipe vous répondra ici. Horaires de l'équipe: "
        "lun-ven 9h-17h",
        "Hold on, a human is coming. Staff hours: lun-ven 9h-17h",
    ]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Quelle est la capitale de la France ?",
            "SMS-to-AI Agent: réponses IA à vos textos. Frais de msg possibles. Fréquence "
            "variable. Répondez AIDE pour de l'aide, STOP pour vous désabonner.",
        ),
        (
            "¿Cuál es la capital de Francia?",
            "SMS-to-AI Agent: respuestas IA a tus mensajes. Pueden aplicar tarifas. Frecuencia "
            "variable. Responde AYUDA para ayuda, STOP para darte de baja.",
        ),
    ],
)
def test_a_new_number_writing_french_or_spanish_gets_the_program_notice_in_it(
    app, client, question, expected
):
    """Regression: the first SMS a texter writing French or Spanish got was in English."""
    text_in(client, question)
    [program] = outbox("program")
    assert program.body == expected
    assert (program.segments, program.encoding) == (1, "GSM-7")


@pytest.mark.parametrize(
    "question", ["Thủ đô của Việt Nam là gì?", "Quem é você? Não sei.", "Gdzie jest dworzec?"]
)
def test_a_texter_writing_another_latin_language_is_not_taken_for_french(app, client, question):
    """Regression: a Vietnamese question ("là", "đô": letters French writes too) read as
    French: the texter got the French program notice and "(Répondez MORE)", and was kept
    on record as writing French for every notice after."""
    text_in(client, question)
    [program] = outbox("program")
    assert program.body.startswith("SMS-to-AI Agent: AI answers to your texts.")
    assert db.session.get(User, "+15551230000").help_language is None


def test_a_tier_with_no_requests_is_told_so_in_the_texters_french_or_spanish(app):
    """Regression: with QUOTA_FREE=0, the quota's and USAGE's notice of a French or Spanish
    texter was the one English sentence left in them."""
    app.config["QUOTA_FREE"] = 0
    for phone, language in (("+15551230001", "fr"), ("+15551230002", "es")):
        user = make_user(phone, service_state={**ESTABLISHED, "help_language": language})
        notices.send_notice(user, "quota")
    assert [sms.body for sms in outbox("quota")] == [
        "Votre forfait free ne comprend pas de réponses IA: vos textos restent sans réponse. "
        "Répondez AIDE pour de l'aide.",
        "Tu plan free no incluye respuestas IA, por eso tus mensajes no se responden. "
        "Responde AYUDA para ayuda.",
    ]
    assert {(sms.segments, sms.encoding) for sms in outbox("quota")} == {(1, "GSM-7")}


def test_a_service_name_too_long_for_the_french_program_notice_gets_the_english_one(app, client):
    """Regression: a SERVICE_NAME of 33 to 47 characters leaves the default program notice
    one SMS in English (what the start-up warning checks) but made the French and Spanish
    ones two, doubling the cost of every first contact written in them, with nothing said."""
    app.config["SERVICE_NAME"] = "Northwind Community Answers Lines"  # 33 characters
    text_in(client, "Quelle est la capitale de la France ?")
    [program] = outbox("program")
    assert program.body == program_notice.configured(app.config)
    assert (program.segments, program.encoding) == (1, "GSM-7")


@pytest.mark.parametrize("kind", ["tier_change", "program"])
def test_a_service_name_too_long_for_a_french_notice_gets_it_in_english(app, kind):
    """Regression: the French and Spanish notices that name the service are longer than
    the English ones, so a SERVICE_NAME that leaves the English one SMS made them two."""
    app.config.update(SERVICE_NAME="Northwind Community Answers Line Co. Inc.")
    app.config.update(QUOTA_ENTERPRISE=99999, SEGMENTS_ENTERPRISE=99)
    user = make_user(tier="enterprise", service_state={**ESTABLISHED, "help_language": "fr"})
    notices.send_notice(user, kind)
    [sms] = outbox(kind)
    assert sms.body == notices.compose(kind, make_user("+15559870000", tier="enterprise"))
    assert (sms.segments, sms.encoding) == (1, "GSM-7")


def test_a_french_date_that_ends_a_sentence_has_one_period(app):
    """Regression: French months are written short with a period ("7 déc."), and the
    sentence it ended got a second one: "en pause jusqu'au 7 déc.. Réécrivez ensuite"."""
    from datetime import UTC, datetime

    december = datetime(2031, 12, 6, 12, tzinfo=UTC)
    state = {**ESTABLISHED, "help_language": "fr"}
    user = make_user(monthly_requests=100, rate_limit_reset=december, service_state=state)
    notices.send_notice(user, "quota")
    notices.send_notice(user, "usage")
    said = [sms.body for sms in outbox()] + [
        notices.paused_text(user, december, "fr"),
        notices.spend_cap_text(user, december, "fr"),
    ]
    assert [body.count("déc.") + body.count("janv.") for body in said] == [1, 1, 1, 1]
    assert [body for body in said if ".." in body] == []


@pytest.mark.parametrize("language", [None, "fr", "es"])
def test_the_note_naming_ten_unopened_attachments_fits_one_sms(app, language):
    """The longest picture note: ten attachments (Twilio's most), none of them opened,
    beside words that are answered."""
    state = {**ESTABLISHED, **({"help_language": language} if language else {})}
    user = make_user(service_state=state)
    media = [{"position": n, "kind": "image", "content_type": "image/png"} for n in range(10)]
    task = make_task(user=user, sms_content="What is DNS?", metadata_={"media": media})
    task.media = [
        TaskMedia(position=n, content_type="image/png", kind="image", status="failed")
        for n in range(10)
    ]
    db.session.commit()
    notices.send_notice(user, "picture_note", task)
    [sms] = outbox("picture_note")
    assert "1, 2, 3, 4, 5, 6, 7, 8, 9 " in sms.body
    assert sms.segments == 1 and sms.encoding == "GSM-7"


@pytest.mark.parametrize(
    ("language", "usage", "quota", "tier_change"),
    [
        (None, "used 0 of 1 request this", "your 1 request for this", ": 1 request a month"),
        ("fr", "utilisé 0 demande sur 1", "votre quota de 1 demande", ": 1 demande par mois"),
        ("es", "usado 0 de 1 solicitud", "tu cuota de 1 solicitud", ": 1 solicitud al mes"),
    ],
)
def test_a_quota_of_one_request_is_said_in_the_singular(app, language, usage, quota, tier_change):
    """Regression: with QUOTA_FREE=1 a free texter was told "You have used 0 of 1 requests",
    "You've used all 1 requests" and "1 requests a month" ("1 demandes", "1 solicitudes")."""
    app.config["QUOTA_FREE"] = 1
    state = {**ESTABLISHED, **({"help_language": language} if language else {})}
    user = make_user(service_state=state)
    for kind in ("usage", "quota", "tier_change"):
        notices.send_notice(user, kind)
    said = {kind: outbox(kind)[0].body for kind in ("usage", "quota", "tier_change")}
    assert (usage, quota, tier_change) == tuple(
        phrase if phrase in said[kind] else said[kind]
        for phrase, kind in ((usage, "usage"), (quota, "quota"), (tier_change, "tier_change"))
    )


@pytest.mark.parametrize("setting", [{"SPEND_CAP_FREE": Decimal("0")}, {"QUOTA_FREE": 0}])
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (None, "Your SMS-to-AI Agent plan is now free, which includes no AI answers."),
        ("fr", "Votre forfait SMS-to-AI Agent est maintenant free, sans réponses IA."),
        ("es", "Tu plan de SMS-to-AI Agent ahora es free, sin respuestas IA."),
    ],
)
def test_a_move_to_a_tier_with_no_answers_does_not_promise_requests_a_month(
    app, setting, language, expected
):
    """Regression: staff moving a texter down to free with SPEND_CAP_FREE=0 (answers for
    paying plans only) texted them "Your plan is now free: 100 requests a month, answers of
    up to 3 SMS", and each text after it was refused ("0 requests a month" with
    QUOTA_FREE=0). Told their plan has no AI answers, in one SMS."""
    app.config.update(TIER_CHANGE_SMS="all", **setting)
    state = {**ESTABLISHED, **({"help_language": language} if language else {})}
    notices.send_notice(make_user(tier="free", service_state=state), "tier_change")
    [sms] = outbox("tier_change")
    assert sms.body.startswith(expected) and "requests" not in sms.body
    assert (sms.segments, sms.encoding) == (1, "GSM-7")
