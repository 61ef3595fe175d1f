"""WhatsApp on the same webhook: the same texter, answered on WhatsApp with its formatting,
keywords and MORE as on SMS, the 24-hour window, and delivery reports."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sms_agent import costs, outbound, quota, simulator
from sms_agent.answering import pipeline, prompts
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, User, utcnow
from sms_agent.outbound.channels import (
    WHATSAPP_MAX_CHARS,
    cut_for_whatsapp,
    shape_whatsapp,
    to_whatsapp_text,
    whatsapp_to_markdown,
)
from sms_agent.outbound.gsm import message_length
from sms_agent.outbound.shape import shape, to_sms_text
from tests.factories import make_staff, make_token, make_user
from tests.standins import OGG, PNG, chat_completion, inbound_form, media_path, signed_post

PHONE = "+15551230000"
WHATSAPP = "whatsapp:" + PHONE
ENCODED = "%2B15551230000"


def text_in(client, body: str, sender: str = WHATSAPP, **fields) -> None:
    """A WhatsApp message to our WhatsApp sender (TWILIO_WHATSAPP_NUMBER), an SMS to our
    number, unless `To` says."""
    config = client.application.config
    if sender.startswith("whatsapp:"):
        ours = config.get("TWILIO_WHATSAPP_NUMBER") or config["TWILIO_PHONE_NUMBER"]
        fields.setdefault("To", "whatsapp:" + ours)
    fields.setdefault("To", config["TWILIO_PHONE_NUMBER"])
    form = inbound_form(body, From=sender, **fields)
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()


def outbox(kind: str | None = None) -> list[OutboundMessage]:
    query = sa.select(OutboundMessage).order_by(OutboundMessage.created_at)
    if kind:
        query = query.where(OutboundMessage.kind == kind)
    return list(db.session.scalars(query))


def sent_to_twilio(server) -> list[dict]:
    return [body for method, _path, body in server.requests if method == "POST"]


@pytest.fixture
def texter(app):
    return make_user(PHONE)


@pytest.fixture
def admin_headers(app):
    return {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}


def test_a_whatsapp_text_is_answered_on_whatsapp_with_its_formatting(
    app, client, texter, twilio_server, openai_server
):
    app.config["TWILIO_WHATSAPP_NUMBER"] = "+14155238886"
    openai_server.then(200, chat_completion("**Paris** is the capital.\n\n* one\n* two 🇫🇷"))

    text_in(client, "What is the capital of France?")

    [sent] = sent_to_twilio(twilio_server)
    assert (sent["To"], sent["From"]) == (WHATSAPP, "whatsapp:+14155238886")
    assert sent["Body"] == "*Paris* is the capital.\n\n- one\n- two 🇫🇷"
    [reply] = outbox()
    assert (reply.channel, reply.encoding, reply.segments, reply.to_number) == (
        "whatsapp",
        "UTF-8",
        1,
        PHONE,
    )
    system = [body for _m, _p, body in openai_server.requests][0]["messages"][0]["content"]
    assert "WhatsApp" in system and "*bold*" in system


@pytest.mark.parametrize(
    ("question", "body"),
    [
        ("Two lines please", "Line one\nLine two"),
        ("What does <br> do?", "Line one<br>Line two"),
    ],
)
def test_a_br_in_a_whatsapp_answer_is_a_new_line_unless_the_question_is_about_tags(
    app, client, texter, twilio_server, openai_server, question, body
):
    openai_server.then(200, chat_completion("Line one<br>Line two"))
    text_in(client, question)
    [sent] = sent_to_twilio(twilio_server)
    assert sent["Body"] == body


def test_a_long_whatsapp_message_is_stored_and_answered(app, client, texter, twilio_server):
    """WhatsApp lets a texter write 4,096 characters, where an SMS stops at 1,600: the
    webhook refused such a message with a 400, so the texter got nothing at all."""
    body = ("Grüße 🌍, here is my whole story. " * 130)[:4096]
    text_in(client, body)
    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.sms_content == body and task.status == "completed"
    assert [m.channel for m in outbox()] == ["whatsapp"]


def test_a_whatsapp_message_longer_than_whatsapp_allows_gets_400(app, client, texter):
    form = inbound_form("x" * 4097, From=WHATSAPP)
    response = signed_post(client, "/sms/inbound", form)
    assert response.status_code == 400 and "4096" in response.get_data(as_text=True)


def test_the_answer_comes_from_the_whatsapp_number_the_texter_wrote_to(
    app, client, texter, twilio_server
):
    """Not from TWILIO_WHATSAPP_NUMBER: that would be another chat on the texter's phone."""
    app.config["TWILIO_WHATSAPP_NUMBER"] = "+14155238886"
    text_in(client, "hello", To="whatsapp:+15005550010")
    [sent] = sent_to_twilio(twilio_server)
    assert (sent["To"], sent["From"]) == (WHATSAPP, "whatsapp:+15005550010")


def test_a_whatsapp_profile_name_loses_what_nobody_sees(app, client):
    """Regression: a profile name with U+202E was kept, and staff read it backwards."""
    text_in(client, "hello", ProfileName="Ann\u202eeeL\u200b", WaId="15551230000")
    assert db.session.get(User, PHONE).full_name == "AnneeL"


def test_the_texter_is_one_record_answered_on_the_channel_last_used(
    app, client, texter, twilio_server
):
    text_in(client, "hello", WHATSAPP)
    text_in(client, "hello again", PHONE)
    assert [m["To"] for m in sent_to_twilio(twilio_server)] == [WHATSAPP, PHONE]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert db.session.get(User, PHONE).channel == "sms"


def test_staff_see_the_whatsapp_profile_name_until_the_texter_has_one(app, client):
    """Twilio passes the name on the texter's WhatsApp profile (ProfileName); staff saw a
    bare number in the inbox all the same."""
    text_in(client, "hello", ProfileName="  Ann\nLee ", WaId="15551230000")
    assert db.session.get(User, PHONE).full_name == "Ann Lee"
    make_user("+15557654321", full_name="Dr. Bob")
    text_in(client, "hello", "whatsapp:+15557654321", ProfileName="Bobby")
    assert db.session.get(User, "+15557654321").full_name == "Dr. Bob"


def test_a_mexican_whatsapp_texter_is_the_texter_of_their_mexican_number(
    app, client, twilio_server
):
    """WhatsApp still writes Mexico's mobile numbers with the 1 after +52 that the dial plan
    dropped in 2019 (Twilio's From "whatsapp:+5215512345678"), a number phonenumbers calls
    impossible: every Mexican WhatsApp texter's message was refused with a 400, unanswered."""
    app.config["ALLOWED_COUNTRIES"] = ("US", "MX")
    text_in(client, "hola", "whatsapp:+5215512345678")
    text_in(client, "hola otra vez", "+525512345678")
    user = db.session.get(User, "+525512345678")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    # Answered on WhatsApp as WhatsApp knows them (after the program notice), then by SMS.
    assert [m["To"] for m in sent_to_twilio(twilio_server)] == 2 * [
        "whatsapp:+5215512345678"
    ] + 2 * ["+525512345678"]
    assert [m.to_number for m in outbox("reply")] == [user.phone_number] * 2


