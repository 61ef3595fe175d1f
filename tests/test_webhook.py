"""The Twilio webhooks: signatures, storing and enqueueing, duplicates, size limits, status."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from config import TestingConfig
from sms_agent import create_app, jobs, simulator
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, User, utcnow
from sms_agent.outbound.status import record_sent
from tests.broker import drained
from tests.factories import make_task, make_user
from tests.standins import inbound_form, signed_post, silent_redis, unused_port

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def queued_jobs(app) -> list[tuple[str, list]]:
    """Drain the in-memory broker: (job name, args) of everything the app enqueued."""
    return [(message.headers["task"], list(message.payload[0])) for message in drained(app)]


def tasks() -> list[Task]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Task)))


def calls_of(monkeypatch, owner, name: str) -> list[tuple]:
    """The arguments of each call of `owner.name` from now on (it still runs as before)."""
    real, calls = getattr(owner, name), []

    def recorded(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls


def test_signed_sms_is_stored_and_answered_with_empty_twiml(app, client):
    response = signed_post(client, "/sms/inbound", inbound_form("Hi there 👋 café"))
    assert response.status_code == 200
    assert response.content_type.startswith("text/xml")
    assert response.get_data(as_text=True) == EMPTY_TWIML
    [task] = tasks()
    assert task.sms_content == "Hi there 👋 café"
    assert task.status == "queued"
    assert task.user.tier == "free"
    assert queued_jobs(app) == [("sms_agent.jobs.answer_task", [str(task.id)])]


def test_sender_number_is_normalised_to_e164(client):
    signed_post(client, "/sms/inbound", inbound_form(From="+1 (555) 123-0000"))
    [task] = tasks()
    assert task.user_phone == "+15551230000"


def test_a_known_texters_numbers_are_not_parsed_again(client, monkeypatch):
    """phonenumbers' parse was about 4% of a webhook's CPU, for numbers seen before."""
    import phonenumbers

    signed_post(client, "/sms/inbound", inbound_form("first", From="+1 (555) 123-0001"))
    parses = calls_of(monkeypatch, phonenumbers, "parse")
    response = signed_post(client, "/sms/inbound", inbound_form("again", From="+1 (555) 123-0001"))
    assert response.status_code == 200
    assert parses == []
    assert sorted(task.sms_content for task in tasks()) == ["again", "first"]


def test_the_fields_twilio_left_out_are_read_without_an_exception_each(client, monkeypatch):
    """werkzeug's form raises and catches a KeyError, an HTTP exception as well, for each
    field asked for and absent: a webhook asks for half a dozen (a location, a profile
    name, an opt-out type...), about 1% of its instructions."""
    from werkzeug.exceptions import BadRequestKeyError

    missed = calls_of(monkeypatch, BadRequestKeyError, "__init__")
    form = inbound_form("hello", From="+15551230002")
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    assert (
        signed_post(client, "/sms/status", {**form, "MessageStatus": "received"}).status_code == 200
    )

    assert [key for _, key, *_ in missed if key in ("Latitude", "ProfileName", "ErrorCode")] == []
    [task] = tasks()
    assert (task.sms_content, task.user_phone) == ("hello", "+15551230002")


def test_a_bad_number_is_refused_every_time_it_comes(client):
    for _ in "12":
        response = signed_post(client, "/sms/inbound", inbound_form(From="555-0045"))
        assert response.status_code == 400
        assert b"lacks its area code" in response.data
    assert tasks() == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
    ids=["missing", "wrong"],
)
def test_bad_signature_is_rejected_with_403_and_nothing_stored(app, client, headers):
    response = client.post("/sms/inbound", data=inbound_form(), headers=headers)
    assert response.status_code == 403
    assert response.content_type.startswith("text/plain")
    assert tasks() == []
    assert db.session.scalar(sa.select(sa.func.count(User.phone_number))) == 0
    assert queued_jobs(app) == []


def test_signature_of_a_tampered_form_is_rejected(client):
    form = inbound_form("hello")
    signature = RequestValidator("test-auth-token").compute_signature(
        "http://localhost/sms/inbound", form
    )
    form["Body"] = "something else"
    response = client.post("/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_signature_uses_the_public_base_url_when_configured(app, client):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.com"
    form = inbound_form()
    assert signed_post(client, "/sms/inbound", form).status_code == 403
    signed = signed_post(client, "/sms/inbound", form, url="https://sms.example.com/sms/inbound")
    assert signed.status_code == 200


@pytest.mark.parametrize("public_base_url", [None, "http://localhost"])
@pytest.mark.parametrize("query", ["src=caf%C3%A9", "path=a%2Fb", "q=%7Euser"])
def test_a_signature_is_checked_against_the_query_string_twilio_called(
    app, client, public_base_url, query
):
    """Twilio signs the webhook URL as configured, its escapes as written: without
    PUBLIC_BASE_URL the request's URL was read with them decoded (café, a/b, ~user), and
    every request to such a URL was refused."""
    app.config["PUBLIC_BASE_URL"] = public_base_url
    url = f"http://localhost/sms/inbound?{query}"
    response = signed_post(client, f"/sms/inbound?{query}", inbound_form(), url=url)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "signed_as", ["http://localhost/sms/inbound", "http://localhost:80/sms/inbound"]
)
def test_a_signature_of_the_url_with_or_without_its_port_is_accepted(client, signed_as):
    """Twilio's signing is not consistent about the port: the URL as called is checked
    first, and the SDK's full check (both forms) when that does not match."""
    response = signed_post(client, "/sms/inbound", inbound_form(), url=signed_as)
    assert response.status_code == 200
    assert len(tasks()) == 1


