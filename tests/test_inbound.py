"""receive_sms: first contact, keywords and commands, opt-out, quota, media, duplicates."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from sms_agent import simulator
from sms_agent.extensions import db
from sms_agent.inbound import BadInbound, receive_sms
from sms_agent.models import HandledMessage, OutboundMessage, Task, User, utcnow
from tests.factories import make_task, make_user
from tests.standins import inbound_form, signed_post


def receive(body: str, **fields):
    received = receive_sms(inbound_form(body, **fields))
    db.session.commit()
    return received


def user() -> User:
    return db.session.get(User, "+15551230000")


def stored_task(received) -> Task:
    return db.session.get(Task, uuid.UUID(received.task_id))


def test_first_contact_creates_a_free_user_and_a_queued_task(app):
    received = receive("What is 2+2?")
    assert received.outcome == "task"
    task = stored_task(received)
    assert task.status == "queued" and task.message_sid == received.sid
    assert task.message_sid.startswith("SM")
    assert user().tier == "free" and user().is_active


@pytest.mark.parametrize("body", ["What is 2+2?", "continue", "la suite svp"])
def test_a_text_is_folded_into_a_keyword_once(app, monkeypatch, body):
    """Perf regression: routing read a text as a keyword and then as asking an answer to
    go on, folding it (NFKC, look-alikes, case) once for each."""
    from sms_agent.inbound import keywords

    folds = []
    folded = keywords._folded
    monkeypatch.setattr(keywords, "_folded", lambda *a, **k: folds.append(a) or folded(*a, **k))
    receive(body)
    assert len(folds) == 1


@pytest.mark.parametrize(
    "word",
    ["STOP", "stop", " Unsubscribe ", "CANCEL", "end", "QUIT", "stopall", "REVOKE", "opt out"],
)
def test_stop_words_opt_out_with_one_confirmation(app, word):
    received = receive(word)
    assert received.outcome == "stop"
    assert received.notice == "opt_out" and received.task_id is None
    assert user().opted_out_at is not None


@pytest.mark.parametrize(
    ("word", "sent"),
    [
        ("STOP\u3164", ["opt_out"]),  # a Hangul filler, which apps send as a blank
        ("\u115fstop", ["opt_out"]),
        ("ST\u034fOP", ["opt_out"]),  # the combining grapheme joiner
        ("Stop\ufe00", ["opt_out"]),  # a variation selector
        ("HELP\uffa0", ["program", "help"]),
    ],
)
def test_a_keyword_beside_a_character_drawn_as_nothing_is_the_keyword(app, client, word, sent):
    """Regression: "STOP" with a Hangul filler, a grapheme joiner or a variation selector
    (each drawn as nothing: a text of them alone gets the empty-text how-to) went to the
    model as a question, and the texter who asked to stop was answered, not opted out."""
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", inbound_form(word)).status_code == 200
    db.session.rollback()
    assert db.session.scalars(sa.select(OutboundMessage.kind)).all() == sent
    assert user().is_opted_out is (sent == ["opt_out"])
    assert db.session.scalars(sa.select(Task)).all() == []


@pytest.mark.parametrize("word", ["START", "yes", "Unstop", "resubscribe", "Subscribe me again"])
def test_start_words_opt_back_in_with_a_confirmation(app, word):
    make_user("+15551230000", opted_out_at=utcnow())
    received = receive(word)
    assert user().opted_out_at is None
    assert received.notice == "opt_in"


@pytest.mark.parametrize("word", ["yes", "Yes!", "YES."])
def test_yes_from_a_texter_who_never_opted_out_is_an_answer_for_the_model(app, word):
    """Regression: "Want the details?" "Yes" got "You're subscribed to SMS-to-AI Agent
    again" and the model never saw the answer."""
    make_user("+15551230000")
    received = receive(word)
    assert (received.outcome, received.notice) == ("task", None)
    assert stored_task(received).sms_content == word