def test_staff_see_which_of_the_texters_messages_came_on_whatsapp(
    app, client, texter, twilio_server, admin_headers
):
    """A thread on both channels showed every text of the texter as an SMS ("1 segment,
    GSM-7"), so staff could not tell where they wrote from, nor where it was answered."""
    text_in(client, "hello on whatsapp 🙂")
    text_in(client, "hello by sms", PHONE)
    path = f"/api/users/{ENCODED}/messages/"
    thread = client.get(path, headers=admin_headers).get_json()["results"]
    texts = {m["body"]: (m["channel"], m["segments"], m["encoding"]) for m in thread}
    assert texts["hello on whatsapp 🙂"] == ("whatsapp", 1, "UTF-8")
    assert texts["hello by sms"] == ("sms", 1, "GSM-7")


def test_keywords_work_the_same_on_whatsapp(app, client, texter, twilio_server):
    text_in(client, "HELP")
    text_in(client, "STOP")
    assert [m.kind for m in outbox()] == ["help", "opt_out"]
    assert all(m["To"] == WHATSAPP for m in sent_to_twilio(twilio_server))
    assert db.session.get(User, PHONE).is_opted_out


def test_stop_on_whatsapp_is_confirmed_by_us_even_where_twilio_confirms_sms_stops(
    app, client, texter, twilio_server
):
    """Twilio's opt-out handling (Advanced Opt-Out included) is SMS's: with it on, a STOP on
    WhatsApp opted the texter out and nobody confirmed it, as we left it to Twilio."""
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    text_in(client, "STOP")
    assert db.session.get(User, PHONE).is_opted_out
    [confirmation] = outbox()
    assert (confirmation.kind, confirmation.channel) == ("opt_out", "whatsapp")
    assert [m["To"] for m in sent_to_twilio(twilio_server)] == [WHATSAPP]


def test_the_simulator_waits_for_our_confirmation_of_a_whatsapp_stop(app, runner):
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    args = ["sms", "simulate", "--from", WHATSAPP, "--inline", "STOP"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "--- WhatsApp to +15551230000 (opt_out, sent) ---" in result.output


#: What Twilio posts for a place shared in WhatsApp: no Body, the place in fields of its own.
EIFFEL_TOWER = {
    "Latitude": "48.858370",
    "Longitude": "2.294481",
    "Label": "Eiffel Tower",
    "Address": "Champ de Mars, 5 Av. Anatole France, 75007 Paris",
}


def test_a_shared_location_is_answered_as_the_place_it_names(
    app, client, texter, openai_server, twilio_server
):
    openai_server.then(200, chat_completion("That is the Eiffel Tower, in Paris."))
    text_in(client, "", **EIFFEL_TOWER)
    assert [m.kind for m in outbox()] == ["reply"]
    question = openai_server.requests[0][2]["messages"][-1]["content"]
    assert "Eiffel Tower, Champ de Mars" in question and "(48.858370, 2.294481)" in question


def asked(openai_server) -> str:
    """What the model was asked last, as the texter's turn."""
    return openai_server.requests[-1][2]["messages"][-1]["content"]


def test_a_shared_locations_name_and_address_are_one_line_each_with_nothing_hidden(
    app, client, texter, openai_server, twilio_server
):
    """Regression: a place's Label and Address were kept as the phone sent them, so a name
    on two lines, an address with CR LF, a bell or a direction override (which shows the
    words after it backwards to staff) reached the task, staff and the model so. Each is now
    one line, its breaks and runs of spaces one space, its control and format characters
    dropped, as a WhatsApp profile's name is."""
    place = {
        **EIFFEL_TOWER,
        "Label": "Eiffel\nTower\u202e\x07",
        "Address": "Champ de Mars,\r\n5 Av. Anatole France,\u2028  75007\tParis",
    }
    text_in(client, "", **place)
    expected = (
        "Shared location: Eiffel Tower, Champ de Mars, 5 Av. Anatole France, 75007 Paris "
        "(48.858370, 2.294481)"
    )
    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.sms_content == expected and asked(openai_server) == expected


def test_a_blank_whatsapp_message_a_reaction_is_stored_and_gets_no_how_to(
    app, client, texter, twilio_server
):
    """Regression: WhatsApp sends no empty text, but Twilio passes a reaction (a 👍 on our
    answer) on as a message with no Body: each one got "Your text was empty. Text me a
    question in words", paid for. It is kept for staff, refused `reaction`, and answered
    with nothing; an empty SMS still gets the how-to."""
    text_in(client, "", MessageType="reaction")
    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.status, task.refusal_reason, task.sms_content) == ("refused", "reaction", "")
    assert outbox() == [] and sent_to_twilio(twilio_server) == []
    text_in(client, "", PHONE)
    assert [message.kind for message in outbox()] == ["empty"]