def test_a_field_twilio_sent_more_than_once_is_checked_as_twilio_signed_it(client, monkeypatch):
    """Twilio signs every value of a repeated field, each distinct value once, in order:
    signed so, the webhook is taken at the first check, without the SDK's full one (both
    forms of the URL, about 3% of a webhook's instructions); a value changed, refused."""
    from werkzeug.datastructures import MultiDict

    full_checks = calls_of(monkeypatch, RequestValidator, "validate")
    form = MultiDict(inbound_form("hello"))
    for value in ["zeta", "alpha", "zeta", "Ünïcode"]:
        form.add("Extra", value)
    url = "http://localhost/sms/inbound"
    signature = RequestValidator("test-auth-token").compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature}
    tampered = form.deepcopy()
    tampered.setlist("Extra", ["zeta", "alpha", "beta"])
    assert client.post("/sms/inbound", data=tampered, headers=headers).status_code == 403
    assert len(full_checks) == 1
    assert client.post("/sms/inbound", data=form, headers=headers).status_code == 200
    assert len(full_checks) == 1
    assert len(tasks()) == 1


def test_a_signature_with_characters_no_signature_has_is_refused_not_a_crash(client):
    response = client.post(
        "/sms/inbound", data=inbound_form(), headers={"X-Twilio-Signature": "sé±"}
    )
    assert response.status_code == 403
    assert tasks() == []