@pytest.mark.parametrize(
    "asked",
    [
        "Hamlet is a tragedy in five acts. Which should I explain: the start or the end?",
        "Want me to start with the basics?",
    ],
)
def test_start_answering_the_models_question_is_an_answer_for_the_model(app, asked):
    """Regression: "Which should I explain: the start or the end?" "Start" got "You're
    subscribed to SMS-to-AI Agent" and the model never saw the answer. The texter was
    subscribed, and stays so."""
    texter = make_user("+15551230000")
    make_task(texter, status="completed", ai_response=asked)
    received = receive("Start")
    assert (received.outcome, received.notice) == ("task", None)
    assert user().opted_out_at is None


@pytest.mark.parametrize(
    "answered", ["The play starts at 8. Anything else?", "Text START to subscribe."]
)
def test_start_after_an_answer_that_asked_nothing_of_it_is_confirmed(app, answered):
    texter = make_user("+15551230000")
    make_task(texter, status="completed", ai_response=answered)
    received = receive("START")
    assert (received.outcome, received.notice) == ("start", "opt_in")


def test_an_opted_out_user_gets_no_answer_and_no_task(app):
    make_user("+15551230000", opted_out_at=utcnow())
    received = receive("what time is it in Tokyo?")
    assert (received.outcome, received.task_id, received.notice) == ("opted_out", None, None)
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


@pytest.mark.parametrize("word,notice", [("HELP", "help"), ("info", "help"), ("USAGE", "usage")])
def test_help_and_usage_get_a_notice(app, word, notice):
    assert receive(word).notice == notice


def test_help_reply_can_be_switched_off(app):
    app.config["HELP_REPLY_ENABLED"] = False
    received = receive("HELP")
    assert (received.outcome, received.notice) == ("help", None)


# Twilio's Advanced Opt-Out matches its own keyword lists, which a Messaging Service may
# extend in any language, and says which group matched in OptOutType.
MESSAGING_SERVICE = {"MessagingServiceSid": "MG" + "1" * 32}


@pytest.mark.parametrize("word", ["ARRET", "STOP"])
def test_an_opt_out_twilio_matched_opts_out_without_a_second_confirmation(app, word):
    received = receive(word, OptOutType="STOP", **MESSAGING_SERVICE)
    assert (received.outcome, received.notice, received.task_id) == ("stop", None, None)
    assert user().is_opted_out
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


@pytest.mark.parametrize("word", ["ALTA", "START"])
def test_an_opt_in_twilio_matched_opts_back_in_without_a_second_confirmation(app, word):
    make_user("+15551230000", opted_out_at=utcnow())
    received = receive(word, OptOutType="START", **MESSAGING_SERVICE)
    assert (received.outcome, received.notice) == ("start", None)
    assert not user().is_opted_out
    assert receive("What is DNS?").outcome == "task"


@pytest.mark.parametrize("word", ["AIDE", "HELP"])
def test_a_help_twilio_matched_and_answered_is_not_answered_again(app, word):
    received = receive(word, OptOutType="HELP", **MESSAGING_SERVICE)
    assert (received.outcome, received.notice, received.task_id) == ("help", None, None)
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


@pytest.mark.parametrize("word", ["RESET", "new chat", "New conversation."])
def test_reset_forgets_the_conversation(app, word):
    make_user("+15551230000")
    before = utcnow()
    received = receive(word)
    assert received.notice == "reset"
    assert user().context_reset_at >= before


@pytest.mark.parametrize("word", ["New", "new!"])
def test_new_alone_answers_the_models_question_and_keeps_the_conversation(app, word):
    """Regression: "New" was RESET, so a texter answering the model's "New or used?" lost
    the conversation they were answering and got the reset notice instead of an answer."""
    make_user("+15551230000")
    received = receive(word)
    assert (received.outcome, received.notice) == ("task", None)
    assert user().context_reset_at is None


def test_inactive_user_gets_nothing(app, caplog):
    make_user("+15551230000", is_active=False)
    received = receive("hello?")
    assert (received.outcome, received.task_id, received.notice) == ("inactive", None, None)
    assert "inactive" in caplog.text


def test_inactive_user_can_still_opt_out(app):
    make_user("+15551230000", is_active=False)
    receive("STOP")
    assert user().is_opted_out