def test_a_reaction_twilio_names_is_never_answered_whatever_its_body(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a WhatsApp reaction Twilio passed on with its emoji in the Body
    (MessageType reaction, Body "👍") was asked of the model as a question, paid for, and the
    texter got an answer to their thumbs-up. A reaction asks nothing, whatever it carries."""
    text_in(client, "\U0001f44d", MessageType="reaction")
    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.status, task.refusal_reason) == ("refused", "reaction")
    assert openai_server.requests == [] and outbox() == []


def test_a_tapped_quick_reply_with_no_body_is_answered_as_its_words(
    app, client, texter, openai_server, twilio_server
):
    """Regression: a WhatsApp message with neither Body nor attachment was taken for a
    reaction and kept unanswered, so a texter who tapped a quick-reply button or a list's
    item (Twilio's MessageType button or interactive, its words in ButtonText or
    ListTitle) got nothing. The words tapped are what the texter said."""
    text_in(client, "", MessageType="button", ButtonText="Tell me more", ButtonPayload="more-1")
    text_in(client, "", MessageType="interactive", ListId="row-2", ListTitle="Weather in Paris")
    questions = [body["messages"][-1]["content"] for _m, _p, body in openai_server.requests]
    assert questions == ["Tell me more", "Weather in Paris"]
    assert [m.kind for m in outbox()] == ["reply", "reply"]


@pytest.mark.parametrize("message_type", ["unsupported", "contacts", "poll"])
def test_a_whatsapp_message_of_a_kind_we_cannot_read_is_told_so(
    app, client, texter, twilio_server, message_type
):
    """Regression: a WhatsApp message with nothing we read (Twilio's MessageType
    "unsupported" for a poll or an edit, or a kind that came with no attachment) was stored
    as a reaction and the texter, who had asked something, heard nothing. They are told we
    cannot read that kind of message, on WhatsApp, in one message; a reaction still gets
    nothing. Regression: such a message was not stored at all, so staff never saw that the
    texter had sent anything: it is kept, refused `unsupported` with its kind, never
    answered by the model nor counted."""
    text_in(client, "", MessageType=message_type)
    [notice] = outbox()
    assert (notice.kind, notice.channel) == ("unsupported", "whatsapp")
    assert "can't read that kind of WhatsApp message" in notice.body
    [kept] = db.session.scalars(sa.select(Task)).all()
    assert (kept.status, kept.refusal_reason) == ("refused", "unsupported")
    assert kept.metadata_["message_type"] == message_type and kept.quota_window is None
    text_in(client, "", MessageType=message_type, MessageSid=kept.message_sid)  # a retry
    assert len(outbox()) == 1 and len(db.session.scalars(sa.select(Task)).all()) == 1
    [sent] = sent_to_twilio(twilio_server)
    assert sent["To"] == WHATSAPP
    text_in(client, "\u200b", MessageType="text")  # nothing visible: an empty text
    assert [m.kind for m in outbox()] == ["unsupported", "empty"]


@pytest.mark.parametrize(
    ("message_type", "label"),
    [
        ("poll", "a kind of message we cannot read: poll (not answered)"),
        ("unsupported", "a kind of message we cannot read (not answered)"),
    ],
)
def test_staff_read_which_kind_of_message_was_not_read(
    app, client, texter, twilio_server, message_type, label
):
    """Regression: a kept WhatsApp message we cannot read was labelled alike whatever its
    kind, though the task keeps it (a poll, contacts): staff saw an empty bubble and could
    not tell what the texter had sent. The label names the kind, where Twilio named one."""
    text_in(client, "", MessageType=message_type)
    [kept] = db.session.scalars(sa.select(Task)).all()
    assert kept.status_label == label


def test_a_reply_to_an_earlier_answer_is_asked_about_that_answer(
    app, client, texter, openai_server, twilio_server
):
    """WhatsApp lets a texter reply to one message of the thread (Twilio names it in
    OriginalRepliedMessageSid): "what does this mean?" under the answer about cats was asked
    with no word of it, so the model explained the latest answer, about dogs."""
    for answer in ("Cats purr at 25 Hz.", "Dogs pant to cool down.", "It is their purr."):
        openai_server.then(200, chat_completion(answer))
    text_in(client, "tell me about cats")
    text_in(client, "tell me about dogs")
    cats = outbox()[0]
    text_in(client, "what does this mean?", OriginalRepliedMessageSid=cats.sid)
    assert asked(openai_server) == (
        '(In reply to your message: "Cats purr at 25 Hz.")\n\nwhat does this mean?'
    )
    [task] = db.session.scalars(sa.select(Task).where(Task.sms_content.startswith("what")))
    assert task.sms_content == "what does this mean?"  # as the texter wrote it, for staff


def test_staff_see_the_message_a_whatsapp_reply_answers(
    app, client, texter, openai_server, twilio_server, admin_headers
):
    openai_server.then(200, chat_completion("Cats purr at 25 Hz."))
    text_in(client, "tell me about cats")
    cats = outbox()[0]
    text_in(client, "what does this mean?", OriginalRepliedMessageSid=cats.sid)
    path = f"/api/users/{ENCODED}/messages/"
    thread = client.get(path, headers=admin_headers).get_json()["results"]
    quoted = {m["body"]: m["replying_to"] for m in thread if m["direction"] == "in"}
    assert quoted == {"tell me about cats": None, "what does this mean?": "Cats purr at 25 Hz."}


def test_a_reply_to_the_texters_own_text_is_asked_with_it(
    app, client, texter, openai_server, twilio_server
):
    text_in(client, "tell me about cats")
    [first] = db.session.scalars(sa.select(Task)).all()
    text_in(client, "and in French?", OriginalRepliedMessageSid=first.message_sid)
    assert asked(openai_server).startswith('(In reply to my message: "tell me about cats")')


def test_a_reply_to_the_texters_own_voice_note_is_asked_with_what_it_said(
    app, client, texter, openai_server, twilio_server
):
    """Regression: a reply to the texter's own voice note was asked alone ("and in Paris?"
    with no word of Tokyo): the note's text is empty, and what it said, its transcript, was
    not looked at. Regression: a reply to their own picture ("Is it rare?" under a photo of
    a bird) was asked alone too, nothing saying it was about a picture, let alone which:
    it is asked as about that picture, with what we answered about it."""
    note = twilio_server.serve(media_path(), "audio/ogg", OGG)
    text_in(client, "", NumMedia="1", MediaUrl0=note, MediaContentType0="audio/ogg")
    picture = twilio_server.serve(media_path("ME" + "2" * 32), "image/png", PNG)
    text_in(client, "", NumMedia="1", MediaUrl0=picture, MediaContentType0="image/png")
    spoken, shown = db.session.scalars(sa.select(Task).order_by(Task.created_at)).all()

    text_in(client, "And in Paris?", OriginalRepliedMessageSid=spoken.message_sid)
    assert asked(openai_server) == (
        '(In reply to my message: "What time is it in Tokyo?")\n\nAnd in Paris?'
    )
    text_in(client, "Is it rare?", OriginalRepliedMessageSid=shown.message_sid)
    described = shown.metadata_["sent"]
    assert asked(openai_server) == (
        f'(In reply to my message: "[picture]", which you answered: "{described}")\n\nIs it rare?'
    )
    text_in(client, "a robin", NumMedia="1", MediaUrl0=picture, MediaContentType0="image/png")
    captioned = db.session.scalars(sa.select(Task).order_by(Task.created_at.desc())).first()
    text_in(client, "Is it rare?", OriginalRepliedMessageSid=captioned.message_sid)
    assert asked(openai_server).startswith('(In reply to my message: "[picture] a robin", which')


def test_a_reply_naming_a_message_of_another_texter_is_asked_alone(
    app, client, texter, openai_server, twilio_server
):
    """The sid is the texter's to write: another texter's messages never reach this one's
    model."""
    text_in(client, "my secret is 1234", "whatsapp:+15557654321")
    secret = outbox()[0]
    text_in(client, "what does this mean?", OriginalRepliedMessageSid=secret.sid)
    assert asked(openai_server) == "what does this mean?"


def test_stop_on_whatsapp_is_confirmed_whatever_letters_the_service_name_has(
    app, client, texter, twilio_server
):
    app.config["SERVICE_NAME"] = "Zoë Assistant"  # not GSM-7: two SMS segments' worth
    text_in(client, "STOP")
    [confirmation] = outbox()
    assert (confirmation.kind, confirmation.channel) == ("opt_out", "whatsapp")
    assert confirmation.body.startswith("You're unsubscribed from Zoë Assistant")
    assert [m["To"] for m in sent_to_twilio(twilio_server)] == [WHATSAPP]


def test_a_long_answer_is_one_message_and_the_rest_comes_with_more(
    app, client, openai_server, twilio_server
):
    make_user(PHONE, tier="enterprise")  # a budget far over one Body
    long = " ".join(f"Sentence number {n} is here." for n in range(300))  # ~7,800 chars
    openai_server.then(200, chat_completion(long))
    text_in(client, "Tell me everything")
    [first] = outbox("reply")
    # Twilio (its stand-in) takes a Body of at most 1,600 characters, WhatsApp or not.
    assert first.status == "queued" and first.sid.startswith("SM")
    assert len(first.body) <= 1600 and first.body.endswith("(Reply MORE)")
    text_in(client, "MORE")
    [more] = outbox("more")
    assert more.channel == "whatsapp" and more.body.startswith("Sentence number")


def test_an_answer_thick_with_emoji_comes_a_full_message_at_a_time(
    app, client, texter, openai_server, twilio_server
):
    """Regression: where most of the first 1,600 characters were emoji (each two units of
    Twilio's limit), the cut fell before them all: the texter got "... (Reply MORE)", and
    each MORE the same, the answer never coming."""
    words = ["\U0001f1eb\U0001f1f7" * 5] * 300  # groups of five flags of France
    openai_server.then(200, chat_completion(" ".join(words)))
    text_in(client, "Send me lots of flags")
    text_in(client, "MORE")
    bodies = [m.body for m in outbox()]
    assert all(1500 <= message_length(body) <= 1600 for body in bodies)
    read = " ".join(body.removesuffix("... (Reply MORE)") for body in bodies).split(" ")
    assert read == words[: len(read)]


def test_more_by_sms_after_a_whatsapp_answer_is_shaped_for_sms(
    app, client, texter, openai_server, twilio_server
):
    """The rest was kept formatted for WhatsApp; asked for by SMS, it goes as an SMS of the
    texter's tier: no WhatsApp markers, no emoji, within its segments."""
    long = " ".join(f"**Step {n}** is done, _then_ rest 🎉." for n in range(100))
    openai_server.then(200, chat_completion(long))
    text_in(client, "Tell me everything")
    [first] = outbox("reply")
    assert first.channel == "whatsapp" and "*Step 0*" in first.body
    text_in(client, "MORE", PHONE)
    parts = outbox("more")
    assert {m.channel for m in parts} == {"sms"}
    body = " ".join(m.body for m in parts)
    assert body.startswith("Step ") and body.endswith("(Reply MORE)")
    assert not any(marker in body for marker in ("*", "_", "🎉"))
    assert sum(m.segments for m in parts) <= quota.segment_budget("free")
    assert {m.encoding for m in parts} == {"GSM-7"}


def test_a_rest_kept_for_whatsapp_is_plain_text_on_sms_and_kept_as_it_is_on_whatsapp(app, texter):
    rest = "~Old~ price, *new* one _today_: ```a_b``` 🎉"
    assert outbound.plan(texter, rest, kept_for="whatsapp").parts == [
        "Old (crossed out) price, new one today: a_b"
    ]
    texter.channel = "whatsapp"
    assert outbound.plan(texter, rest, kept_for="whatsapp").parts == [rest]


def test_a_long_whatsapp_answer_is_priced_as_the_one_message_it_is(
    app, client, texter, openai_server
):
    long = " ".join(f"Sentence number {n} is here." for n in range(300))
    openai_server.then(200, chat_completion(long))
    text_in(client, "Tell me everything")
    [reply] = outbox("reply")
    assert len(reply.body) > 1000 and reply.segments == 1
    assert reply.price_usd == costs.estimate_sms(PHONE, 1, whatsapp=True) and reply.price_estimated


@pytest.mark.parametrize("configured, price", [(None, "0.005000"), ("0.0085", "0.008500")])
def test_a_whatsapp_answer_is_priced_at_whatsapps_price_not_an_sms_segments(
    app, client, texter, openai_server, configured, price
):
    """Regression: a WhatsApp message was estimated at an SMS segment to the texter's
    country (0.0083 USD to the US, 0.0524 to the UK), while Twilio bills WhatsApp per
    message (0.005 USD, and Meta nothing for a reply within the 24-hour window), so every
    WhatsApp texter's spend and caps read their SMS price until Twilio's came."""
    app.config["WHATSAPP_PRICE"] = None if configured is None else costs.money(configured)
    openai_server.then(200, chat_completion("Paris."))
    text_in(client, "Capital of France?")
    [reply] = outbox("reply")
    assert (str(reply.price_usd), reply.price_estimated) == (price, True)


def test_staff_cannot_message_a_whatsapp_texter_outside_the_24_hour_window(
    app, client, admin_headers
):
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow() - timedelta(hours=25))
    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hi"}, headers=admin_headers
    )
    assert response.status_code == 409
    body = response.get_json()
    assert "24 hours" in body["error"]
    assert body["details"]["reason"] == "whatsapp_window_closed"
    assert outbox() == []