def test_a_query_string_that_is_not_utf8_is_refused_as_unsigned_not_a_crash(client):
    response = client.post(
        "/sms/inbound",
        data=inbound_form(),
        environ_overrides={"QUERY_STRING": "x=\xff"},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert response.status_code == 403
    assert tasks() == []


def test_signature_check_can_be_switched_off_outside_production(app, client):
    app.config["TWILIO_VALIDATE_SIGNATURE"] = False
    assert client.post("/sms/inbound", data=inbound_form()).status_code == 200
    assert len(tasks()) == 1


def test_twilio_retry_of_the_same_message_creates_nothing_new(app, client):
    form = inbound_form()
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    assert len(tasks()) == 1
    assert len(queued_jobs(app)) == 1


def test_concurrent_duplicate_that_wins_the_race_is_treated_as_a_duplicate(app, client):
    """Another delivery of the same SMS commits its task just before our first write; the
    unique MessageSid makes ours insert nothing (and count nothing), and the view answers
    200 with no new job."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only: SQLite's write lock (BEGIN IMMEDIATE) makes them take turns")
    form = inbound_form()
    user = make_user(form["From"])

    fired = []

    def the_other_delivery_commits_first(execution):
        if fired or not (execution.is_insert or execution.is_update):
            return
        fired.append(True)
        with db.engine.begin() as connection:
            connection.execute(
                sa.insert(Task.__table__).values(
                    id=uuid.uuid4(),
                    user_phone=user.phone_number,
                    sms_content=form["Body"],
                    message_sid=form["MessageSid"],
                    status="queued",
                    category="general",
                    success=False,
                    metadata={},
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )

    sa.event.listen(Session, "do_orm_execute", the_other_delivery_commits_first)
    try:
        response = signed_post(client, "/sms/inbound", form)
    finally:
        sa.event.remove(Session, "do_orm_execute", the_other_delivery_commits_first)
    assert fired
    assert response.status_code == 200
    assert len(tasks()) == 1
    assert queued_jobs(app) == []
    db.session.refresh(user)
    assert user.monthly_requests == 0


def deliver_at_once(app, forms: list[dict]) -> list[int]:
    """Post each signed form from a thread of its own, all released at the same moment, as
    web processes take them; the status of each."""
    barrier = threading.Barrier(len(forms))
    statuses = []

    def deliver(form):
        with app.app_context():
            barrier.wait()
            statuses.append(signed_post(app.test_client(), "/sms/inbound", form).status_code)
            db.session.remove()

    threads = [threading.Thread(target=deliver, args=(form,)) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_simultaneous_duplicate_deliveries_store_one_task(app):
    """Several threads deliver the same SMS at once, each through its own request."""
    form = inbound_form()
    make_user(form["From"])
    assert deliver_at_once(app, [form] * 4) == [200] * 4
    assert len(tasks()) == 1
    assert len(queued_jobs(app)) == 1


def test_parallel_texts_at_quota_minus_one_admit_exactly_one_and_notice_once(app):
    """Five different SMS from a texter with one request left arrive together: one is
    stored and answered, the others get one over-quota notice between them."""
    phone = make_user(monthly_requests=99).phone_number
    forms = [inbound_form(f"question {n}", From=phone) for n in range(5)]
    assert deliver_at_once(app, forms) == [200] * 5
    stored = sorted(task.status for task in tasks())
    assert stored == ["queued"] + ["refused"] * 4  # staff see the four refused texts too
    jobs = [name for name, _args in queued_jobs(app)]
    assert sorted(jobs) == ["sms_agent.jobs.answer_task", "sms_agent.jobs.send_notice"]
    db.session.expire_all()
    assert db.session.get(User, phone).monthly_requests == 100


def test_body_over_the_size_limit_gets_a_clean_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = signed_post(client, "/sms/inbound", inbound_form("x" * 4000))
    assert response.status_code == 413
    assert response.content_type.startswith("text/plain")
    assert tasks() == []


def test_a_1600_character_unicode_body_is_stored_as_received(client):
    body = ("Grüße 🌍 " * 200)[:1600]
    assert signed_post(client, "/sms/inbound", inbound_form(body)).status_code == 200
    assert tasks()[0].sms_content == body


@pytest.mark.parametrize(
    "fields",
    [
        {"MessageSid": ""},
        {"From": "not a number"},
        {"Body": "x" * 1601},
        {"From": "messenger:+15551230009"},
        {"From": "rcs:+15551230009"},
    ],
    ids=["no-sid", "bad-from", "too-long", "messenger", "rcs"],
)
def test_malformed_webhook_gets_400(client, fields):
    response = signed_post(client, "/sms/inbound", inbound_form(**fields))
    assert response.status_code == 400
    assert response.content_type.startswith("text/plain")
    assert tasks() == []
    assert db.session.scalar(sa.select(sa.func.count(User.phone_number))) == 0


def test_a_channel_we_do_not_serve_is_named_in_the_400(client):
    form = inbound_form(From="messenger:+15551230009")
    response = signed_post(client, "/sms/inbound", form)
    assert "'messenger:' is not a channel we serve" in response.get_data(as_text=True)


def test_a_huge_num_media_is_stored_as_the_most_twilio_sends(client):
    signed_post(client, "/sms/inbound", inbound_form("hi", NumMedia="9" * 23))
    [task] = tasks()
    assert task.metadata_["num_media"] == 10


def test_a_nul_in_a_media_url_is_stored_as_a_replacement_character(client):
    form = inbound_form(
        "hi",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/ME1\x00",
        MediaContentType0="image/png",
    )
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    [item] = tasks()[0].metadata_["media"]
    assert item["url"] == "https://api.twilio.com/ME1\ufffd"


def test_a_nul_in_a_media_type_makes_an_attachment_we_do_not_read(client):
    form = inbound_form(
        "hi",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/ME1",
        MediaContentType0="image/p\x00ng",
    )
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    [item] = tasks()[0].metadata_["media"]
    assert (item["content_type"], item["kind"]) == ("image/p\ufffdng", "other")


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_webhook_called_with_another_method_gets_a_short_plain_405(client, path, method):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.content_type.startswith("text/plain")
    assert response.get_data(as_text=True) == (
        "405 Method Not Allowed: The method is not allowed for the requested URL.\n"
    )
    assert "POST" in response.headers["Allow"]


def test_other_pages_keep_their_own_405(client):
    response = client.post("/healthz")
    assert response.status_code == 405 and response.content_type.startswith("text/html")


def test_keyword_enqueues_a_notice_not_an_answer(app, client):
    form = inbound_form("HELP")
    signed_post(client, "/sms/inbound", form)
    assert tasks() == []
    assert queued_jobs(app) == [
        ("sms_agent.jobs.send_notice", ["+15551230000", "help", form["MessageSid"]])
    ]


@pytest.mark.parametrize("word", ["STOP", "revoke", "Opt out", "OPTOUT"])
def test_stop_enqueues_one_opt_out_confirmation(app, client, word):
    form = inbound_form(word)
    signed_post(client, "/sms/inbound", form)
    signed_post(client, "/sms/inbound", form)  # Twilio's retry of it
    assert queued_jobs(app) == [
        ("sms_agent.jobs.send_notice", ["+15551230000", "opt_out", form["MessageSid"]])
    ]


@pytest.mark.parametrize(
    "words",
    [
        # Regression: "ЅТОР" (or "SТOP" with a Cyrillic Т) was answered by the model and
        # the texter stayed subscribed.
        "\u0405\u0422\u041e\u0420",
        "S\u0422OP",
        # Regression: so was "please stop texting me" (notices, staff's texts kept coming).
        "Please stop texting me!",
        "unsubscribe me",
        "STOP STOP",
        # Regression: so were ARRET and BAJA, which Twilio's default keywords do not hold.
        "ARRET",
        "Baja",
        # Regression: so was a STOP with a control character beside it.
        "STOP\x00",
        "\x1bSTOP\x07",
    ],
)
@pytest.mark.parametrize("advanced_opt_out", [False, True])
def test_a_stop_written_otherwise_opts_out_with_one_confirmation(
    app, client, words, advanced_opt_out
):
    """With Advanced Opt-Out too: Twilio's keyword lists match none of these, so neither
    blocks the number nor confirms (regression: "ЅТОР" in Cyrillic letters was taken for
    Twilio's STOP, and nobody confirmed it)."""
    app.config["TWILIO_ADVANCED_OPT_OUT"] = advanced_opt_out
    form = inbound_form(words)
    signed_post(client, "/sms/inbound", form)
    assert tasks() == []
    assert db.session.get(User, "+15551230000").is_opted_out
    assert queued_jobs(app) == [
        ("sms_agent.jobs.send_notice", ["+15551230000", "opt_out", form["MessageSid"]])
    ]


def test_a_question_with_look_alike_letters_reaches_the_model_as_written(app, client):
    question = "Wh\u0430t does \u0405\u0422\u041e\u0420 mean in Serbian?"  # Cyrillic а, Ѕ...
    signed_post(client, "/sms/inbound", inbound_form(question))
    [task] = tasks()
    assert task.sms_content == question
    assert queued_jobs(app) == [("sms_agent.jobs.answer_task", [str(task.id)])]


def test_a_captured_start_replayed_after_many_keywords_does_not_opt_the_texter_back_in(app, client):
    """Twilio's signature carries no time, so anyone who captured a signed START can post it
    again whenever they like: every MessageSid acted on is remembered, not only the last few."""
    captured = inbound_form("START")
    signed_post(client, "/sms/inbound", captured)
    for _ in range(25):
        signed_post(client, "/sms/inbound", inbound_form("HELP"))
    signed_post(client, "/sms/inbound", inbound_form("STOP"))
    queued_jobs(app)
    signed_post(client, "/sms/inbound", captured)
    db.session.expire_all()
    assert db.session.get(User, "+15551230000").is_opted_out
    assert queued_jobs(app) == []


def test_a_captured_text_replayed_after_its_texter_was_deleted_is_not_taken_again(app, client):
    """Deleting a texter took their tasks, and with them the MessageSids that made a replay
    known: a captured, signed text posted again brought the deleted texter back, their
    words with them, and cost a model answer."""
    captured = inbound_form("What is DNS?")
    signed_post(client, "/sms/inbound", captured)
    queued_jobs(app)
    db.session.delete(db.session.get(User, "+15551230000"))
    db.session.commit()
    assert signed_post(client, "/sms/inbound", captured).status_code == 200
    assert tasks() == []
    assert db.session.get(User, "+15551230000") is None
    assert queued_jobs(app) == []


def test_a_captured_text_replayed_after_its_task_was_deleted_is_not_answered_again(app, client):
    captured = inbound_form("What is DNS?")
    signed_post(client, "/sms/inbound", captured)
    queued_jobs(app)
    [task] = tasks()
    db.session.delete(task)
    db.session.commit()
    signed_post(client, "/sms/inbound", captured)
    assert tasks() == []
    assert queued_jobs(app) == []


@pytest.mark.parametrize(
    ("tail", "then"),
    [
        ("N", {"umMedia": "0To+15005550006"}),
        ("Nu", {"mMedia": "0To+15005550006"}),
        ("NumMedia0", {"To": "+15005550006"}),
        ("NumMedia0T", {"o": "+15005550006"}),
    ],
)
def test_a_captured_text_posted_again_with_its_parameters_cut_elsewhere_is_refused(
    app, client, tail, then
):
    """Twilio signs the parameters run together (name, value, name, value... in name order),
    with nothing between them: a captured text posted again with the start of the next
    parameter moved into its MessageSid ("SM…N", then "umMedia" for a name) carries the same
    signature and a MessageSid never seen, and was taken and answered again, once for each
    cut. A MessageSid is Twilio's: two letters and 32 hex digits."""
    captured = inbound_form("What is DNS?")
    assert signed_post(client, "/sms/inbound", captured).status_code == 200
    queued_jobs(app)
    cut = {name: value for name, value in captured.items() if name not in ("NumMedia", "To")}
    cut = {**cut, "MessageSid": captured["MessageSid"] + tail, **then}
    validator, url = RequestValidator("test-auth-token"), "http://localhost/sms/inbound"
    signature = validator.compute_signature(url, captured)
    assert validator.compute_signature(url, cut) == signature  # the same bytes signed
    response = client.post("/sms/inbound", data=cut, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400
    assert len(tasks()) == 1
    assert queued_jobs(app) == []


def test_a_yes_that_opted_in_is_not_answered_as_a_question_when_replayed(app, client):
    """ "yes" is START only from an opted-out texter; replayed once they are in, the same
    MessageSid must not come back as a question for the model."""
    make_user("+15551230000", opted_out_at=utcnow())
    captured = inbound_form("yes")
    signed_post(client, "/sms/inbound", captured)
    queued_jobs(app)
    signed_post(client, "/sms/inbound", captured)
    assert tasks() == []
    assert queued_jobs(app) == []


def test_twilio_advanced_opt_out_sends_the_stop_confirmation_instead_of_us(app, client):
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    signed_post(client, "/sms/inbound", inbound_form("STOP"))
    assert queued_jobs(app) == []
    assert db.session.get(User, "+15551230000").is_opted_out


@pytest.mark.parametrize("word", ["START", "Unstop.", "yes"])
def test_twilio_advanced_opt_out_sends_the_start_confirmation_instead_of_us(app, client, word):
    """Regression: Twilio answers its own opt-in words as it does STOP, and we confirmed
    them too, so a texter coming back got two "you're subscribed" SMS."""
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    make_user("+15551230000", opted_out_at=utcnow())
    signed_post(client, "/sms/inbound", inbound_form(word))
    assert queued_jobs(app) == []
    assert not db.session.get(User, "+15551230000").is_opted_out


def test_with_twilio_advanced_opt_out_we_still_confirm_an_opt_in_in_our_own_words(app, client):
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    make_user("+15551230000", opted_out_at=utcnow())
    form = inbound_form("Resubscribe")
    signed_post(client, "/sms/inbound", form)
    assert queued_jobs(app) == [
        ("sms_agent.jobs.send_notice", ["+15551230000", "opt_in", form["MessageSid"]])
    ]


def test_with_twilio_advanced_opt_out_we_still_confirm_an_opt_out_in_our_own_words(app, client):
    """Regression: with TWILIO_ADVANCED_OPT_OUT on, "please stop texting me" opted the
    texter out and nobody confirmed it: Twilio's keyword list has no such phrase (no
    OptOutType came), and we left the confirmation to Twilio."""
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    form = inbound_form("Please stop texting me")
    signed_post(client, "/sms/inbound", form)
    assert db.session.get(User, "+15551230000").is_opted_out
    assert queued_jobs(app) == [
        ("sms_agent.jobs.send_notice", ["+15551230000", "opt_out", form["MessageSid"]])
    ]


def test_a_stop_from_a_texter_opted_out_already_is_not_confirmed_again(app, client):
    make_user("+15551230000", opted_out_at=utcnow())
    signed_post(client, "/sms/inbound", inbound_form("STOP"))
    assert queued_jobs(app) == []


def test_broker_outage_still_answers_twilio_and_keeps_the_task(app):
    """The task is committed before the publish fails, so the sweeper can answer it later."""
    down = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL=f"redis://127.0.0.1:{unused_port()}/0",
    )
    with down.app_context():
        response = signed_post(down.test_client(), "/sms/inbound", inbound_form())
        assert response.status_code == 200
        assert tasks()[0].status == "queued"
        db.session.remove()
        db.engine.dispose()


@contextlib.contextmanager
def database_down(app, **settings):
    """A web process like `app`'s whose database refuses every connection (a port nothing
    listens on); afterwards jobs run on `app`'s database again, back as it were (every app
    made registers its Celery as the one jobs run on)."""
    down = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{unused_port()}/gone",
        **settings,
    )
    try:
        with down.app_context():
            yield down
            db.engine.dispose()
    finally:
        app.extensions["celery"].set_current()


def test_a_text_sent_while_the_database_is_down_is_stored_and_answered_once_it_is_back(app):
    """Regression: with the database down (a restart, a failover) the webhook answered
    Twilio 500, and Twilio does not send a webhook again: the text was lost. The broker now
    keeps it, a worker stores it once the database is back, and its answer is queued then."""
    form = inbound_form("Are you still there?")
    with database_down(app) as down:
        response = signed_post(down.test_client(), "/sms/inbound", form)
    assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_TWIML)
    assert tasks() == []
    [(job, args)] = queued_jobs(app)
    assert job == "sms_agent.jobs.receive_inbound" and args == [form]

    assert jobs.receive_inbound.apply(args=args).result == "task"  # the database is back
    [task] = tasks()
    assert (task.sms_content, task.status, task.message_sid) == (
        "Are you still there?",
        "queued",
        form["MessageSid"],
    )
    assert queued_jobs(app) == [("sms_agent.jobs.answer_task", [str(task.id)])]
    assert jobs.receive_inbound.apply(args=args).result == "duplicate"  # run twice: one task
    assert len(tasks()) == 1 and queued_jobs(app) == []