def test_a_file_we_cannot_read_alone_gets_the_media_notice(app):
    received = receive(
        "", NumMedia="1", MediaUrl0="https://example.com/a.mp4", MediaContentType0="video/mp4"
    )
    assert (received.outcome, received.notice, received.task_id) == ("media", "media", None)
    # Regression: it was not stored, so staff never saw that the texter sent anything.
    kept = db.session.scalar(sa.select(Task).where(Task.message_sid == received.sid))
    assert (kept.status, kept.refusal_reason, kept.quota_window) == ("refused", "unsupported", None)
    assert kept.metadata_["media"] == [
        {"position": 0, "content_type": "video/mp4", "kind": "other"}
    ]


@pytest.mark.parametrize("content_type", ["image/heic", "image/heif"])
def test_an_iphone_heic_picture_alone_gets_the_notice_naming_the_pictures_we_read(
    app, content_type
):
    """Decision: chat models take JPEG, PNG, GIF and WebP, and an iPhone's HEIC is a grid of
    HEVC tiles that PyAV does not put together (a decoder such as libheif would be a new
    dependency). iPhones send MMS and WhatsApp pictures as JPEG unless set otherwise, so a
    HEIC is rare: it gets the how-to naming the types we read, and is kept for staff."""
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    received = receive("", NumMedia="1", MediaUrl0=url, MediaContentType0=content_type)
    assert (received.outcome, received.notice) == ("media", "media")


def test_a_file_we_cannot_read_with_text_is_answered_as_text_with_a_note(app):
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    received = receive(
        "What breed is this cat?", NumMedia="1", MediaUrl0=url, MediaContentType0="video/mp4"
    )
    assert stored_task(received).metadata_ == {
        "num_media": 1,
        "media": [{"position": 0, "content_type": "video/mp4", "kind": "other"}],
        "our_number": "+15005550006",  # the form's To, which the answer goes out from
    }
    assert received.notice is None  # the worker's note comes with the answer


