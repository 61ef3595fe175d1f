"""Staff see what texters sent with their texts: a thumbnail of each picture, served only
behind the login, and the transcript of each voice note."""

from __future__ import annotations

import pytest

from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, TaskMedia
from tests.factories import make_held_voice_note, make_task, make_user
from tests.standins import PNG

PHONE = "+15551230000"


@pytest.fixture
def picture(app):
    task = make_task(make_user(PHONE), sms_content="What plant is this?")
    media = TaskMedia(
        task=task, position=0, content_type="image/png", kind="image", size=len(PNG), data=PNG
    )
    voice = TaskMedia(
        task=task,
        position=1,
        content_type="audio/ogg",
        kind="audio",
        size=10,
        transcript="and is it poisonous to cats?",
    )
    db.session.add_all([media, voice])
    db.session.commit()
    return media


def conversation(client) -> str:
    response = client.get("/admin/user/conversation/?id=%2B15551230000")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_conversation_shows_a_thumbnail_and_a_transcript(staff_client, picture):
    page = conversation(staff_client)
    assert f'src="/admin/media/{picture.id}"' in page
    assert "and is it poisonous to cats?" in page


def test_staff_get_the_pictures_bytes_under_its_own_type(staff_client, picture):
    response = staff_client.get(f"/admin/media/{picture.id}")
    assert response.status_code == 200
    assert response.data == PNG and response.content_type == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_picture_is_kept_by_no_cache_so_it_is_gone_after_logout(staff_client, picture):
    """Regression: pictures came with "private, max-age=3600", so after staff logged out
    of a shared computer the browser still showed them from its cache for an hour, and
    kept them on disk, as it keeps no page staff saw."""
    response = staff_client.get(f"/admin/media/{picture.id}")
    assert response.headers["Cache-Control"] == "no-store"


def test_nobody_else_gets_the_picture(client, picture):
    response = client.get(f"/admin/media/{picture.id}")
    assert response.status_code == 302 and "/admin/auth/login" in response.location


@pytest.mark.parametrize("which", ["voice", "unknown", "garbage"])
def test_only_stored_pictures_are_served(staff_client, picture, which):
    ids = {
        "voice": str(picture.task.media[1].id),
        "unknown": "00000000-0000-0000-0000-000000000000",
        "garbage": "not-an-id",
    }
    assert staff_client.get(f"/admin/media/{ids[which]}").status_code == 404


def test_a_whatsapp_reply_says_so_instead_of_segments(staff_client, app):
    make_user(PHONE)
    db.session.add(
        OutboundMessage(to_number=PHONE, body="*hi*", channel="whatsapp", encoding="UTF-8")
    )
    db.session.commit()
    assert "WhatsApp" in conversation(staff_client)


def test_a_picture_opened_alone_may_load_nothing_else(staff_client, picture):
    policy = staff_client.get(f"/admin/media/{picture.id}").headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_a_picture_past_media_retention_days_keeps_what_it_was_but_not_its_bytes(
    app, staff_client, picture
):
    from datetime import timedelta

    from sms_agent import jobs
    from sms_agent.models import utcnow

    app.config["MEDIA_RETENTION_DAYS"] = 30
    recent = TaskMedia(
        task=picture.task, position=2, content_type="image/png", kind="image", data=PNG
    )
    db.session.add(recent)
    picture.created_at = utcnow() - timedelta(days=31)
    voice = db.session.query(TaskMedia).filter_by(kind="audio").one()
    voice.created_at = utcnow() - timedelta(days=31)
    db.session.commit()

    assert jobs.forget_old_pictures.apply().get() == 1
    assert jobs.forget_old_pictures.apply().get() == 0

    db.session.expire_all()
    assert (picture.data, picture.status, picture.size) == (None, "expired", len(PNG))
    assert recent.data == PNG and voice.transcript == "and is it poisonous to cats?"
    page = conversation(staff_client)
    assert f'src="/admin/media/{picture.id}"' not in page and "no longer kept" in page
    assert f'src="/admin/media/{recent.id}"' in page
    assert staff_client.get(f"/admin/media/{picture.id}").status_code == 404


def test_media_retention_days_of_zero_keeps_pictures(app, picture):
    from datetime import timedelta

    from sms_agent import jobs
    from sms_agent.models import utcnow

    app.config["MEDIA_RETENTION_DAYS"] = 0
    picture.created_at = utcnow() - timedelta(days=3650)
    db.session.commit()

    assert jobs.forget_old_pictures.apply().get() == 0
    db.session.expire_all()
    assert picture.data == PNG


def test_the_conversation_poll_carries_the_thumbnail_and_the_transcript(staff_client, picture):
    response = staff_client.get("/admin/user/conversation/messages/?id=%2B15551230000")
    assert response.status_code == 200
    [text] = response.get_json()["messages"]
    shown = {item["kind"]: item for item in text["media"]}
    assert shown["image"]["url"] == f"/admin/media/{picture.id}"
    assert (shown["audio"]["url"], shown["audio"]["transcript"]) == (
        None,
        "and is it poisonous to cats?",
    )


def test_a_voice_note_held_for_staff_is_shown_as_a_voice_note_and_why_it_was_not_read(
    staff_client,
):
    """It was shown as "A file we do not read (audio/ogg)": staff took the texter's voice
    note for a file the service cannot read, and never learnt a question was in it."""
    make_held_voice_note(make_task(make_user(PHONE), sms_content=""))
    page = conversation(staff_client)
    assert "A file we do not read" not in page
    assert "Voice note not read (audio/ogg): sent while staff held the conversation" in page


def test_a_voice_note_being_read_says_so(staff_client):
    """A worker fetching or transcribing it (or one that died doing so) left it "reading":
    the page said "Voice note not read (audio/ogg): None"."""
    task = make_task(make_user(PHONE), sms_content="")
    make_held_voice_note(task, status="reading", error_message=None)
    page = conversation(staff_client)
    assert "None" not in page.split("sms-media-label", 1)[1].split("</span>", 1)[0]
    assert "Voice note (audio/ogg) being read" in page


def test_a_text_part_is_shown_with_its_words(staff_client):
    """The words a phone sent as a text/plain part of an MMS are the texter's: staff read
    them under the message, as a voice note's transcript, not as a voice note."""
    task = make_task(make_user(PHONE), sms_content="")
    words = "What is the capital of Peru?"
    part = TaskMedia(task=task, position=0, content_type="text/plain", kind="text", size=28)
    part.transcript = words
    db.session.add(part)
    db.session.commit()
    page = conversation(staff_client)
    assert "Text part (text/plain, 28 bytes), words:" in page and words in page
    polled = staff_client.get("/admin/user/conversation/messages/?id=%2B15551230000")
    [text] = polled.get_json()["messages"]
    assert [(m["kind"], m["transcript"]) for m in text["media"]] == [("text", words)]