def test_a_kept_text_waits_while_the_database_stays_down(app):
    """The worker finds the database still away: the text goes back to the broker for
    later, with the next delay, and nothing is lost."""
    form = inbound_form("Hello?")
    with database_down(app):
        assert jobs.receive_inbound.apply(args=[form]).result == "busy"
    [(job, args)] = queued_jobs(app)
    assert job == "sms_agent.jobs.receive_inbound" and args == [form]


def test_a_text_is_refused_only_when_neither_the_database_nor_the_broker_can_keep_it(app):
    broker_down = f"redis://127.0.0.1:{unused_port()}/0"
    with database_down(app, CELERY_BROKER_URL=broker_down, PROPAGATE_EXCEPTIONS=False) as down:
        response = signed_post(down.test_client(), "/sms/inbound", inbound_form())
    assert response.status_code == 500


def test_a_broker_that_never_answers_holds_a_webhook_up_no_longer_than_the_publish_may(app):
    """Regression: a Redis broker that takes connections and never answers (hung, or gone
    without closing the connection: a failover, a NAT's timeout) held the webhook forever,
    as only connecting had a timeout; every web thread then waited on it. Now the publish
    gives up within BROKER_PUBLISH_TIMEOUT (twice, with its one retry) and the sweeper
    answers the stored task later."""
    with silent_redis(0) as url:
        hung = create_app(
            TestingConfig,
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            CELERY_BROKER_URL=url,
            BROKER_PUBLISH_TIMEOUT=0.5,
        )
        with hung.app_context():
            answered = []
            webhook = threading.Thread(
                target=lambda: answered.append(
                    signed_post(hung.test_client(), "/sms/inbound", inbound_form()).status_code
                ),
                daemon=True,
            )
            webhook.start()
            webhook.join(timeout=5)
            assert answered == [200]
            assert tasks()[0].status == "queued"
            db.session.remove()
            db.engine.dispose()


