"""Local texting: simulate_inbound through the real view, and `flask sms simulate`."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from sms_agent import simulator
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, User, utcnow
from tests.factories import make_task, make_test_number, make_user
from tests.standins import OGG, PNG


def test_simulated_sms_goes_through_the_signed_webhook_and_stores_a_task(app):
    task = simulator.simulate_inbound("+1 555 123 0000", "What is DNS?")
    assert task.sms_content == "What is DNS?"
    assert task.user_phone == "+15551230000"
    assert task.message_sid.startswith("SM") and task.status == "queued"


def test_keywords_store_no_task(app):
    assert simulator.simulate_inbound("+15551230000", "STOP") is None
    assert db.session.get(User, "+15551230000").is_opted_out


def test_a_wrong_signing_key_is_refused_like_a_forged_request(app):
    form = simulator.inbound_form("+15551230000", "hi")
    app.config["TWILIO_AUTH_TOKEN"] = "another-token"
    signature = simulator.signature_for("/sms/inbound", form)
    app.config["TWILIO_AUTH_TOKEN"] = "test-auth-token"
    response = app.test_client().post(
        "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_simulation_signs_for_the_public_url_when_one_is_set(app):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.com"
    assert simulator.simulate_inbound("+15551230000", "hello") is not None


def test_a_rejected_simulation_says_why(app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    with pytest.raises(simulator.SimulationRejected, match="413"):
        simulator.simulate_inbound("+15551230000", "x" * 1500)


def test_inline_jobs_answer_in_this_process(app):
    with simulator.jobs_inline():
        task = simulator.simulate_inbound("+15551230000", "hello")
    since = task.created_at
    program, reply = simulator.wait_for_reply("+15551230000", since, task, timeout=5)
    assert program.kind == "program" and "Reply HELP for help, STOP to opt out" in program.body
    assert reply.kind == "reply" and reply.body.startswith("[Offline mode]")


def test_cli_simulate_inline_prints_the_reply(runner):
    result = runner.invoke(args=["sms", "simulate", "--from", "+15551230000", "--inline", "hi"])
    assert result.exit_code == 0, result.output
    assert "--- SMS to +15551230000 (reply, GSM-7, 1 segment, sent) ---" in result.output
    assert "[Offline mode]" in result.output
    assert result.output.count("[Offline mode]") == 1  # the console backend stayed quiet


def test_cli_simulate_reads_a_local_number_in_the_services_region(app, runner):
    """Regression: --from was read as a US number whatever DEFAULT_PHONE_REGION, so a
    British service's "07700 900123", which Try it and the webhook take, was refused."""
    app.config["DEFAULT_PHONE_REGION"] = "GB"
    args = ["sms", "simulate", "--from", "07700 900123", "--inline", "hi"]
    result = runner.invoke(args=args)
    assert "--from" not in result.output
    assert db.session.get(User, "+447700900123") is not None


def test_cli_interactive_mode_reads_lines_until_quit(runner):
    result = runner.invoke(
        args=["sms", "simulate", "--from", "+15551230000", "--inline"],
        input="HELP\nwhat is 2+2?\nquit\nnever sent\n",
    )
    assert result.exit_code == 0, result.output
    assert "(help, GSM-7" in result.output
    assert "(reply, GSM-7" in result.output
    assert "never sent" not in result.output


def test_cli_says_how_to_get_a_reply_when_no_worker_answers(runner):
    """Regression: a text that got no SMS back exited 0, as if answered, so a script or a
    deploy's smoke test (`flask sms simulate ... && echo ok`) passed with no worker running.
    Whatever kept the reply back, the command now says why and exits 1."""
    result = runner.invoke(
        args=["sms", "simulate", "--from", "+15551230000", "--timeout", "0.3", "hi"]
    )
    assert result.exit_code == 1, result.output
    assert "is a worker running?" in result.output and "--inline" in result.output


@pytest.mark.parametrize("timeout", ["nan", "inf", "1e999", "1_0", "\uff12", "-1"])
def test_cli_refuses_a_timeout_that_is_no_number_of_seconds(runner, timeout):
    """Regression: --timeout nan was taken, waited no time and said "no reply within nans"
    with exit code 1, as if no worker ran; --timeout inf waited for ever. "1_0" waited 10
    seconds and a fullwidth "２" 2, where the admin's number boxes refuse both
    (numbers.read_number)."""
    args = ["sms", "simulate", "--from", "+15551230000", "--timeout", timeout, "hi"]
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--timeout'" in result.output
    assert "worker" not in result.output