def test_a_task_for_a_whatsapp_texter_outside_the_24_hour_window_is_refused_with_409(
    app, client, admin_headers
):
    """Created with 201, its answer could never be sent: the worker asked nothing and
    finished it unsent, and the caller learned it only by polling the task."""
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow() - timedelta(hours=25))
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hi"}, headers=admin_headers
    )
    assert response.status_code == 409
    body = response.get_json()
    assert "24 hours" in body["error"]
    assert body["details"]["reason"] == "whatsapp_window_closed"
    assert body["details"]["window_closed_at"] is not None
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0
    assert db.session.get(User, PHONE).monthly_requests == 0


def test_a_task_for_a_whatsapp_texter_within_the_window_is_created(app, client, admin_headers):
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow() - timedelta(hours=23))
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hi"}, headers=admin_headers
    )
    assert response.status_code == 201


def test_staff_can_message_a_whatsapp_texter_within_the_window(
    app, client, admin_headers, twilio_server
):
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow() - timedelta(hours=23))
    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hi"}, headers=admin_headers
    )
    assert response.status_code == 200
    assert sent_to_twilio(twilio_server)[0]["To"] == WHATSAPP


def test_staff_write_whatsapps_formatting_and_it_arrives_as_they_typed_it(
    app, client, admin_headers, twilio_server
):
    """Read as a model's Markdown, staff's *bold* arrived in italics (_bold_), their ~strike~
    lost its marks and __init__ became bold."""
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow() - timedelta(hours=1))
    typed = "*Order 42* is ready, _not_ at ~5pm~ but 6pm. Call __init__()\x07  "
    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": typed}, headers=admin_headers
    )
    assert response.status_code == 200
    [sent] = sent_to_twilio(twilio_server)
    assert sent["Body"] == "*Order 42* is ready, _not_ at ~5pm~ but 6pm. Call __init__()"


def test_a_whatsapp_texter_who_never_wrote_on_whatsapp_is_outside_the_window(
    app, client, admin_headers
):
    make_user(PHONE, channel="whatsapp")
    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hi"}, headers=admin_headers
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [("read", None, "delivered"), ("failed", "63016", "failed"), ("sent", None, "sent")],
)
def test_delivery_reports_of_whatsapp_messages_are_recorded_like_sms(
    app, client, texter, twilio_server, status, code, expected
):
    text_in(client, "hello")
    [reply] = outbox()
    form = {"MessageSid": reply.sid, "MessageStatus": status, "To": WHATSAPP}
    if code:
        form["ErrorCode"] = code
    assert signed_post(client, "/sms/status", form).status_code == 200
    db.session.rollback()
    assert db.session.get(OutboundMessage, reply.id).status == expected
    if code:
        assert db.session.get(OutboundMessage, reply.id).error_code == int(code)


def test_the_bold_and_italic_the_whatsapp_prompt_asks_for_arrive_bold_and_italic(app):
    """The prompt told the model to write WhatsApp's own *bold*, which shaping reads as the
    Markdown the model writes everywhere else: *italic*. A model doing as it was told got
    its bold sent as italics ("_Step 1:_")."""
    prompt = prompts.system_prompt("general", 3, whatsapp=True)
    bold, italic = re.search(r"You may use (\S+), (\S+) and", prompt).groups()
    assert to_whatsapp_text(f"{bold} and {italic}") == "*bold* and _italic_"


def test_bold_italic_markdown_is_bold_italic_on_whatsapp():
    """Regression: "***Very*** important" reached WhatsApp as "**Very** important", its
    stars shown."""
    markdown = "***Very*** important, ___this___ too, and **bold** *it*"
    assert to_whatsapp_text(markdown) == "*_Very_* important, *_this_* too, and *bold* _it_"


@pytest.mark.parametrize(
    ("markdown", "whatsapp"),
    [
        ("**bold and *italic***", "*bold and _italic_*"),
        ("***italic* then bold**", "*_italic_ then bold*"),
        ("*italic and **bold***", "_italic and *bold*_"),
        ("***bold** then italic*", "_*bold* then italic_"),
        ("Say **all of *this***, then *more*.", "Say *all of _this_*, then _more_."),
    ],
)
def test_emphasis_inside_emphasis_ending_together_is_whatsapps_on_whatsapp(markdown, whatsapp):
    """Regression: italics that ended with the bold around them ("**a *b***", as CommonMark
    reads it) reached WhatsApp as "*a *b**", stray stars and no italics."""
    assert to_whatsapp_text(markdown) == whatsapp