# --- status callbacks -------------------------------------------------------------------


def sent_message(status="queued") -> OutboundMessage:
    task = make_task()
    message = OutboundMessage(
        task=task, to_number=task.user_phone, body="hi", sid="SM" + "a" * 32, status=status
    )
    db.session.add(message)
    db.session.commit()
    return message


def status_form(status: str, **fields) -> dict:
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    form.update(fields)
    return form


def test_a_delivery_report_sent_while_the_database_is_down_is_applied_once_it_is_back(app):
    """Regression: with the database down (a restart, a failover) a status callback got a
    500 (an HTML page, in Twilio's debugger), and Twilio does not send it again: the report
    was lost, so an undelivered reply was never shown to staff, nor a carrier's opt-out
    (error 21610) obeyed. The broker now keeps it for a worker, as it keeps an inbound text."""
    message = sent_message("sent")
    path = f"/sms/status?message={message.id}"
    form = status_form("undelivered", ErrorCode="30003")
    with database_down(app) as down:
        response = signed_post(down.test_client(), path, form)
    assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_TWIML)
    [(job, args)] = queued_jobs(app)
    assert job == "sms_agent.jobs.record_status"

    with database_down(app):
        assert jobs.record_status.apply(args=args).result == "busy"  # still away: kept
    [(job, args)] = queued_jobs(app)
    assert jobs.record_status.apply(args=args).result == "applied"  # the database is back
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("undelivered", 30003)