def test_a_picture_alone_is_stored_as_a_task_for_the_worker_to_read(app):
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    received = receive("", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert (received.outcome, received.notice) == ("task", None)
    assert stored_task(received).metadata_["media"] == [
        {"position": 0, "content_type": "image/jpeg", "kind": "image", "url": url}
    ]


def test_a_whatsapp_texter_is_the_same_texter_as_their_sms_number_on_the_channel_used(app):
    make_user("+15551230000")
    receive("hello", From="whatsapp:+15551230000")
    assert (user().channel, user().last_whatsapp_at is not None) == ("whatsapp", True)
    receive("hello again", From="+15551230000")
    assert user().channel == "sms"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_a_shared_location_is_stored_as_the_place_it_names_for_staff_to_read(app):
    received = receive(
        "",
        From="whatsapp:+15551230000",
        Latitude="-33.8568",
        Longitude="151.2153",
        Label="Sydney Opera House",
        Address="Bennelong Point, Sydney NSW 2000",
    )
    assert received.outcome == "task"
    assert stored_task(received).sms_content == (
        "Shared location: Sydney Opera House, Bennelong Point, Sydney NSW 2000 "
        "(-33.856800, 151.215300)"
    )


@pytest.mark.parametrize(
    ("latitude", "longitude", "written"),
    [
        ("-33.86880111694336", "151.2099", "(-33.868801, 151.209900)"),  # an Android phone's
        ("+48.8584", "2.2945", "(48.858400, 2.294500)"),
        ("-0.0000001", "-0", "(0.000000, 0.000000)"),
    ],
)
def test_a_shared_location_is_written_to_six_decimals_whatever_the_phone_sent(
    app, latitude, longitude, written
):
    """Regression: coordinates went to the model and staff as the phone wrote them, fifteen
    digits (a thousandth of a millimetre) or a sign on the zero; now as a place is read,
    to six decimals (about 10 cm)."""
    received = receive("", From="whatsapp:+15551230000", Latitude=latitude, Longitude=longitude)
    assert stored_task(received).sms_content == f"Shared location: {written}"


@pytest.mark.parametrize(
    "latitude",
    ["", "north", "91", "nan", "1e1", "4_8.8", "0x10", "inf", "\u0664\u0668.8", "\uff14\uff18"],
)
def test_coordinates_that_are_no_place_leave_an_empty_text_empty(app, latitude):
    """Phones and Twilio write degrees in the digits 0-9: Arabic-Indic or fullwidth digits
    ("٤٨.8"), which the pattern's \\d and float() read as 48.8, are no coordinate either."""
    received = receive("", Latitude=latitude, Longitude="2.29", Label="Home")
    assert (received.outcome, received.notice) == ("empty", "empty")


@pytest.mark.parametrize(
    "body",
    ["", "   ", "\n", "\u200b", "\ufeff\u200d ", "\u00ad", "\u200e\x0b", "\u3164", "\u2800 \u2800"],
    ids=[
        "nothing",
        "spaces",
        "newline",
        "zero-width",
        "bom-joiner",
        "soft-hyphen",
        "marks",
        # The blank "letters" apps and keyboards use to send an empty-looking text: each
        # was a question for the model (and a request off the quota).
        "hangul-filler",
        "braille-blank",
    ],
)
def test_an_empty_message_gets_the_how_to_notice(app, body):
    received = receive(body)
    assert (received.outcome, received.task_id, received.notice) == ("empty", None, "empty")


def test_an_empty_message_from_an_opted_out_texter_gets_nothing(app):
    make_user("+15551230000", opted_out_at=utcnow())
    received = receive("")
    assert (received.outcome, received.notice) == ("opted_out", None)


def test_a_retried_empty_message_gets_nothing_more(app):
    form = inbound_form("")
    assert receive_sms(form).notice == "empty"
    db.session.commit()
    assert (receive_sms(form).outcome, receive_sms(form).notice) == ("duplicate", None)


def test_a_yes_under_a_picture_over_the_quota_still_opts_in_with_a_confirmation(app):
    make_user("+15551230000", monthly_requests=100, total_requests=100)
    assert receive("question one").notice == "quota"
    receive("STOP")
    picture = {"NumMedia": "1", "MediaUrl0": "https://example.com/a.png"}
    received = receive("Yes", MediaContentType0="image/png", **picture)
    assert (received.outcome, received.notice) == ("over_quota", "opt_in")
    assert not user().is_opted_out


def test_a_start_twilio_matched_under_a_picture_opts_in_and_the_picture_is_answered(app):
    make_user("+15551230000", opted_out_at=utcnow())
    picture = {"NumMedia": "1", "MediaUrl0": "https://example.com/a.png"}
    received = receive(
        "ALTA", OptOutType="START", MediaContentType0="image/png", **picture, **MESSAGING_SERVICE
    )
    assert (received.outcome, received.notice) == ("task", None)  # Twilio confirmed it
    assert not user().is_opted_out and stored_task(received).sms_content == "ALTA"


def test_over_quota_gets_one_notice_per_window_and_is_stored_refused_uncounted(app):
    make_user("+15551230000", monthly_requests=100, total_requests=100)
    first = receive("question one")
    second = receive("question two")
    assert (first.outcome, first.notice, first.task_id) == ("over_quota", "quota", None)
    assert (second.outcome, second.notice, second.task_id) == ("over_quota", None, None)
    refused = db.session.scalars(sa.select(Task).order_by(Task.created_at)).all()
    assert [(t.sms_content, t.status, t.refusal_reason) for t in refused] == [
        ("question one", "refused", "over_quota"),
        ("question two", "refused", "over_quota"),
    ]
    assert all(t.quota_window is None and t.status_label == "refused: over quota" for t in refused)
    assert (user().monthly_requests, user().total_requests) == (100, 100)


def test_a_timezone_change_within_the_window_brings_no_second_quota_notice(app):
    """The window is the same one, only its end moved: one notice still covers it."""
    make_user("+15551230000", monthly_requests=100, total_requests=100)
    assert receive("question one").notice == "quota"
    user().timezone = "America/Chicago"  # west of UTC: the window still runs
    db.session.commit()
    again = receive("question two")
    assert (again.outcome, again.notice) == ("over_quota", None)


def test_a_retried_refused_text_stores_and_notices_nothing_new(app):
    make_user("+15551230000", monthly_requests=100)
    form = inbound_form("question one")
    assert receive_sms(form).notice == "quota"
    db.session.commit()
    user().service_state = {}  # even with the quota notice forgotten, the task dedupes it
    db.session.commit()
    assert (receive_sms(form).outcome, receive_sms(form).notice) == ("duplicate", None)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1
    assert "quota_notice_window" not in user().service_state


def test_a_text_refused_when_admission_finds_the_quota_used_up_is_stored_refused(app):
    """The loaded row said there was room; the conditional UPDATE found none (a racing
    request took the last one)."""
    from sms_agent import quota

    make_user("+15551230000", monthly_requests=99)
    member = user()
    assert quota.admit(member) is not None  # the racing request, on the same row
    set_committed_value(member, "monthly_requests", 99)  # what this webhook had read
    received = receive("question")
    assert (received.outcome, received.task_id) == ("over_quota", None)
    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.status, task.refusal_reason) == ("refused", "over_quota")