@pytest.mark.parametrize("info", ["python", 'js title="x"', "c++ "])
def test_a_code_blocks_language_is_not_shown_as_its_first_line_on_whatsapp(info):
    """WhatsApp knows no language after the opening ```: it showed "python" on a line of
    its own above the code."""
    markdown = f"Run:\n```{info}\nprint('**x**')\n```\nDone **now**."
    assert to_whatsapp_text(markdown) == "Run:\n```\nprint('**x**')\n```\nDone *now*."


def test_a_link_in_angle_brackets_is_the_bare_link_on_whatsapp_as_on_sms():
    """Regression: Markdown's autolinks reached WhatsApp with their brackets."""
    markdown = "See <https://example.com/a?b=1> or write to <help@example.com>; a <div> stays"
    assert to_whatsapp_text(markdown) == (
        "See https://example.com/a?b=1 or write to help@example.com; a <div> stays"
    )


def test_inline_code_keeps_its_marks_on_whatsapp():
    """Regression: "`__init__`" reached WhatsApp as "`*init*`", "`[a](b)`" as "`a (b)`"."""
    markdown = "Call `__init__`, `**kwargs` or `[a](b)` and `<br>`, not __this__"
    assert to_whatsapp_text(markdown) == (
        "Call `__init__`, `**kwargs` or `[a](b)` and `<br>`, not *this*"
    )


def test_a_heading_with_bold_words_is_one_bold_line_on_whatsapp():
    """Regression: "## **Setup**" reached WhatsApp as "**Setup**", "### 1. **Step one**" as
    "*1. *Step one**": the heading's bold wrapped the bold already made of its words."""
    markdown = "## **Setup**\n### 1. **Step one** _now_\n# Plain"
    assert to_whatsapp_text(markdown) == "*Setup*\n*1. Step one _now_*\n*Plain*"


def test_a_titled_link_and_an_underlined_heading_are_whatsapps_own_formatting():
    """A link with a title ('[docs](https://x.org "Docs")') and a heading underlined with
    "=" reached WhatsApp as written, brackets, quotes and the row of "=" too."""
    markdown = 'Setup\n=====\nSee [docs](https://x.org "The docs") now.'
    assert to_whatsapp_text(markdown) == "*Setup*\nSee docs (https://x.org) now."


REFERENCE_LINKS = (
    "See [the guide][guide], [Flask][] or [Python], and ![the logo][logo].\n"
    "A `[code][guide]` span stays code.\n\n"
    '[guide]: https://docs.example.com/guide "The guide"\n'
    "[flask]: <https://flask.palletsprojects.com>\n"
    "[Python]: https://python.org\n"
    "[logo]: https://x.org/logo.png\n"
    "[script]: javascript:alert(1)"
)


def test_reference_links_are_their_words_and_address_on_whatsapp_as_on_sms():
    """Regression: WhatsApp got a model's reference-style links as written, the brackets
    in the text and the addresses in a list of "[label]: ..." lines below it."""
    words = (
        "See the guide (https://docs.example.com/guide), Flask (https://flask.palletsprojects.com) "
        "or Python (https://python.org), and the logo (https://x.org/logo.png)."
    )
    assert to_whatsapp_text(REFERENCE_LINKS) == words + "\nA `[code][guide]` span stays code."
    assert to_sms_text(REFERENCE_LINKS).startswith(words)


def test_a_numbered_source_cited_as_a_link_is_its_words_and_number_on_whatsapp():
    """Regression: "[the docs][1]" over a "[1]: https://..." list reached WhatsApp, as SMS,
    with its brackets; the list is kept, so the words cite its number."""
    answer = "See [the docs][1].\n\n[1]: https://x.org/docs"
    assert to_whatsapp_text(answer) == "See the docs [1].\n\n[1] https://x.org/docs"


def test_a_reference_link_to_a_script_is_only_its_words_on_whatsapp():
    assert to_whatsapp_text("Click [here][x].\n\n[x]: javascript:alert(1)") == "Click here."


def test_pandocs_sub_and_superscripts_and_highlight_are_plain_on_whatsapp():
    assert to_whatsapp_text("H~2~O, 2^10^, ==key== and `x~1~`") == "H2O, 2^10, key and `x~1~`"


def test_markdown_becomes_whatsapps_own_formatting():
    markdown = "# Title\n**bold**, *italic*, __also bold__, ~~gone~~ and [docs](https://x.org)\n"
    markdown += "* a\n+ b\n- c\n---\n```\nkeep **this**\n```"
    assert to_whatsapp_text(markdown) == (
        "*Title*\n*bold*, _italic_, *also bold*, ~gone~ and docs (https://x.org)\n"
        "- a\n- b\n- c\n\n```\nkeep **this**\n```"
    )


@pytest.mark.parametrize("rule", ["* * *", "- - -", "_ _ _", " *  *  * "])
def test_a_rule_written_with_spaces_is_nothing_on_whatsapp_as_on_sms(rule):
    """Regression: "* * *", a thematic break as CommonMark allows it, reached WhatsApp as
    "- * *" (read as a list item), where SMS showed nothing."""
    answer = f"Part one.\n\n{rule}\n\nPart two."
    assert to_whatsapp_text(answer) == to_sms_text(answer) == "Part one.\n\nPart two."


def test_a_backslash_line_break_is_a_new_line_on_whatsapp_as_on_sms():
    """Regression: Markdown's hard line break (a backslash at a line's end, as a model
    writes a poem or an address) reached WhatsApp with each backslash shown."""
    answer = "Roses are red,\\\nViolets are blue.\\\\\nC:\\\\"
    assert to_whatsapp_text(answer) == "Roses are red,\nViolets are blue.\\\nC:\\"
    assert to_sms_text("Roses are red,\\\nViolets are blue.") == "Roses are red,\nViolets are blue."


def test_an_indented_code_block_is_code_on_whatsapp_kept_as_written():
    """Regression: a code block written indented (four spaces, as CommonMark allows) was
    read as prose on WhatsApp: "*args" and "**kwargs" became italics and bold marks."""
    code = "def f(*args, **kwargs):\n    return g(*args, **kwargs)"
    indented = "\n".join("    " + line for line in code.split("\n"))
    answer = f"Run this:\n\n{indented}\n\nThen **save**.\n\n1. Step\n\n    More about it."
    assert to_whatsapp_text(answer) == (
        f"Run this:\n\n```\n{code}\n```\n\nThen *save*.\n\n1. Step\n\n    More about it."
    )
    # An answer indented whole is prose indented, as it was read before.
    assert to_whatsapp_text("    **Paris** is the capital.") == "*Paris* is the capital."


@pytest.mark.parametrize(
    ("markdown", "sent"),
    [
        ("See ![a map](https://x.org/m.png) here", "See a map (https://x.org/m.png) here"),
        ("![](https://x.org/m.png)", "https://x.org/m.png"),
        ('![a map](https://x.org/m.png "The map")', "a map (https://x.org/m.png)"),
    ],
)
def test_an_image_is_its_words_and_its_link_on_whatsapp_as_on_sms(markdown, sent):
    """Regression: an image in an answer reached WhatsApp as its alt text alone, where SMS
    gave its link too: the texter on WhatsApp could not open the picture the answer meant."""
    assert to_whatsapp_text(markdown) == to_sms_text(markdown) == sent