def test_cli_says_a_timeout_too_large_for_a_float_is_too_large(runner):
    """Regression: --timeout 1e400 was refused with "NaN and Infinity are not valid JSON
    numbers.", words about what nobody typed; it now says the number is too large."""
    args = ["sms", "simulate", "--from", "+15551230000", "--timeout", "1e400", "hi"]
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Too large for a float" in result.output
    assert "JSON" not in result.output


@pytest.mark.parametrize("text", ["hi", "HELP"])
def test_cli_blames_a_broker_that_is_down_not_the_worker(app, text):
    """Regression: with the broker down, the operator was asked "is a worker running?" and
    told to start one, though no worker could have taken the job: the text (or its notice)
    waits in the database for the sweeper until the broker is back."""
    from config import TestingConfig
    from sms_agent import create_app

    down = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    with down.app_context():
        args = ["sms", "simulate", "--from", "+15551230000", "--timeout", "0.3", text]
        result = down.test_cli_runner().invoke(args=args)
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].set_current()
    assert result.exit_code == 1, result.output
    assert "is a worker running?" not in result.output
    assert "broker (CELERY_BROKER_URL) is unreachable" in result.output
    assert "the sweeper queues it once the broker is back" in result.output


def test_cli_says_a_worker_is_still_answering_a_text_it_took(app, runner):
    """A worker that took the text and waits for a slow model is not asked to be started."""
    import threading

    from sms_agent.models import TaskStatus

    def worker_takes_it() -> None:
        with app.app_context():
            for _ in range(100):
                taken = db.session.execute(
                    sa.update(Task)
                    .where(Task.user_phone == "+15551230000")
                    .values(status=TaskStatus.PROCESSING.value)
                ).rowcount
                db.session.commit()
                if taken:
                    return
                threading.Event().wait(0.05)

    taker = threading.Thread(target=worker_takes_it)
    taker.start()
    args = ["sms", "simulate", "--from", "+15551230000", "--timeout", "1", "hi"]
    result = runner.invoke(args=args)
    taker.join()
    assert result.exit_code == 1, result.output
    assert "a worker is still answering it" in result.output
    assert "is a worker running?" not in result.output


@pytest.mark.parametrize("inline", [False, True])
def test_cli_says_why_a_text_the_worker_failed_got_no_reply(app, runner, inline):
    """Regression: a texter outside ALLOWED_COUNTRIES got nothing, and the CLI asked "is a
    worker running?" though the worker had answered at once (Try it shows the reason)."""
    if not inline:
        app.extensions["celery"].conf.task_always_eager = True  # a worker took it at once
    args = ["sms", "simulate", "--from", "+4915112345678", "--timeout", "30", "hi"]
    result = runner.invoke(args=args + (["--inline"] if inline else []))
    assert result.exit_code == 1, result.output
    assert result.output == "(not answered: the task failed: SMS to DE is not allowed)\n"


@pytest.mark.parametrize("text", ["HELP", "USAGE"])
def test_cli_says_how_to_get_a_keywords_notice_when_no_worker_sends_it(runner, text):
    """It said the message "was not a question for the AI", as if nothing would come."""
    result = runner.invoke(
        args=["sms", "simulate", "--from", "+15551230000", "--timeout", "0.3", text]
    )
    assert result.exit_code == 1, result.output
    assert "is a worker running?" in result.output and "--inline" in result.output


def test_cli_stop_reports_the_opt_out(runner):
    result = runner.invoke(args=["sms", "simulate", "--from", "+15551230000", "--inline", "STOP"])
    assert "opted out" in result.output


def test_cli_stop_shows_its_confirmation_the_one_sms_an_opted_out_number_gets(runner):
    result = runner.invoke(args=["sms", "simulate", "--from", "+15551230000", "--inline", "STOP"])
    assert result.exit_code == 0, result.output
    assert "(opt_out, GSM-7, 1 segment, sent)" in result.output
    assert result.output.rstrip().endswith("nothing is sent to it until it texts START)")