def test_a_new_window_gets_a_new_quota_notice_when_used_up_again(app):
    make_user("+15551230000", monthly_requests=100)
    receive("question one")
    member = user()
    member.window_started_at = utcnow()  # a window is known by its start
    member.rate_limit_reset = utcnow() + timedelta(days=30)
    member.monthly_requests = 100
    db.session.commit()
    assert receive("question two").notice == "quota"


@pytest.mark.parametrize("change", ["reset", "upgrade"])
def test_running_out_again_after_staff_gave_room_within_the_month_gets_a_new_notice(app, change):
    from sms_agent import quota

    app.config.update(QUOTA_FREE=1, QUOTA_PREMIUM=1)
    make_user("+15551230000")
    assert receive("question one").outcome == "task"
    assert receive("question two").notice == "quota"
    if change == "reset":
        quota.reset_user(user())
    else:
        quota.change_tier(user(), "premium")
    db.session.commit()
    assert receive("question three").outcome == "task"
    refused = receive("question four")
    assert (refused.outcome, refused.notice) == ("over_quota", "quota")
    assert receive("question five").notice is None  # still one notice per run of refusals


def test_a_window_that_has_ended_lets_the_user_ask_again(app):
    make_user("+15551230000", monthly_requests=100, rate_limit_reset=utcnow() - timedelta(days=1))
    assert receive("question").outcome == "task"
    assert user().monthly_requests == 1  # the first request of the new window
    assert user().rate_limit_reset > utcnow()


def test_a_retried_keyword_is_handled_once(app):
    form = inbound_form("HELP")
    assert receive_sms(form).notice == "help"
    db.session.commit()
    assert receive_sms(form).outcome == "duplicate"


def test_a_retried_keyword_stays_handled_when_the_texter_rewrites_preferences(app):
    form = inbound_form("HELP")
    receive_sms(form)
    db.session.commit()
    user().preferences = {}  # what a companion app's PATCH /api/users/<phone>/ may send
    db.session.commit()
    assert receive_sms(form).outcome == "duplicate"
    assert user().preferences == {}