def test_pythons_special_names_are_not_bold_on_whatsapp():
    answer = 'Add __init__.py; if __name__ == "__main__": run. __Really__ do.'
    assert (
        to_whatsapp_text(answer) == 'Add __init__.py; if __name__ == "__main__": run. *Really* do.'
    )


def test_footnotes_become_numbered_notes_on_whatsapp_as_on_sms():
    markdown = "Paris is the *capital*[^a].\n\n[^a]: Since 508 AD."
    assert to_whatsapp_text(markdown) == "Paris is the _capital_[1].\n\n[1] Since 508 AD."


def test_a_table_becomes_header_value_lines_on_whatsapp_as_on_sms():
    """WhatsApp shows no Markdown tables: the texter got the pipes and dashes as written."""
    markdown = "Compare:\n\n| Plan | **Price** |\n|---|---|\n| Free | $0 |\n| Pro | $5 |\n\nDone."
    assert (
        to_whatsapp_text(markdown)
        == "Compare:\n\nPlan: Free, Price: $0\nPlan: Pro, Price: $5\n\nDone."
    )
    fenced = "```\n| a | b |\n|---|---|\n```"
    assert to_whatsapp_text(fenced) == fenced
    # A sentence right under the table is no row of it ("Plan: Pick one.").
    assert to_whatsapp_text("| Plan |\n|---|\n| Free |\nPick one.") == "Plan: Free\n\nPick one."


ALERTS = "> [!NOTE]\n> Back up first.\n\n> [!WARNING]\n> It deletes everything."


def test_a_github_alert_is_its_label_on_sms_and_whatsapp():
    """GitHub's alerts, as GPT and Claude write a note or a warning: the texter got
    "[!NOTE]" on a line of its own."""
    assert to_sms_text(ALERTS) == "Note: Back up first.\n\nWarning: It deletes everything."
    assert to_whatsapp_text(ALERTS) == "> Note: Back up first.\n\n> Warning: It deletes everything."
    fenced = "```\n> [!TIP]\n> kept\n```"
    assert to_sms_text(fenced) == "> [!TIP]\n> kept"


def test_markdowns_escapes_are_the_characters_themselves_on_whatsapp():
    """The texter read "my\\_var" as it was written, backslash and all. (Escaped stars that
    WhatsApp would read as bold are look-alikes: see the test below.)"""
    markdown = "Set my\\_var, not \\*this\\*; `keep\\_it` as code"
    assert to_whatsapp_text(markdown) == "Set my_var, not \u2217this\u2217; `keep\\_it` as code"


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("Wrap it in \\*asterisks\\* to bold it.", "Wrap it in \u2217asterisks\u2217 to bold it."),
        ("Type \\_this\\_ or \\~that\\~", "Type \uff3fthis\uff3f or \u223cthat\u223c"),
        ("Use \\`ls\\` here", "Use \u02cbls\u02cb here"),
        ("**Bold** and \\*67 and 5 \\* 3", "*Bold* and *67 and 5 * 3"),  # no span: as written
        ("At https://x.org/*a* type \\*b\\*", "At https://x.org/*a* type \u2217b\u2217"),
    ],
)
def test_escaped_marks_that_whatsapp_would_read_as_formatting_are_shown_as_marks(markdown, shown):
    """Regression: a model escapes a mark it means as written ("wrap it in \\*asterisks\\*"),
    and WhatsApp, which has no escapes, showed "asterisks" bold, the instruction lost. A pair
    of escaped marks WhatsApp would read as a span is written with look-alikes, which it
    does not; a lone one, which it shows as written anyway, stays the mark itself."""
    assert to_whatsapp_text(markdown) == shown


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        (
            "See https://example.com/my\\_page\\_one for it",
            "See https://example.com/my_page_one for it",
        ),
        ("[docs](https://example.com/a\\_b)", "docs (https://example.com/a_b)"),
        ("https://x.org/\\~ann/a\\*b?q=\\_x", "https://x.org/~ann/a*b?q=_x"),
    ],
)
def test_an_address_with_escaped_marks_is_the_address_itself_on_whatsapp_as_on_sms(markdown, shown):
    """Regression: a model escapes the underscores of an address it writes bare, as it does
    in words ("https://example.com/my\\_page"), and SMS sent the address itself, but on
    WhatsApp it kept its backslashes, a link to a page that is not there. An address's
    escapes are its characters, as in words; its marks stay marks, not look-alikes."""
    assert to_whatsapp_text(markdown) == shown
    assert to_sms_text(markdown) == shown


def test_html_entities_are_the_characters_themselves_on_whatsapp_as_on_sms():
    """Regression: "Tom &amp; Jerry" reached WhatsApp as written, where SMS showed "&"."""
    answer = "Tom &amp; Jerry &mdash; 3 &lt; 4, &#42;not bold&#42;; `&amp;` is code"
    shown = "Tom & Jerry \u2014 3 < 4, \u2217not bold\u2217; `&amp;` is code"  # no bold
    assert to_whatsapp_text(answer) == shown
    assert to_whatsapp_text("Pay at a.com/?x=1&copy=2 &bogus; &amp") == (
        "Pay at a.com/?x=1&copy=2 &bogus; &amp"
    )


def test_html_tags_in_an_answer_are_line_breaks_and_formatting_on_whatsapp_as_on_sms():
    """Regression: "Line one<br>Line two" reached WhatsApp with its tags, where SMS showed
    two lines."""
    answer = "Line one<br>Line two<br/>x<sup>2</sup> and <b>this</b>; `<br>` is code"
    assert to_whatsapp_text(answer) == "Line one\nLine two\nx^2 and this; `<br>` is code"
    about_tags = shape_whatsapp("Use <b>bold</b> or <br>.", question="What does <br> do?")
    assert about_tags.parts == ["Use <b>bold</b> or <br>."]


def test_latex_math_is_written_plainly_on_whatsapp_too():
    assert to_whatsapp_text(r"Area: \(\pi r^2\), so \(\frac{1}{2}\)") == "Area: pi r^2, so 1/2"


@pytest.mark.parametrize("line_break", ["\r", "\r\n", "\u2028"])
def test_each_line_stays_its_own_line_on_whatsapp_whatever_its_line_break(line_break):
    """Regression: a lone CR (an old Mac's line break) joined two lines into one word."""
    answer = f"*Step 1:* open{line_break}*Step 2:* save"
    assert to_whatsapp_text(answer) == "_Step 1:_ open\n_Step 2:_ save"


def test_letters_and_emoji_are_kept_on_whatsapp():
    assert to_whatsapp_text("Ça coûte 5 € 😀 “quoted”") == "Ça coûte 5 € 😀 “quoted”"


def test_a_whatsapp_answer_fits_the_body_twilio_takes_emoji_counted_twice():
    """Twilio refuses a Body over 1,600 characters on WhatsApp too (error 21617); answers
    were cut at WhatsApp's own 4,096 and so never reached the texter."""
    text = "Good news 😀 for everyone. " * 200
    shown, sent, rest = cut_for_whatsapp(text.strip(), " (Reply MORE)")
    assert message_length(shown) <= 1600 and shown.endswith(". (Reply MORE)")
    assert (sent + " " + rest).split() == text.split()


