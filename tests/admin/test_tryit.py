"""The Try it page: a staff member texts the service and watches the reply arrive."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.admin.tryit import FOLLOW_UP_GRACE, STALLED_AFTER
from sms_agent.extensions import db
from sms_agent.jobs import send_notice
from sms_agent.models import OutboundMessage, Task, User, utcnow
from sms_agent.simulator import jobs_inline
from tests.admin.conftest import csrf_for
from tests.factories import make_task, make_test_number, make_user
from tests.standins import OGG, PNG
from tests.test_webhook import queued_jobs

URL = "/admin/try-it/"


def send(client, from_number: str, message: str, **extra):
    form = {"csrf_token": csrf_for(client, URL), "from_number": from_number, "message": message}
    form.update(extra)
    return client.post(URL, data=form)


def test_a_message_goes_through_the_pipeline_and_the_reply_shows(admin_client):
    with jobs_inline():
        response = send(admin_client, "(415) 555-0123", "What is the capital of France?")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(URL + "?phone=" + quote("+14155550123", safe=""))
    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550123"))
    assert task.sms_content == "What is the capital of France?"
    assert task.message_sid.startswith("SM")  # stored like a real Twilio webhook
    query = sa.select(OutboundMessage).where(OutboundMessage.task_id == task.id)
    replies = db.session.scalars(query)
    reply = replies.first()
    assert reply is not None
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "What is the capital of France?" in page
    assert 'data-direction="outbound"' in page
    assert 'data-waiting="false"' in page


@pytest.mark.parametrize("text", ["STOP", "START", "What is a haiku?"])
def test_try_it_does_not_write_as_a_real_texter(admin_client, text):
    """A texter who texted the service themselves is a person: staff writing as them would
    opt them in or out (a START they never sent), spend their quota, continue their
    conversation and, with Twilio, text them an answer to a question they never asked."""
    texter = make_user("+14155550140", monthly_requests=3, opted_out_at=None)
    make_task(texter, sms_content="Their own question")
    make_user("+14155550141", opted_out_at=utcnow())  # opted out themselves

    for number in ("+14155550140", "+14155550141"):
        with jobs_inline():
            response = send(admin_client, number, text)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "a texter&#39;s number" in page and "+15555550100" in page
        assert f"{text}</textarea>" in page  # kept, to write as a test number instead

    db.session.expire_all()
    assert db.session.get(User, "+14155550140").opted_out_at is None
    assert db.session.get(User, "+14155550140").monthly_requests == 3
    assert db.session.get(User, "+14155550141").opted_out_at is not None
    assert [t.sms_content for t in db.session.scalars(sa.select(Task))] == ["Their own question"]
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def test_a_number_try_it_texted_first_stays_staffs_to_try(admin_client):
    """A test number (or a staff member's own phone) that first texted from Try it may be
    tried again, opted out and back in included."""
    for text in ("What is a haiku?", "STOP", "START", "And a limerick?"):
        with jobs_inline():
            assert send(admin_client, "+15555550100", text).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, "+15555550100").opted_out_at is None
    tasks = db.session.scalars(sa.select(Task).order_by(Task.created_at))
    assert [task.sms_content for task in tasks] == ["What is a haiku?", "And a limerick?"]


def test_without_a_worker_the_thread_waits_and_polls(admin_client):
    response = send(admin_client, "+14155550124", "Explain recursion")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Explain recursion" in page and 'data-waiting="true"' in page
    assert "Waiting for the reply" in page and "setTimeout(poll" in page
    fragment = admin_client.get(URL + "thread/?phone=%2B14155550124").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div class="sms-thread"')
    assert "<html" not in fragment


def test_keywords_leave_no_task_but_the_page_waits_for_their_reply(admin_client):
    response = send(admin_client, "+14155550125", "HELP")
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-waiting="true"' in page  # the worker has not sent the HELP text yet
    with jobs_inline():
        response = send(admin_client, "+14155550125", "HELP")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-direction="outbound"' in page and 'data-waiting="false"' in page
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_a_bad_number_is_explained_not_sent(admin_client):
    response = send(admin_client, "not a phone", "hello")
    assert response.status_code == 400
    assert "Not sent:" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_an_empty_message_is_refused(admin_client):
    response = send(admin_client, "+14155550126", "")
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_a_message_as_long_as_the_box_allows_is_sent_line_breaks_and_all(admin_client):
    """The box stops at 1,600 characters, a line break counting one; the browser sends each
    as two (CR LF), which made a full box "longer than 1600 characters"."""
    typed = ("y" * 79 + "\n") * 20
    response = send(admin_client, "+14155550127", typed.replace("\n", "\r\n"))
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Task.sms_content)) == typed


@pytest.mark.parametrize(
    ("channel", "length", "status"),
    [("sms", 1600, 302), ("sms", 1601, 400), ("whatsapp", 4096, 302), ("whatsapp", 4097, 400)],
)
def test_a_message_may_be_as_long_as_its_channel_allows(admin_client, channel, length, status):
    """Regression: WhatsApp takes 4,096 characters (the webhook stores them), but the box
    refused anything over SMS's 1,600 on either channel."""
    response = send(admin_client, "+14155550128", "y" * length, channel=channel)
    assert response.status_code == status
    stored = db.session.scalar(sa.select(sa.func.count(Task.id)))
    assert stored == (1 if status == 302 else 0)
    if status == 400:
        assert f"longer than {length - 1} characters" in response.get_data(as_text=True)


def test_sending_needs_a_csrf_token(admin_client):
    data = {"from_number": "+14155550127", "message": "hi"}
    assert admin_client.post(URL, data=data).status_code == 400


def test_read_only_staff_cannot_use_try_it(staff_client):
    assert staff_client.get(URL).status_code == 403
    assert "Try it" not in staff_client.get("/admin/").get_data(as_text=True)


def test_a_tampered_sent_time_does_not_break_the_page(admin_client):
    make_user("+14155550128")
    db.session.add(OutboundMessage(to_number="+14155550128", body="Hello"))
    db.session.commit()
    for sent in ["2026-01-01", "2026-01-01T00:00:00+05:00", "yesterday", ""]:
        url = URL + "thread/?phone=%2B14155550128&sent=" + sent
        assert admin_client.get(url).status_code == 200


def test_a_text_refused_for_the_quota_is_labelled_not_left_waiting(admin_client):
    make_test_number("+14155550123", monthly_requests=100)
    with jobs_inline():
        send(admin_client, "+14155550123", "one more question")
        response = send(admin_client, "+14155550123", "and another")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert page.count("refused: over quota") == 2
    assert "used your 100 requests" in page  # the one quota notice of the window
    assert "Waiting for the reply" not in page


def test_after_a_refused_text_the_page_keeps_looking_for_its_notice(admin_client, app):
    """The worker sends the quota notice after the refusal is committed: the page shows the
    refusal at once and polls on, so the notice shows up without a reload."""
    make_test_number("+14155550132", monthly_requests=100)
    queued_jobs(app)
    response = send(admin_client, "+14155550132", "one more question")
    fragment_url = response.headers["Location"].replace("?", "thread/?", 1)
    fragment = admin_client.get(fragment_url).get_data(as_text=True)
    assert "refused: over quota" in fragment and "Waiting for the reply" not in fragment
    assert 'data-waiting="true"' in fragment

    [(name, args)] = queued_jobs(app)
    assert name.endswith("send_notice")
    send_notice(*args)
    fragment = admin_client.get(fragment_url).get_data(as_text=True)
    assert "used your 100 requests" in fragment and 'data-waiting="false"' in fragment


def test_a_refusal_long_past_is_not_polled_for(admin_client):
    user = make_user("+14155550133")
    make_task(
        user,
        status="refused",
        refusal_reason="over_quota",
        created_at=utcnow() - FOLLOW_UP_GRACE - timedelta(seconds=1),
    )
    page = admin_client.get(URL + "thread/?phone=%2B14155550133").get_data(as_text=True)
    assert "refused: over quota" in page and 'data-waiting="false"' in page


def test_a_text_that_failed_unsent_shows_why_instead_of_waiting(admin_client):
    with jobs_inline():  # a number outside ALLOWED_COUNTRIES: nothing may be sent to it
        response = send(admin_client, "+447700900123", "What is the capital of France?")
    url = response.headers["Location"]
    for page in (admin_client.get(url), admin_client.get(url.replace("?", "thread/?", 1))):
        page = page.get_data(as_text=True)
        assert "Waiting for the reply" not in page
        assert 'sms-status-failed">failed<' in page and "SMS to GB is not allowed" in page
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 0


@pytest.mark.parametrize(
    ("texter", "reason"),
    [
        ({"opted_out_at": utcnow()}, "this number has opted out"),
        ({"is_active": False}, "this texter is inactive"),
    ],
)
def test_a_text_nobody_answers_says_so_instead_of_waiting(admin_client, texter, reason):
    make_test_number("+14155550129", **texter)
    response = send(admin_client, "+14155550129", "Are you there?")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Not answered: {reason}" in page
    assert "Waiting for the reply" not in page and 'data-waiting="false"' in page


def test_a_stop_from_an_inactive_texter_shows_its_confirmation_not_nothing(admin_client):
    """The opt-out confirmation is the one SMS an inactive texter gets: the page waits for
    it instead of saying nothing will be sent."""
    make_test_number("+14155550131", is_active=False)
    with jobs_inline():
        response = send(admin_client, "+14155550131", "STOP")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Not answered" not in page
    assert "unsubscribed from SMS-to-AI Agent" in page


def test_a_failure_shows_at_once_and_the_page_still_looks_for_its_apology(admin_client):
    user = make_user("+14155550130")
    make_task(user, status="failed", error_message="the model is down", completed_at=utcnow())
    page = admin_client.get(URL + "thread/?phone=%2B14155550130").get_data(as_text=True)
    assert "the model is down" in page and "Waiting for the reply" not in page
    assert 'data-waiting="true"' in page  # an apology is sent after the failure is committed


def test_a_picture_can_be_attached_and_is_read_by_the_worker(admin_client, media_store):
    picture = (io.BytesIO(PNG), "plant.png")
    with jobs_inline():
        response = send(admin_client, "+14155550130", "What plant?", attachment=picture)
    assert response.status_code == 302
    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550130"))
    [media] = task.media
    assert (media.content_type, media.size, media.status) == ("image/png", len(PNG), "read")
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'src="/admin/media/{media.id}"' in page


@pytest.mark.parametrize("name", ["recording.webm", "note.wav", "memo.3gp"])
def test_a_voice_note_as_a_browser_or_a_phone_records_it_is_transcribed(
    admin_client, media_store, name
):
    """Regression: a .webm file (what a browser records a voice note in, WebM/Opus) was
    refused as "not a picture or a voice note", and a .wav or .3gp one too, though the
    service transcribes each; Python takes .webm for video/webm, a file it does not read."""
    note = (io.BytesIO(OGG), name)
    with jobs_inline():
        response = send(admin_client, "+14155550136", "", attachment=note)
    assert response.status_code == 302
    [media] = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550136")).media
    assert (media.kind, media.status) == ("audio", "read")
    assert media.transcript.startswith("[Offline transcript]")


def test_a_picture_alone_is_enough(admin_client, media_store):
    with jobs_inline():
        response = send(admin_client, "+14155550131", "", attachment=(io.BytesIO(PNG), "a.png"))
    assert response.status_code == 302


def test_neither_words_nor_a_picture_is_a_field_error(admin_client):
    response = send(admin_client, "+14155550132", "  ")
    assert response.status_code == 400
    assert "Write a message or attach a picture" in response.get_data(as_text=True)


def test_other_files_are_a_field_error(admin_client, media_store):
    response = send(admin_client, "+14155550133", "hi", attachment=(io.BytesIO(b"x"), "a.pdf"))
    assert response.status_code == 400
    assert "A picture (JPEG, PNG, GIF, WebP) or a voice note (Ogg, WebM" in response.get_data(
        as_text=True
    )


def test_a_picture_larger_than_a_request_may_be_is_uploaded(admin_client, media_store):
    big = PNG + b"\x00" * 100_000  # over MAX_CONTENT_LENGTH (64 KB), under MEDIA_MAX_BYTES
    response = send(admin_client, "+14155550134", "hi", attachment=(io.BytesIO(big), "a.png"))
    assert response.status_code == 302


def test_only_a_signed_in_caller_may_send_a_body_as_large_as_a_picture(client, media_store):
    """Regression: the Try-it page took bodies up to MEDIA_MAX_BYTES (5 MB) from anyone,
    read in full (the CSRF check parses the form) before the login was asked for: 80 times
    what any other page lets a stranger make the server read."""
    big = PNG + b"\x00" * 100_000  # over MAX_CONTENT_LENGTH (64 KB), under MEDIA_MAX_BYTES
    data = {"phone": "+14155550134", "message": "hi", "attachment": (io.BytesIO(big), "a.png")}
    response = client.post(URL, data=data, content_type="multipart/form-data")
    assert response.status_code == 413


def test_a_whatsapp_message_can_be_tried(admin_client):
    with jobs_inline():
        send(admin_client, "+14155550135", "hello", channel="whatsapp")
    sent = db.session.scalars(sa.select(OutboundMessage)).all()
    assert [(m.kind, m.channel) for m in sent] == [("program", "whatsapp"), ("reply", "whatsapp")]


def test_a_picture_over_media_max_bytes_is_one_field_error_however_often_it_is_tried(
    app, admin_client, media_store
):
    app.config["MEDIA_MAX_BYTES"] = len(PNG) + 10
    big = PNG + b"\x00" * 100
    for _ in range(3):
        response = send(admin_client, "+14155550136", "hi", attachment=(io.BytesIO(big), "a.png"))
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert page.count(f"Larger than MEDIA_MAX_BYTES ({len(PNG) + 10} bytes).") == 1


def test_a_message_holding_a_nul_is_a_form_error_not_a_bare_400(admin_client):
    response = send(admin_client, "+15555550100", "What\x00 now?")
    page = response.get_data(as_text=True)
    assert "NUL character" in page and "What now?</textarea>" in page
    assert db.session.scalars(sa.select(Task)).all() == []


def test_one_submission_of_try_it_texts_the_service_once_however_often_posted(admin_client):
    """Regression: a double click on Send (or a resent form) texted the service twice: two
    tasks, two model calls and two replies, paid for. One submission is one SMS now, as
    Twilio's retries of one message are (the same MessageSid)."""
    import re

    page = admin_client.get(URL).get_data(as_text=True)
    submission = re.search(r'name="submission"[^>]*value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": csrf_for(admin_client, URL),
        "submission": submission,
        "from_number": "+15555550100",
        "message": "What is a haiku?",
    }
    assert admin_client.post(URL, data=form).status_code == 302
    assert admin_client.post(URL, data=form).status_code == 302
    assert [task.sms_content for task in db.session.scalars(sa.select(Task))] == [
        "What is a haiku?"
    ]


def test_a_number_written_as_twilio_writes_a_whatsapp_sender_texts_on_whatsapp(admin_client):
    """Regression: "whatsapp:+1..." pasted from Twilio's logs, with SMS left picked, was
    texted and answered by SMS (`flask sms simulate --from` reads the prefix as the
    channel); another channel's prefix made an SMS texter of the digits after it."""
    with jobs_inline():
        response = send(admin_client, "whatsapp:+14155550137", "x" * 2000)
    assert response.status_code == 302
    assert db.session.get(User, "+14155550137").channel == "whatsapp"
    assert [m.channel for m in db.session.scalars(sa.select(OutboundMessage))] == [
        "whatsapp",
        "whatsapp",
    ]
    response = send(admin_client, "messenger:+14155550138", "hi")
    assert response.status_code == 400
    assert "not a channel we serve" in response.get_data(as_text=True)
    assert db.session.get(User, "+14155550138") is None


def test_with_twilio_try_it_does_not_text_a_stranger_who_never_texted_in(admin_client, app):
    """With Twilio configured the answer is a real SMS: a number nobody texted from may be
    a stranger's phone, texted an answer to a question they never asked. Try it writes as a
    number that reaches nobody, or one listed in TEST_PHONE_NUMBERS (a staff member's own)."""
    app.config["SMS_BACKEND"] = "twilio"
    assert "TEST_PHONE_NUMBERS" in admin_client.get(URL).get_data(as_text=True)
    response = send(admin_client, "+1 415 867 5309", "What is a haiku?")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "a real SMS" in page and "TEST_PHONE_NUMBERS" in page and "+15555550100" in page
    assert "What is a haiku?</textarea>" in page
    assert db.session.get(User, "+14158675309") is None
    assert db.session.scalars(sa.select(Task)).all() == []

    app.config["TEST_PHONE_NUMBERS"] = ("+14158675309",)
    assert send(admin_client, "+1 415 867 5309", "What is a haiku?").status_code == 302
    for fictional in ("+15555550100", "(415) 555-0123"):
        assert send(admin_client, fictional, "And a limerick?").status_code == 302
    assert len(db.session.scalars(sa.select(Task)).all()) == 3


def test_with_twilio_a_test_number_made_earlier_still_texts_no_stranger(admin_client, app):
    """A number Try it made a texter of while replies went to the console reaches a person
    once Twilio is configured."""
    make_test_number("+14158675309")
    app.config["SMS_BACKEND"] = "twilio"
    assert send(admin_client, "+14158675309", "What is a haiku?").status_code == 400
    assert db.session.scalars(sa.select(Task)).all() == []


@pytest.mark.parametrize("setting", ["TWILIO_PHONE_NUMBER", "TWILIO_WHATSAPP_NUMBER"])
def test_try_it_does_not_write_as_the_services_own_number(admin_client, app, setting):
    """Regression: staff who typed the service's own number in "From number" (the number
    they meant to text) had the service text itself: a texter was made of our own number,
    counted among the users, and its answer went from our number to our number."""
    app.config["TWILIO_WHATSAPP_NUMBER"] = "+15555550199"
    own = app.config[setting]
    response = send(admin_client, own, "What is a haiku?")
    assert response.status_code == 400
    assert "own number, the one texted" in response.get_data(as_text=True)
    assert db.session.get(User, own) is None
    assert db.session.scalars(sa.select(Task)).all() == []


def test_a_text_nobody_takes_for_minutes_says_why_instead_of_waiting_on(admin_client):
    """Regression: with no worker running, the page said "Waiting for the reply…", polled
    for two minutes, then stopped and went on saying it, for ever. A text no worker has
    taken after STALLED_AFTER now says so, as `flask sms simulate` does, and the page
    stops looking (refresh looks again)."""
    send(admin_client, "+14155550124", "Explain recursion")
    task = db.session.scalar(sa.select(Task).where(Task.user_phone == "+14155550124"))
    fresh = admin_client.get(URL + "thread/?phone=%2B14155550124").get_data(as_text=True)
    assert 'data-waiting="true"' in fresh and "Waiting for the reply" in fresh
    task.created_at = utcnow() - STALLED_AFTER - timedelta(seconds=1)
    db.session.commit()
    stalled = admin_client.get(URL + "thread/?phone=%2B14155550124").get_data(as_text=True)
    assert 'data-waiting="false"' in stalled and "Waiting for the reply" not in stalled
    assert "No reply yet: is a worker running? None has taken it yet" in stalled
    task.status = "processing"
    db.session.commit()
    busy = admin_client.get(URL + "?phone=%2B14155550124").get_data(as_text=True)
    assert "No reply yet: a worker is still answering it (a slow model?)" in busy


def test_a_number_written_any_way_in_the_address_shows_its_thread_and_garbage_none(admin_client):
    """Regression: Try it's address took its ?phone= as written: "+1 415 555 0123" (as staff
    write a number) showed "No messages yet" beside that texter's thread, and 400 digits
    pasted there made a heading five window-widths wide, with an "open in Users" link to
    nobody. A number is read as the Users search reads it; what is none shows no thread."""
    make_task(make_test_number("+14155550123"), sms_content="Where is my parcel?")
    page = admin_client.get(URL + "?phone=" + quote("+1 415 555 0123")).get_data(as_text=True)
    assert "Thread with +14155550123" in page and "Where is my parcel?" in page
    thread = admin_client.get(URL + "thread/?phone=" + quote("(415) 555-0123"))
    assert "Where is my parcel?" in thread.get_data(as_text=True)

    garbage = admin_client.get(URL + "?phone=" + "9" * 400)
    assert garbage.status_code == 200
    assert "Thread with" not in garbage.get_data(as_text=True)