def test_webhooks_of_one_texter_take_turns_and_both_keywords_stay_handled(app):
    """Two keywords of one texter at once: the second waits for the first's lock on the
    texter, and both MessageSids are remembered as handled."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (SQLite runs one writer at a time by itself)")
    receive("HELP", MessageSid="SM" + "a" * 32)  # the texter exists
    receive_sms(inbound_form("INFO", MessageSid="SM" + "b" * 32))  # not committed yet
    other = threading.Thread(target=_receive_in_another_app_context, args=(app, "STOP"))
    other.start()
    other.join(timeout=0.5)
    assert other.is_alive()  # waiting for this webhook's lock...
    db.session.commit()
    other.join(timeout=10)  # ...which the commit released
    db.session.expire_all()
    handled = db.session.scalars(sa.select(HandledMessage.message_sid)).all()
    assert sorted(handled) == ["SM" + "a" * 32, "SM" + "b" * 32, "SM" + "c" * 32]


def _receive_in_another_app_context(app, body: str) -> None:
    with app.app_context():  # a session, and so a connection, of its own
        receive_sms(inbound_form(body, MessageSid="SM" + "c" * 32))
        db.session.commit()


def test_a_retried_question_is_stored_once(app):
    form = inbound_form("What is DNS?")
    receive_sms(form)
    db.session.commit()
    assert receive_sms(form).outcome == "duplicate"
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1


def test_a_retried_question_changes_nothing_once_the_quota_has_run_out(app):
    """The first delivery used the last request of the month; Twilio's retry of it must not
    get a quota notice (nor record one) as if it were a new question."""
    make_user("+15551230000", monthly_requests=99)
    form = inbound_form("What is DNS?")
    assert receive(form["Body"], MessageSid=form["MessageSid"]).outcome == "task"
    user().monthly_requests = 100
    db.session.commit()
    retry = receive(form["Body"], MessageSid=form["MessageSid"])
    assert (retry.outcome, retry.notice) == ("duplicate", None)
    assert "quota_notice_window" not in user().service_state
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1


@pytest.mark.parametrize(
    "fields",
    [{"MessageSid": ""}, {"From": ""}, {"From": "12"}, {"Body": "é" * 1601}],
)
def test_malformed_forms_are_refused(app, fields):
    with pytest.raises(BadInbound):
        receive_sms(inbound_form(**fields))


def test_garbage_num_media_counts_as_none(app):
    assert receive("hi there", NumMedia="lots").task_id is not None


def test_a_new_texter_is_logged_on_first_contact(app, caplog):
    with caplog.at_level(logging.INFO, logger="sms_agent"):
        receive_sms(inbound_form("hello", From="+15550001234"))
    assert "new user ***1234 on tier free" in caplog.text


def test_message_sids_past_the_retention_are_forgotten_by_the_hourly_job(app):
    """handled_messages grew by a row per keyword (and per deleted task) for ever; the
    hourly beat job drops those older than HANDLED_MESSAGES_RETENTION_DAYS, long after any
    retry of Twilio's, and a text within it is still known."""
    from sms_agent import jobs
    from sms_agent.worker import celery_settings

    app.config["HANDLED_MESSAGES_RETENTION_DAYS"] = 90
    receive("HELP", MessageSid="SM" + "a" * 32)
    receive("INFO", MessageSid="SM" + "b" * 32)
    old = db.session.get(HandledMessage, "SM" + "a" * 32)
    old.created_at = utcnow() - timedelta(days=91)
    db.session.commit()

    assert jobs.forget_old_handled_messages.apply().get() == 1
    assert jobs.forget_old_handled_messages.apply().get() == 0
    db.session.expire_all()
    assert db.session.scalars(sa.select(HandledMessage.message_sid)).all() == ["SM" + "b" * 32]
    assert receive("INFO", MessageSid="SM" + "b" * 32).outcome == "duplicate"
    schedule = celery_settings(app.config)["beat_schedule"].values()
    assert "sms_agent.jobs.forget_old_handled_messages" in {entry["task"] for entry in schedule}


def test_a_signed_stop_replayed_a_year_later_changes_nothing_by_default(app):
    """Regression: Twilio's signature carries no date, so once the hourly job had forgotten
    a STOP's MessageSid (after HANDLED_MESSAGES_RETENTION_DAYS, 90 by default) a captured
    webhook posted again was a new STOP: it opted out a texter who had come back. By
    default the sids are now kept (a row of a sid and a time each)."""
    from sms_agent import jobs

    stop = inbound_form("STOP", MessageSid="SM" + "c" * 32)
    receive_sms(stop)
    receive("START", MessageSid="SM" + "d" * 32)
    db.session.execute(sa.update(HandledMessage).values(created_at=utcnow() - timedelta(days=365)))
    db.session.commit()

    jobs.forget_old_handled_messages.apply().get()

    assert receive_sms(stop).outcome == "duplicate"
    db.session.expire_all()
    assert not user().is_opted_out


def test_a_retention_of_zero_keeps_every_message_sid(app):
    from sms_agent import jobs

    app.config["HANDLED_MESSAGES_RETENTION_DAYS"] = 0
    receive("HELP", MessageSid="SM" + "a" * 32)
    db.session.get(HandledMessage, "SM" + "a" * 32).created_at = utcnow() - timedelta(days=3650)
    db.session.commit()
    assert jobs.forget_old_handled_messages.apply().get() == 0
    assert receive("HELP", MessageSid="SM" + "a" * 32).outcome == "duplicate"