def test_cli_stop_confirmed_by_twilio_itself_waits_for_nothing(app, runner):
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    args = ["sms", "simulate", "--from", "+15551230000", "--timeout", "30", "STOP"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert result.output == (
        "(not answered: this number has opted out; nothing is sent to it until it texts START)\n"
    )


def test_cli_shows_our_confirmation_of_an_opt_out_twilio_does_not_know(app, runner):
    app.config["TWILIO_ADVANCED_OPT_OUT"] = True
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "please stop texting me"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "(opt_out, GSM-7, 1 segment, sent)" in result.output


@pytest.mark.parametrize(
    ("texter", "reason"),
    [
        ({"opted_out_at": utcnow()}, "this number has opted out"),
        ({"is_active": False}, "this texter is inactive"),
    ],
)
def test_cli_says_at_once_that_nobody_answers_a_texter_try_it_would_not(runner, texter, reason):
    """The CLI and Try it ask one rule, simulator.gets_nothing_back, whether anything comes
    back; with no worker running, neither waits for a reply that will not come."""
    make_test_number("+15551230000", **texter)
    args = ["sms", "simulate", "--from", "+15551230000", "--timeout", "30", "Are you there?"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"(not answered: {reason}")
    assert "worker" not in result.output


def test_cli_rejects_a_bad_number(runner):
    result = runner.invoke(args=["sms", "simulate", "--from", "12", "hi"])
    assert result.exit_code == 2
    assert "--from" in result.output


def test_cli_over_quota_shows_the_quota_notice(app, runner):
    make_test_number("+15551230000", monthly_requests=100)
    result = runner.invoke(args=["sms", "simulate", "--from", "+15551230000", "--inline", "hi"])
    assert "(quota, GSM-7" in result.output
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 1


def test_cli_keeps_the_services_info_lines_out_of_the_conversation(runner, caplog):
    caplog.set_level(logging.INFO, logger="sms_agent")
    result = runner.invoke(args=["sms", "simulate", "--from", "+15551230000", "--inline", "hi"])
    assert result.exit_code == 0, result.output
    assert not [r for r in caplog.records if r.name.startswith("sms_agent")]
    assert logging.getLogger("sms_agent").level == logging.INFO  # restored afterwards


def test_cli_verbose_shows_the_services_info_lines(runner, caplog):
    caplog.set_level(logging.INFO, logger="sms_agent")
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "--verbose", "hi"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "inbound" in [r.name.rsplit(".", 1)[-1] for r in caplog.records]


def test_cli_labels_a_text_refused_for_the_quota(runner):
    make_test_number("+15551230000", monthly_requests=100)
    result = runner.invoke(
        args=["sms", "simulate", "--from", "+15551230000", "--inline", "one more?"]
    )
    assert result.exit_code == 0, result.output
    assert "(refused: over quota: not answered and not counted)" in result.output
    assert "(quota, GSM-7, 1 segment, sent)" in result.output
    assert "no reply" not in result.output and "waiting" not in result.output


def test_a_refused_text_is_finished_for_the_simulator(app):
    make_test_number("+15551230000", monthly_requests=100)
    task = simulator.simulate_inbound("+15551230000", "one more?")
    assert (task.status, task.status_label) == ("refused", "refused: over quota")
    assert simulator.wait_for_reply("+15551230000", task.created_at, task, timeout=5) == []


def test_cli_simulate_sends_a_picture_the_worker_reads_from_the_local_store(
    app, runner, media_store, tmp_path
):
    picture = tmp_path / "plant.png"
    picture.write_bytes(PNG)
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "--media", str(picture)]
    result = runner.invoke(args=[*args, "What plant is this?"])
    assert result.exit_code == 0, result.output
    assert "[Offline mode]" in result.output
    task = db.session.scalar(sa.select(Task))
    [media] = task.media
    assert (media.content_type, media.size, media.status) == ("image/png", len(PNG), "read")


def test_cli_shows_the_notice_sent_beside_an_answer(app, runner, media_store, tmp_path):
    """Regression: a photo captioned "Yes" from a texter who had opted out showed only the
    answer: the opt-in confirmation the texter got beside it was left out, as was the note
    on a file we do not read."""
    make_test_number("+15551230000", opted_out_at=utcnow())
    picture = tmp_path / "plant.png"
    picture.write_bytes(PNG)
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "--media", str(picture)]
    result = runner.invoke(args=[*args, "Yes"])
    assert result.exit_code == 0, result.output
    assert "(reply, " in result.output and "(opt_in, " in result.output


def test_a_picture_is_read_in_the_embedded_default_with_no_twilio_account(
    app, runner, media_store, tmp_path
):
    app.config["TWILIO_ACCOUNT_SID"] = None  # make run needs no accounts
    picture = tmp_path / "plant.png"
    picture.write_bytes(PNG)
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "--media", str(picture)]
    result = runner.invoke(args=[*args, "What plant is this?"])
    assert result.exit_code == 0, result.output
    assert "[Offline mode]" in result.output and "media_failed" not in result.output
    [media] = db.session.scalar(sa.select(Task)).media
    assert (media.status, media.size) == ("read", len(PNG))


@pytest.mark.parametrize("name", ["note.ogg", "recording.webm"])
def test_cli_simulate_a_voice_note_alone(app, runner, media_store, tmp_path, name):
    """Regression (.webm): taken for video/webm by its name, it was refused as a file."""
    note = tmp_path / name
    note.write_bytes(OGG)
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "--media", str(note)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "[Offline transcript]" in result.output