@pytest.mark.parametrize(
    "twilio_status,stored",
    [
        ("accepted", "queued"),
        ("queued", "queued"),
        ("sending", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("undelivered", "undelivered"),
        ("failed", "failed"),
    ],
)
def test_status_callback_is_recorded(client, twilio_status, stored):
    message = sent_message()
    assert signed_post(client, "/sms/status", status_form(twilio_status)).status_code == 200
    db.session.refresh(message)
    assert message.status == stored


def test_failed_status_records_the_error_code(client):
    message = sent_message("sent")
    signed_post(client, "/sms/status", status_form("undelivered", ErrorCode="30003"))
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("undelivered", 30003)


@pytest.mark.parametrize(
    "error_code",
    ["\u00b2", "1" * 400, "1" * 5000, "12a", "-5", " ", "\u0663\u0660"],
    ids=lambda code: f"{code[:4]!r}x{len(code)}",
)
def test_a_status_with_an_error_code_that_is_not_a_code_is_recorded_without_it(client, error_code):
    """Any signed value is handled: a real code is stored, anything else logged and ignored."""
    message = sent_message("sent")
    response = signed_post(client, "/sms/status", status_form("failed", ErrorCode=error_code))
    assert response.status_code == 200
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("failed", None)


@pytest.mark.parametrize("late", ["sent", "queued", "failed"])
def test_a_final_status_never_moves_back(client, late):
    message = sent_message("delivered")
    signed_post(client, "/sms/status", status_form(late))
    db.session.refresh(message)
    assert message.status == "delivered"


def test_a_late_sent_does_not_undo_a_later_state_out_of_order(client):
    message = sent_message("sent")
    signed_post(client, "/sms/status", status_form("queued"))
    db.session.refresh(message)
    assert message.status == "sent"


@pytest.mark.parametrize("already", ["sent", "undelivered"])
def test_a_delivery_report_of_error_21610_opts_the_texter_out(client, already):
    """The texter replied STOP at the carrier (or to Twilio's own opt-out): even a report
    that comes after the message's final status must stop every later SMS."""
    message = sent_message(already)
    response = signed_post(client, "/sms/status", status_form("undelivered", ErrorCode="21610"))
    assert response.status_code == 200
    user = db.session.get(User, message.to_number)
    db.session.refresh(user)
    assert user.is_opted_out


def test_a_second_21610_report_keeps_the_time_of_the_first_opt_out(client):
    message = sent_message("sent")
    user = db.session.get(User, message.to_number)
    user.opted_out_at = first = utcnow().replace(year=2030, microsecond=0)
    db.session.commit()
    signed_post(client, "/sms/status", status_form("failed", ErrorCode="21610"))
    db.session.refresh(user)
    assert user.opted_out_at == first


@pytest.mark.parametrize("already", ["sent", "undelivered"])
def test_a_21610_report_posted_again_after_the_texters_start_leaves_them_subscribed(
    client, already
):
    """A report's signature carries no time: anyone who captured a signed one can post it
    again. The texter's START since lifted the carrier's block, and a report already obeyed
    must not opt them out once more (nor Twilio's own second delivery of it)."""
    message = sent_message(already)
    report = status_form("undelivered", ErrorCode="21610")
    signed_post(client, "/sms/status", report)
    start = inbound_form("START", From=message.to_number)
    assert signed_post(client, "/sms/inbound", start).status_code == 200
    user = db.session.get(User, message.to_number)
    db.session.refresh(user)
    assert not user.is_opted_out
    assert signed_post(client, "/sms/status", report).status_code == 200
    db.session.refresh(user)
    assert not user.is_opted_out


def test_other_error_codes_in_a_delivery_report_leave_the_texter_subscribed(client):
    message = sent_message("sent")
    signed_post(client, "/sms/status", status_form("undelivered", ErrorCode="30003"))
    user = db.session.get(User, message.to_number)
    db.session.refresh(user)
    assert not user.is_opted_out


def test_unknown_sid_is_acknowledged(client, caplog):
    response = signed_post(client, "/sms/status", status_form("delivered"))
    assert response.status_code == 200
    assert "unknown message" in caplog.text


# A callback that outruns Twilio's answer to our send: it names our row in its URL.
def about_to_be_sent() -> OutboundMessage:
    """A part as the send leaves it while Twilio has it: committed, queued, no sid yet."""
    task = make_task()
    message = OutboundMessage(task=task, to_number=task.user_phone, body="hi", status="queued")
    db.session.add(message)
    db.session.commit()
    return message


def naming(message: OutboundMessage) -> str:
    return f"/sms/status?message={message.id}"


def test_a_callback_before_the_sid_is_stored_finds_the_message_by_our_id(client):
    message = about_to_be_sent()
    response = signed_post(client, naming(message), status_form("delivered"))
    assert response.status_code == 200
    db.session.refresh(message)
    assert (message.status, message.sid) == ("delivered", "SM" + "a" * 32)


def test_the_sid_stored_after_an_early_callback_keeps_the_callbacks_status(client):
    message = about_to_be_sent()
    signed_post(client, naming(message), status_form("delivered"))
    record_sent(message, "SM" + "a" * 32, "queued")  # Twilio's answer to the send, late
    db.session.commit()
    db.session.refresh(message)
    assert (message.status, message.sid) == ("delivered", "SM" + "a" * 32)


def test_the_sid_stored_moves_a_message_no_callback_reached_yet(client):
    message = about_to_be_sent()
    record_sent(message, "SM" + "a" * 32, "sent")
    db.session.commit()
    db.session.refresh(message)
    assert (message.status, message.sid) == ("sent", "SM" + "a" * 32)


def test_a_callback_naming_a_message_sent_under_another_sid_is_ignored(client, caplog):
    message = sent_message("sent")
    form = status_form("failed", MessageSid="SM" + "b" * 32)
    assert signed_post(client, naming(message), form).status_code == 200
    db.session.refresh(message)
    assert (message.status, message.sid) == ("sent", "SM" + "a" * 32)
    assert "unknown message" in caplog.text


def test_a_callback_with_a_garbled_reference_falls_back_to_the_sid(client):
    message = sent_message("sent")
    signed_post(client, "/sms/status?message=not-an-id", status_form("delivered"))
    db.session.refresh(message)
    assert message.status == "delivered"


def test_the_reference_in_the_callback_url_is_covered_by_the_signature(client):
    """Twilio signs the URL with its query string: another row's id in it is refused."""
    message, other = about_to_be_sent(), about_to_be_sent()
    form = status_form("failed")
    signature = RequestValidator("test-auth-token").compute_signature(
        "http://localhost" + naming(other), form
    )
    response = client.post(naming(message), data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    db.session.refresh(message)
    assert message.status == "queued"


@pytest.mark.parametrize("answered", ["queued", "sending"])
def test_a_callback_that_outruns_twilios_answer_is_kept(app, twilio_server, answered):
    """Twilio may report a message before its answer to our request, and so the message's
    sid, has reached the worker: the report is applied and the status in Twilio's later
    answer does not undo it."""
    app.config["PUBLIC_BASE_URL"] = "http://localhost"
    answer, reported = twilio_server.default, []

    def reporting_before_answering(method, path, body):
        reply = answer(method, path, body)
        if method == "POST":
            reply[1]["status"] = answered
            callback = body["StatusCallback"].removeprefix("http://localhost")
            form = status_form("delivered", MessageSid=reply[1]["sid"])
            with app.app_context():  # Twilio's callback is another request, on its own
                reported.append(signed_post(app.test_client(), callback, form).status_code)
        return reply

    twilio_server.default = reporting_before_answering
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert reported == [200]
    db.session.rollback()
    [message] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert message.status == "delivered" and message.sid.startswith("SM")


def test_status_callback_needs_a_signature(client):
    message = sent_message()
    response = client.post("/sms/status", data=status_form("delivered"))
    assert response.status_code == 403
    db.session.refresh(message)
    assert message.status == "queued"


def test_behind_a_trusted_proxy_the_forwarded_url_is_verified(app):
    """Twilio signs https://public-host/...; the proxy forwards plain http to us."""
    proxied = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        TRUSTED_PROXIES=1,
    )
    form = inbound_form()
    signature = RequestValidator("test-auth-token").compute_signature(
        "https://sms.example.com/sms/inbound", form
    )
    headers = {
        "X-Twilio-Signature": signature,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.example.com",
        "X-Forwarded-For": "203.0.113.9",
    }
    with proxied.app_context():
        response = proxied.test_client().post("/sms/inbound", data=form, headers=headers)
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("language", "body"), [(None, "hello"), ("fr", "Pourquoi le ciel est bleu ?")]
)
def test_storing_an_sms_from_a_known_texter_takes_three_statements(
    app, client, count_queries, language, body
):
    """Load the texter, count the request (one conditional UPDATE), then one INSERT that
    also skips a MessageSid stored before: nothing is read back after the commit, so the
    webhook's cost stays flat under load. A question in the language the texter is known
    to write writes nothing more."""
    make_user(phone_number="+15550001111").note_help_language(language)
    db.session.commit()
    with count_queries() as counter:
        response = signed_post(client, "/sms/inbound", inbound_form(body, From="+15550001111"))
    assert response.status_code == 200
    first_words = [statement.split()[0] for statement in counter.statements]
    # SQLite has no row lock: the transaction takes its write lock up front instead.
    lock = ["BEGIN"] if db.engine.dialect.name == "sqlite" else []
    assert first_words == [*lock, "SELECT", "UPDATE", "INSERT"]