def test_a_deleted_tasks_message_sid_is_forgotten_after_the_retention_too(app):
    """The trigger keeping a deleted task's MessageSid writes its own time (the database's
    clock and notation); the retention reads it as it reads the rows the service writes."""
    from sms_agent.inbound.store import forget_old_handled

    app.config["HANDLED_MESSAGES_RETENTION_DAYS"] = 90
    received = receive("What is DNS?")
    db.session.delete(stored_task(received))
    db.session.commit()
    assert forget_old_handled(utcnow() + timedelta(days=89)) == 0
    assert forget_old_handled(utcnow() + timedelta(days=91)) == 1
    db.session.commit()
    assert db.session.scalars(sa.select(HandledMessage)).all() == []


def test_running_out_again_after_a_failed_answer_gave_its_request_back_gets_a_new_notice(app):
    """Regression: the last request of the month failed (Twilio gave up) after its texter
    was told the quota was used up; the request given back let the next text be answered,
    but the one after it was refused in silence: giving back lowered the count the notice's
    run was known by, back to the value it had when the texter was told."""
    from sms_agent import quota

    app.config.update(QUOTA_FREE=1)
    make_user("+15551230000")
    last = stored_task(receive("question one"))
    assert receive("question two").notice == "quota"
    quota.give_back(last)
    db.session.commit()
    assert receive("question three").outcome == "task"
    refused = receive("question four")
    assert (refused.outcome, refused.notice) == ("over_quota", "quota")
    assert receive("question five").notice is None  # still one notice per run of refusals


def test_a_text_resent_while_the_first_is_being_answered_is_answered_once(app):
    """A phone that showed "Not delivered" under a text that had reached us sends it again
    (a new MessageSid): both were answered, and both counted."""
    first = receive("What is DNS?")
    resent = receive("What is DNS?")
    assert (resent.outcome, resent.notice) == ("resent", None)
    task = db.session.scalars(sa.select(Task).filter_by(message_sid=resent.sid)).one()
    assert (task.status, task.refusal_reason, task.quota_window) == ("refused", "resent", None)
    assert stored_task(first).status == "queued"
    assert user().monthly_requests == 1


def test_the_resend_check_is_sent_once_in_the_tasks_insert_as_written(app, count_queries):
    """Regression (webhook cost): the check was written into each of three CASEs, so its
    words went to the server three times, and its statuses were an expanding parameter,
    which SQLAlchemy renders into the SQL again at every execution."""
    receive("What is DNS?")
    with count_queries() as queries:
        receive("What is DNS?")
    [insert] = [s for s in queries.statements if s.startswith("INSERT INTO tasks")]
    assert insert.count("sms_content =") == 1
    assert "IN ('queued', 'processing')" in insert


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_the_same_text_again_once_the_first_was_answered_is_answered_again(app, status):
    """Once the answer (or the apology) went out, the same words again are a new request:
    "Yes" to the model's next question, or a question the apology asked to try again."""
    first = stored_task(receive("Yes"))
    first.status = status
    db.session.commit()
    assert receive("Yes").outcome == "task"


def test_the_same_words_under_a_picture_are_a_new_question(app):
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    receive("What is this?")
    again = receive("What is this?", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert again.outcome == "task"


@pytest.mark.parametrize(
    ("asked", "answer"),
    [
        ("Did you try a reset or a reboot?", "Reset"),
        ("Do you mean the disk quota or the API rate limit?", "Quota."),
        ("Which should I compare: usage or cost?", "usage"),
    ],
)
def test_our_commands_answering_the_models_question_are_answers_for_the_model(app, asked, answer):
    """Regression: "Did you try a reset or a reboot?" "Reset" forgot the conversation the
    texter was answering, and "the disk quota or the API rate limit?" "Quota" got their
    quota instead of an answer."""
    texter = make_user("+15551230000")
    make_task(texter, status="completed", ai_response=asked)
    received = receive(answer)
    assert (received.outcome, received.notice) == ("task", None)
    assert user().context_reset_at is None


def test_asking_what_is_left_of_the_quota_in_words_the_model_used_is_still_usage(app):
    texter = make_user("+15551230000")
    make_task(texter, status="completed", ai_response="Do you have a question I can help with?")
    assert receive("How many texts do I have left?").notice == "usage"