@pytest.mark.parametrize("typed", ["whatsapp", "WhatsApp"])
def test_cli_simulate_on_whatsapp_is_answered_on_whatsapp(app, runner, typed):
    """--channel in any letter case ("WhatsApp", as the product writes it) was refused."""
    args = ["sms", "simulate", "--from", "+15551230000", "--inline", "--channel", typed]
    result = runner.invoke(args=[*args, "hi"])
    assert result.exit_code == 0, result.output
    assert "--- WhatsApp to +15551230000 (reply, sent) ---" in result.output
    assert db.session.get(User, "+15551230000").channel == "whatsapp"


def test_cli_simulate_from_a_whatsapp_address_texts_on_whatsapp(app, runner):
    """Regression: --from whatsapp:+1... was read as the bare number and texted by SMS."""
    args = ["sms", "simulate", "--from", "whatsapp:+15551230000", "--inline", "hi"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "--- WhatsApp to +15551230000 (reply, sent) ---" in result.output
    assert db.session.get(User, "+15551230000").channel == "whatsapp"


def test_cli_refuses_a_channel_we_do_not_serve(runner):
    result = runner.invoke(args=["sms", "simulate", "--from", "messenger:+15551230000", "hi"])
    assert result.exit_code == 2
    assert "--from" in result.output and "not a channel we serve" in result.output


def test_media_cannot_be_simulated_through_twilio(app, media_store):
    app.config["SMS_BACKEND"] = "twilio"
    with pytest.raises(simulator.SimulationRejected, match="SMS_BACKEND=console"):
        simulator.simulate_inbound("+15551230000", "hi", media=[(PNG, "image/png")])


@pytest.mark.parametrize("text", ["STOP", "START", "What is a haiku?"])
def test_cli_does_not_write_as_a_real_texter(runner, text):
    """Regression: `flask sms simulate --from` wrote as anyone, as Try it does not: a STOP
    opted a real texter out, a question spent their quota and, with Twilio, texted them an
    answer they never asked for."""
    texter = make_user("+14155550140", monthly_requests=3, opted_out_at=None)
    make_task(texter, sms_content="Their own question")
    result = runner.invoke(args=["sms", "simulate", "--from", "+14155550140", "--inline", text])
    assert result.exit_code == 2, result.output
    assert "This is a texter's number" in result.output and "+15555550100" in result.output
    db.session.expire_all()
    assert (texter.opted_out_at, texter.monthly_requests) == (None, 3)
    assert [t.sms_content for t in db.session.scalars(sa.select(Task))] == ["Their own question"]
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def test_cli_writes_as_test_numbers_only_the_rule_try_it_follows(app, runner):
    """A number nobody texted from becomes a test number, tried again at will; with Twilio,
    a number that may be a stranger's is refused as on Try it."""
    for text in ("STOP", "START", "hi"):
        args = ["sms", "simulate", "--from", "+15555550100", "--inline", text]
        assert runner.invoke(args=args).exit_code == 0
    app.config["SMS_BACKEND"] = "twilio"
    result = runner.invoke(args=["sms", "simulate", "--from", "+14158675309", "hi"])
    assert result.exit_code == 2, result.output
    assert "TEST_PHONE_NUMBERS" in result.output
    assert db.session.get(User, "+14158675309") is None


def test_a_seeded_texter_is_simulated_end_to_end_with_twilio_configured(app, runner, twilio_server):
    """Regression: `flask demo seed` made texters as if they had texted the service, so
    `flask sms simulate --from` one of them was refused ("This is a texter's number") and
    the demo stopped there; and their +1 555 numbers are no number Twilio texts. They are
    now test numbers that ring no phone (555-0100 to 555-0199 of US area codes), and the
    answer goes out through Twilio to the number simulated."""
    assert runner.invoke(args=["demo", "seed", "--users", "3", "--tasks", "20"]).exit_code == 0
    texter = db.session.scalars(sa.select(User.phone_number).order_by(User.phone_number)).first()
    result = runner.invoke(args=["sms", "simulate", "--from", texter, "--inline", "What is DNS?"])
    assert result.exit_code == 0, result.output
    assert f"--- SMS to {texter} (reply, GSM-7, 1 segment, queued) ---" in result.output
    assert {body["To"] for _method, _path, body in twilio_server.requests} == {texter}


def test_cli_does_not_write_as_the_services_own_number(app, runner):
    """As Try it: the service would text itself, a texter made of its own number."""
    own = app.config["TWILIO_PHONE_NUMBER"]
    result = runner.invoke(args=["sms", "simulate", "--from", own, "--inline", "hi"])
    assert result.exit_code == 2, result.output
    assert "This is the service's own number" in result.output
    assert db.session.get(User, own) is None