def test_a_texter_staff_added_becomes_active_with_their_first_question(app, client):
    """Staff's new texter has no last_active until they text; their first question, taken
    up, dates it."""
    make_user(phone_number="+15550001111", last_active=None)
    before = utcnow()

    response = signed_post(client, "/sms/inbound", inbound_form("hello", From="+15550001111"))

    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, "+15550001111").last_active >= before


def bad_signature_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "bad Twilio signature" in r.getMessage()]


def refused_signatures(path: str) -> float:
    return REGISTRY.get_sample_value("sms_webhook_bad_signatures_total", {"path": path}) or 0.0


def test_a_flood_of_badly_signed_webhooks_is_counted_but_logged_once_a_minute(
    client, caplog, monkeypatch
):
    """Regression: every webhook with a wrong signature logged a WARNING of its own, so
    anyone could fill the logs (and bury the lines that matter) by posting junk to
    /sms/inbound. Each one is still counted; the log says so once a minute, with how many."""
    import sms_agent.ops.logs as logs

    now = [logs.time.monotonic() + 10**6]  # past any line an earlier test said
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    before = refused_signatures("/sms/inbound"), refused_signatures("/sms/status")
    wrong = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}

    for _ in range(30):
        assert client.post("/sms/inbound", data=inbound_form(), headers=wrong).status_code == 403
    assert client.post("/sms/status", data={}, headers=wrong).status_code == 403
    assert client.post("/sms/inbound", data=inbound_form()).status_code == 403  # unsigned
    assert len(bad_signature_lines(caplog)) == 1
    assert refused_signatures("/sms/inbound") == before[0] + 31
    assert refused_signatures("/sms/status") == before[1] + 1

    now[0] += 61
    client.post("/sms/inbound", data=inbound_form(), headers=wrong)
    first, second = bad_signature_lines(caplog)
    assert "and 30 more in the last 61s" in second