@pytest.mark.parametrize(
    "emoji",
    ["\U0001f1eb\U0001f1f7", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd"],
    ids=["flag", "family", "skin-tone"],
)
def test_a_run_of_emoji_longer_than_a_message_is_cut_between_them(emoji):
    """Regression: cut inside an emoji written with several characters, a flag's other half
    began the next message as another country's ("FR" cut to "RF..."), a family lost members."""
    for text in (emoji * 1000, "A" + emoji * 1000, "AB" + emoji * 1000):
        shown, sent, rest = cut_for_whatsapp(text, " (Reply MORE)")
        assert message_length(shown) <= 1600 and len(sent) > 500
        assert sent.replace(emoji, "") in ("", "A", "AB") and rest.replace(emoji, "") == ""


@pytest.mark.parametrize(
    ("markdown", "mark"),
    [("**", "*"), ("*", "_"), ("~~", "~"), ("`", "`")],
    ids=["bold", "italic", "strike", "mono"],
)
@pytest.mark.parametrize("words", ["word{n}", "Sentence {n}."], ids=["words", "sentences"])
def test_formatting_cut_across_two_whatsapp_messages_is_closed_and_opened_again(
    markdown, mark, words
):
    """Regression: an answer cut for MORE inside a bold (italic, struck, mono) span sent its
    opening mark in the first message and its closing one in the rest: WhatsApp showed a
    literal mark in each and neither half formatted."""
    span = " ".join(words.format(n=n) for n in range(100))
    answer = "Intro. " + "plain " * 200 + f"{markdown}{span}{markdown} and after."
    first = shape_whatsapp(answer, more=True)
    second = shape_whatsapp(first.rest, plain=True, more=True)
    [shown], [more] = first.parts, second.parts
    assert message_length(shown) <= WHATSAPP_MAX_CHARS
    before, formatted = shown.rsplit(" plain ", 1)[1].split(mark, 1)
    assert before == "" and formatted.count(mark) == 1
    assert re.fullmatch(rf"[^{mark}]+\w\.?{re.escape(mark)}(\.\.\.)? \(Reply MORE\)", formatted)
    assert more.startswith(mark) and more.endswith(f"{mark} and after.")
    assert more.count(mark) == 2


def test_whatsapp_cuts_at_a_sentence_within_one_message():
    text = "A short sentence. " * 300
    shown, sent, rest = cut_for_whatsapp(text.strip(), " (Reply MORE)")
    assert len(shown) <= WHATSAPP_MAX_CHARS and shown.endswith(". (Reply MORE)")
    assert (sent + " " + rest).split() == text.split()
    assert shape_whatsapp("short", more=True).parts == ["short"]


def test_a_code_block_cut_on_whatsapp_is_closed_and_opened_again_for_more():
    """Regression: an answer cut inside its code block sent an opening ``` never closed,
    and MORE a lone closing one: WhatsApp showed the backticks, and the code in neither
    message as code."""
    lines = "\n".join(f"    print('line {n} of the output')" for n in range(60))
    answer = f"Here is the script:\n\n```python\ndef main():\n{lines}\n```\n\nRun it."
    first = shape_whatsapp(answer, more=True)
    second = shape_whatsapp(first.rest, plain=True, more=True)
    [shown], [more] = first.parts, second.parts
    assert len(shown) <= WHATSAPP_MAX_CHARS and shown.endswith("')\n```\n(Reply MORE)")
    assert shown.count("```") == 2 and more.count("```") == 2
    assert more.startswith("```\n    print('line ") and more.endswith("```\n\nRun it.")
    assert (first.sent + "\n" + second.sent).replace("\n```\n```", "") == to_whatsapp_text(answer)


def test_code_the_token_limit_cut_shows_as_code_on_whatsapp(app, client, openai_server):
    """Regression: the answer's code block was never closed, so WhatsApp showed its
    opening ``` and language name as text and the code in the texter's font."""
    answer = "Here's how:\n\n```python\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2"
    openai_server.then(200, chat_completion(answer, finish_reason="length"))
    text_in(client, "How do I add two numbers in Python?")
    [reply] = outbox("reply")
    assert reply.body == "Here's how:\n\n```\ndef add(a, b):\n    return a + b\n```"


def test_code_cut_for_more_stays_code_in_both_messages():
    """Cut inside a ```block```, the first message ended in an unclosed fence (WhatsApp
    showed the ``` as written and the code in its proportional font, "(Reply MORE)" stuck
    to the last line of code) and the rest began without one, so its `**kwargs` and
    `__init__` were read as bold."""
    lines = "\n".join(f"    total = add(total, **kwargs_{n})  # step {n}" for n in range(80))
    answer = f"Here is the script.\n\n```python\ndef main(**kwargs):\n{lines}\n```\n\nRun it."
    shaped = shape_whatsapp(answer, more=True)
    [first] = shaped.parts
    assert message_length(first) <= WHATSAPP_MAX_CHARS
    code, marker = first.rsplit("\n```\n", 1)
    assert marker == "(Reply MORE)" and code.count("```") == 1
    assert code.endswith(")  # step " + code.rsplit("# step ", 1)[1])  # a whole line
    assert shaped.rest.startswith("```\n    total = add(total, **kwargs_")
    assert shaped.rest.count("```") == 2 and shaped.rest.endswith("```\n\nRun it.")
    # Asked for by SMS, the rest is still read as code: its marks are kept as written.
    assert "**kwargs_" in shape(whatsapp_to_markdown(shaped.rest), 10).parts[0]


def test_the_program_notice_comes_once_on_each_channel(app, client):
    """Regression: a texter who met us on WhatsApp got the program notice there, and never
    the carriers' notice (rates, HELP, STOP) when they texted by SMS later."""
    make_user(PHONE, service_state={})

    text_in(client, "What is the capital of France?")
    text_in(client, "And of Spain?", sender=PHONE)
    text_in(client, "And of Italy?", sender=PHONE)
    text_in(client, "And of Peru?")

    sent = [(m.kind, m.channel) for m in outbox()]
    assert sent == [
        ("program", "whatsapp"),
        ("reply", "whatsapp"),
        ("program", "sms"),
        ("reply", "sms"),
        ("reply", "sms"),
        ("reply", "whatsapp"),
    ]


def test_a_program_notice_recorded_before_channels_were_told_apart_counts_for_both(app, client):
    make_user(PHONE, service_state={"program_notice_sent": "2026-01-01T00:00:00+00:00"})
    text_in(client, "What is the capital of France?")
    text_in(client, "And of Spain?", sender=PHONE)
    assert [m.kind for m in outbox()] == ["reply", "reply"]


def queued_text_in(client, body: str, sender: str = WHATSAPP) -> Task:
    """A text received and stored, its answer not yet sent (the worker still to run it)."""
    config = client.application.config
    to = ("whatsapp:" + config["TWILIO_PHONE_NUMBER"]) if sender.startswith("whatsapp:") else None
    form = inbound_form(body, From=sender, To=to or config["TWILIO_PHONE_NUMBER"])
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()
    return db.session.scalars(sa.select(Task).where(Task.sms_content == body)).one()


@pytest.mark.parametrize(("first", "then"), [(WHATSAPP, PHONE), (PHONE, WHATSAPP)])
def test_an_answer_goes_back_on_the_channel_its_question_came_on(
    app, client, texter, twilio_server, first, then
):
    """Regression: a texter who asked on WhatsApp and texted by SMS while the answer was
    still being written got the WhatsApp question's answer by SMS (and the other way
    round): answers went on the channel last used, not the one the question came on."""

    texter.service_state = {"program_notice_sent": utcnow().isoformat()}
    db.session.commit()
    asked = queued_text_in(client, "What is the capital of France?", first)
    later = queued_text_in(client, "And of Spain?", then)

    pipeline.answer(asked.id)
    pipeline.answer(later.id)

    sent = {m.task_id: m for m in outbox("reply")}
    assert sent[asked.id].channel == ("whatsapp" if first == WHATSAPP else "sms")
    assert sent[later.id].channel == ("whatsapp" if then == WHATSAPP else "sms")
    assert [m["To"] for m in sent_to_twilio(twilio_server)] == [first, then]
    assert db.session.get(User, PHONE).channel == ("whatsapp" if then == WHATSAPP else "sms")


def test_a_program_notice_the_whatsapp_window_refused_is_not_on_record_as_sent(app, client):
    """Regression: an answer whose job ran after WhatsApp's 24-hour window had closed was
    finished unsent, but the program notice due before it was recorded as sent, so the
    texter's next answer came without the carriers' notice they never got."""

    make_user(PHONE, service_state={})
    asked = queued_text_in(client, "What is the capital of France?")
    db.session.get(User, PHONE).last_whatsapp_at = utcnow() - timedelta(hours=25)
    db.session.commit()

    assert pipeline.answer(asked.id) == "not_sent"

    db.session.rollback()
    assert outbox() == []
    assert "program_notice_sent" not in db.session.get(User, PHONE).service_state
    text_in(client, "And of Spain?")
    assert [(m.kind, m.channel) for m in outbox()] == [
        ("program", "whatsapp"),
        ("reply", "whatsapp"),
    ]


def test_a_whatsapp_texters_tier_change_notice_counts_characters_not_sms(
    app, client, admin_headers, twilio_server
):
    """Regression: a texter on WhatsApp, where nothing is counted in SMS, was told their new
    plan gave "answers of up to 10 SMS"."""
    make_user(PHONE, tier="free", channel="whatsapp", last_whatsapp_at=utcnow())
    with simulator.jobs_inline():
        response = client.post(
            f"/api/users/{ENCODED}/update_tier/", json={"tier": "premium"}, headers=admin_headers
        )
    assert response.status_code == 200
    db.session.rollback()
    [notice] = outbox("tier_change")
    assert notice.channel == "whatsapp"
    assert notice.body == (
        "Your SMS-to-AI Agent plan is now premium: 1000 requests a month, answers of up to "
        "1520 characters. Reply USAGE to check it."
    )


@pytest.mark.parametrize(
    ("on_whatsapp", "phone"),
    [
        # Recife: WhatsApp keeps the account's number from before mobiles took a ninth digit.
        ("+558187654321", "+5581987654321"),
        # São Paulo: WhatsApp writes the number with it, as the carriers do.
        ("+5511987654321", "+5511987654321"),
    ],
)
def test_a_brazilian_whatsapp_texter_is_the_texter_of_their_mobile_number(
    app, client, twilio_server, on_whatsapp, phone
):
    """Regression: WhatsApp writes many Brazilian mobiles without the 9 that their number
    took after the area code (Twilio's From "whatsapp:+558187654321" for +55 81 98765-4321),
    so a texter on both channels was two texters, with two quotas and two memories."""
    app.config["ALLOWED_COUNTRIES"] = ("US", "BR")
    text_in(client, "Oi", "whatsapp:" + on_whatsapp)
    text_in(client, "Oi de novo", phone)
    text_in(client, "E agora?", "whatsapp:" + on_whatsapp)

    assert list(db.session.scalars(sa.select(User.phone_number))) == [phone]
    # Answered on WhatsApp as WhatsApp knows them (after the program notice), then by SMS.
    assert [m["To"] for m in sent_to_twilio(twilio_server)] == [
        *2 * ["whatsapp:" + on_whatsapp],
        *2 * [phone],
        "whatsapp:" + on_whatsapp,
    ]
    assert {m.to_number for m in outbox()} == {phone}


def test_one_stop_opts_the_texter_out_of_both_channels_and_one_start_back_in(
    app, client, texter, twilio_server
):
    """A texter is one person on both channels: STOP on WhatsApp is obeyed on SMS too (an
    opt-out by any reasonable means holds for texts), and START on either brings both back."""
    text_in(client, "STOP")
    text_in(client, "What is the capital of France?", PHONE)
    assert [m.kind for m in outbox()] == ["opt_out"]
    text_in(client, "START", PHONE)
    text_in(client, "And of Spain?")
    assert [(m.kind, m.channel) for m in outbox()][1:] == [("opt_in", "sms"), ("reply", "whatsapp")]


def test_a_whatsapp_question_whose_window_closed_before_its_job_ran_is_not_asked(
    app, client, openai_server
):
    """Regression: a WhatsApp question whose job ran after the 24-hour window had closed (a
    backlog, a worker outage) was asked of the model, paid for, and only then found it could
    not be sent: a window closed is now no more worth a model call than a number abroad."""

    make_user(PHONE)
    asked = queued_text_in(client, "What is the capital of France?")
    db.session.get(User, PHONE).last_whatsapp_at = utcnow() - timedelta(hours=25)
    db.session.commit()

    assert pipeline.answer(asked.id) == "not_sent"

    db.session.rollback()
    assert openai_server.requests == []
    assert db.session.get(Task, asked.id).cost_usd == 0
    assert db.session.get(User, PHONE).monthly_requests == 0  # given back


MARKDOWN = "# Paris\n\n**Paris** is the capital of *France*."


@pytest.mark.parametrize(
    ("question", "sent"),
    [
        ("What is the capital of France?", "*Paris*\n\n*Paris* is the capital of _France_."),
        ("Show me a Markdown heading", f"```\n{MARKDOWN}\n```"),
    ],
)
def test_an_answer_wrapped_whole_in_a_markdown_fence_is_read_as_markdown_on_whatsapp(
    question, sent
):
    """Regression: a model that wrapped its whole answer in a ```markdown block meant the
    Markdown inside; on SMS it was read so, but WhatsApp got a code block, '# Paris' and
    '**Paris**' in monospace with every mark. Unless the texter asked about Markdown."""
    assert to_whatsapp_text(f"```markdown\n{MARKDOWN}\n```", question) == sent


def test_an_answer_whose_window_closed_while_it_was_made_is_not_on_record_as_sent(
    app, client, twilio_server, openai_server
):
    """Regression: a WhatsApp question whose window closed while the model answered it was
    finished unsent, but its metadata kept the answer as `sent` (and its rest as `more`):
    the texter's own token read an answer they never got as the one they were sent."""
    make_user(PHONE)
    answer_as_usual = openai_server.default

    def window_closes_meanwhile(method, path, body):
        app.config["WHATSAPP_WINDOW_HOURS"] = 0
        return answer_as_usual(method, path, body)

    openai_server.default = window_closes_meanwhile
    asked = queued_text_in(client, "What is the capital of France?")

    assert pipeline.answer(asked.id) == "not_sent"

    db.session.rollback()
    task = db.session.get(Task, asked.id)
    assert task.status == "failed" and task.ai_response == "Paris is the capital of France."
    assert not {"sent", "more", "more_channel"} & set(task.metadata_)
    assert outbox() == [] and sent_to_twilio(twilio_server) == []
    assert db.session.get(User, PHONE).monthly_requests == 0  # given back