@pytest.mark.parametrize(
    ("sender", "written_to", "body"),
    [
        ("+15005550006", "+15005550006", "What is 2+2?"),  # TWILIO_PHONE_NUMBER
        ("(500) 555-0006", "+15551239999", "HELP"),  # ours, written otherwise, a keyword
        ("whatsapp:+15005550077", "whatsapp:+15005550077", "Thanks!"),  # our WhatsApp sender
        ("+15005550123", "+15005550123", "STOP"),  # another number of ours: From is To
    ],
)
def test_a_text_from_our_own_number_makes_no_texter_and_gets_nothing(
    app, client, caplog, sender, written_to, body
):
    """Regression: a text whose From was our own number (a misconfigured forward, a number
    of ours texting another or itself) gave that number a texter's row, which bulk notices,
    staff and the API could then text: a reply to ourselves that could come back as a text
    to answer, billed at every turn. It is never a texter: no row, no task, no model call,
    no SMS; Twilio gets its empty answer and the log says why."""
    app.config["TWILIO_WHATSAPP_NUMBER"] = "+15005550077"
    form = inbound_form(body, From=sender, To=written_to)
    with simulator.jobs_inline():
        response = signed_post(client, "/sms/inbound", form)
    assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_TWIML)
    db.session.rollback()

    assert tasks() == []
    assert db.session.scalars(sa.select(User)).all() == []
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert f"inbound {form['MessageSid']} from our own number" in caplog.text
