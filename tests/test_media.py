"""Pictures and voice notes, through the signed webhook and the worker, against the Twilio
and OpenAI stand-ins: read, recorded, answered; fetched from Twilio's host only."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
from decimal import Decimal

import av
import pytest
import sqlalchemy as sa

from sms_agent import handoff, simulator
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, ModelCall, OutboundMessage, Task, TaskMedia
from tests.factories import make_user
from tests.standins import (
    OGG,
    PNG,
    Raw,
    SilentServer,
    StandIn,
    TricklingServer,
    chat_completion,
    inbound_form,
    media_path,
    openai_error,
    recording,
    signed_post,
    twilio_standin,
)

PHONE = "+15551230000"
#: A second of AMR-WB (50 frames of its 6.6 kbit/s mode) as a handset stores it; PyAV has
#: no AMR-WB encoder to make one.
AMR_WB = b"#!AMR-WB\n" + (b"\x04" + bytes(17)) * 50


def text_in(client, body: str, *media: tuple[str, str], **fields) -> Task | None:
    """A signed SMS (MMS) with `media` as (url, content type), its jobs run at once."""
    form = inbound_form(body, NumMedia=str(len(media)), **fields)
    for n, (url, content_type) in enumerate(media):
        form[f"MediaUrl{n}"], form[f"MediaContentType{n}"] = url, content_type
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()
    return db.session.scalar(sa.select(Task).where(Task.message_sid == form["MessageSid"]))


def outbox(kind: str | None = None) -> list[OutboundMessage]:
    query = sa.select(OutboundMessage).order_by(OutboundMessage.created_at)
    if kind:
        query = query.where(OutboundMessage.kind == kind)
    return list(db.session.scalars(query))


def chat_requests(server) -> list[dict]:
    return [body for _m, path, body in server.requests if path.endswith("/chat/completions")]


def note_before_the_answer_to(server, question: str) -> OutboundMessage:
    """The note sent just before the answer to `question`, which the model was asked alone."""
    [chat] = chat_requests(server)
    assert chat["messages"][-1]["content"] == question
    note, reply = outbox()
    assert reply.kind == "reply"
    return note


def errors() -> list[ErrorLog]:
    return list(db.session.scalars(sa.select(ErrorLog)))


@pytest.fixture
def texter(app):
    return make_user(PHONE)


def test_a_picture_with_a_question_is_answered_from_the_picture(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "image/png", PNG)

    task = text_in(client, "What plant is this?", (url, "image/png"))

    [chat] = chat_requests(openai_server)
    text, image = chat["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What plant is this?"}
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert image == {"type": "image_url", "image_url": {"url": data_url}}
    assert [m.kind for m in outbox()] == ["reply"]
    assert task.status == "completed"
    [media] = task.media
    assert (media.content_type, media.kind, media.size, media.status) == (
        "image/png",
        "image",
        len(PNG),
        "read",
    )
    assert media.sha256 == hashlib.sha256(PNG).hexdigest()


def test_the_picture_is_fetched_with_the_accounts_credentials(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "image/png", PNG)
    text_in(client, "What is it?", (url, "image/png"))
    requests = zip(twilio_server.requests, twilio_server.headers, strict=True)
    [get] = [headers for (method, _p, _b), headers in requests if method == "GET"]
    token = base64.b64encode(b"AC" + b"0" * 32 + b":test-auth-token").decode()
    assert get["Authorization"] == f"Basic {token}"


def test_a_picture_alone_gets_the_default_question(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    task = text_in(client, "", (url, "image/jpeg"))
    [chat] = chat_requests(openai_server)
    assert chat["messages"][-1]["content"][0]["text"] == "What is in this picture?"
    assert task.status == "completed" and outbox("reply")


def test_a_picture_a_phone_calls_image_jpg_is_read_as_a_jpeg(
    app, client, texter, twilio_server, openai_server
):
    """It got the media notice: "I can read pictures (JPEG, ...) but not this kind of file"."""
    url = twilio_server.serve(media_path(), "image/jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    task = text_in(client, "What is this?", (url, "image/jpg"))
    [chat] = chat_requests(openai_server)
    assert chat["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg")
    assert task.status == "completed" and not outbox("media_note")


def test_a_voice_note_is_answered_from_its_transcript(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)

    task = text_in(client, "", (url, "audio/ogg"), From="whatsapp:" + PHONE)

    [(_m, _p, upload)] = [r for r in openai_server.requests if r[1].endswith("/transcriptions")]
    assert b'name="model"\r\n\r\nwhisper-1' in upload and OGG in upload
    assert b'filename="voice-note.ogg"' in upload
    [chat] = chat_requests(openai_server)
    assert chat["messages"][-1]["content"] == "What time is it in Tokyo?"
    [media] = task.media
    assert media.transcript == "What time is it in Tokyo?" and media.data is None
    assert task.metadata_["question"] == "What time is it in Tokyo?"
    assert task.status == "completed" and [m.channel for m in outbox()] == ["whatsapp"]


@pytest.mark.parametrize(
    ("content_type", "stored_as", "recorded"),
    [
        ("audio/amr", "audio/amr", ("amr", "libopencore_amrnb")),
        ("audio/amr-nb", "audio/amr", ("amr", "libopencore_amrnb")),
        ("audio/3gpp", "audio/3gpp", ("3gp", "libopencore_amrnb")),
        ("audio/aac", "audio/aac", ("adts", "aac", 16000)),
        # Regression: two more of the audio types Twilio lists for MMS were refused as files
        # we do not read, "I can read pictures and voice notes, but not this kind of file".
        ("audio/basic", "audio/basic", ("au", "pcm_mulaw")),
        ("audio/ac3", "audio/ac3", ("ac3", "ac3", 48000)),
        # Regression: AMR-WB, the wideband AMR of many handsets' voice notes, was refused.
        ("audio/amr-wb", "audio/amr-wb", AMR_WB),
    ],
    ids=["amr", "amr-nb", "3gpp", "aac", "basic (mu-law)", "ac3", "amr-wb"],
)
def test_an_mms_voice_recording_is_transcribed_in_a_format_openai_takes(
    app, client, texter, twilio_server, openai_server, content_type, stored_as, recorded
):
    """Regression: MMS voice recordings (AMR, AMR in a 3GPP file, bare AAC) were sent to the
    transcription as they came, and OpenAI's refuses them ("Invalid file format"): the
    texter was told their voice note could not be made out. The same second of sound is
    sent as Ogg Opus, and answered."""
    data = recorded if isinstance(recorded, bytes) else recording(*recorded)
    url = twilio_server.serve(media_path(), content_type, data)
    task = text_in(client, "", (url, content_type))
    [(_m, _p, upload)] = [r for r in openai_server.requests if r[1].endswith("/transcriptions")]
    assert b'filename="voice-note.ogg"' in upload
    sent = upload[upload.index(b"OggS") : upload.rindex(b"\r\n--")]
    with av.open(io.BytesIO(sent)) as heard:
        assert heard.streams.audio[0].codec_context.name == "opus"
        assert 0.9 < heard.duration / av.time_base < 1.2
    assert [m.kind for m in outbox()] == ["reply"] and task.status == "completed"
    assert (task.media[0].kind, task.media[0].content_type) == ("audio", stored_as)


def test_a_recording_that_does_not_decode_is_sent_as_it_came_and_the_texter_told(
    app, client, texter, twilio_server, openai_server
):
    """A self-hosted server may read what PyAV cannot; OpenAI's refuses it, and the texter
    is asked to write instead, as for any recording the server cannot read."""
    url = twilio_server.serve(media_path(), "audio/amr", b"#!AMR\n" + b"\x00" * 40)
    task = text_in(client, "", (url, "audio/amr"))
    [(_m, _p, upload)] = [r for r in openai_server.requests if r[1].endswith("/transcriptions")]
    assert b'filename="voice-note.amr"' in upload and b"#!AMR\n" in upload
    assert [m.kind for m in outbox()] == ["voice_unheard"] and task.status == "failed"


def test_a_voice_note_costs_the_minutes_transcribed(
    app, client, texter, twilio_server, openai_server
):
    transcript = {"text": "What is DNS?", "usage": {"type": "duration", "seconds": 30}}
    openai_server.then(200, transcript)
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    calls = db.session.scalars(sa.select(ModelCall).order_by(ModelCall.created_at)).all()
    assert [call.model for call in calls] == ["whisper-1", "standin-model"]
    assert calls[0].cost_usd == Decimal("0.003")  # half a minute at 0.006 USD
    sms = sum(message.price_usd for message in outbox())
    assert task.cost_usd == sum(call.cost_usd for call in calls) + sms


def test_a_voice_note_too_long_to_pay_for_is_never_transcribed(
    app, client, texter, twilio_server, openai_server
):
    """Regression: any voice note up to MEDIA_MAX_BYTES was transcribed, and transcription
    is billed by the minute: 5 MB of MMS voice is most of an hour, about 0.35 USD on
    whisper-1 for one text. Past VOICE_NOTE_MAX_BYTES it is not sent to the server."""
    app.config["VOICE_NOTE_MAX_BYTES"] = 100_000
    url = twilio_server.serve(media_path(), "audio/amr", b"#!AMR\n" + b"\x00" * 100_000)
    task = text_in(client, "", (url, "audio/amr"))
    assert not [r for r in openai_server.requests if r[1].endswith("/transcriptions")]
    assert [m.kind for m in outbox()] == ["voice_too_long"] and task.status == "failed"
    assert "VOICE_NOTE_MAX_BYTES" in errors()[0].error_message
    assert db.session.scalars(sa.select(ModelCall)).all() == []


def test_a_voice_note_the_server_finds_too_large_is_said_to_be_too_long(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a transcription server that answered 413 (the file too large for it: a
    proxy's client_max_body_size, OpenAI's 25 MB) told the texter "I couldn't make out the
    words in your voice note", and they spoke it again, clearer and as long, to the same
    refusal. They are told it was too long, as for one past VOICE_NOTE_MAX_BYTES."""
    too_large = openai_error("Maximum content size limit exceeded.", None, "invalid_request_error")
    openai_server.then(413, too_large)
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    [notice] = outbox()
    assert (notice.kind, task.status) == ("voice_too_long", "failed")
    assert "too long" in notice.body and "make out" not in notice.body
    assert (notice.segments, notice.encoding) == (1, "GSM-7")


def test_a_voice_note_whose_server_reports_no_usage_costs_the_longest_it_can_be(
    app, client, texter, twilio_server, openai_server
):
    """whisper-1 behind a proxy that drops `usage` (or LocalAI, which sends none) still
    bills the minutes: such a voice note cost 0, however long. Without a length it is
    priced as the longest recording its size can hold (12.2 kbit/s, MMS voice's codec)."""
    openai_server.then(200, {"text": "What is DNS?"})
    recording = OGG + b"\x00" * (183_000 - len(OGG))  # 2 minutes at 1,525 bytes a second
    url = twilio_server.serve(media_path(), "audio/ogg", recording)
    task = text_in(client, "", (url, "audio/ogg"))
    [transcription] = db.session.scalars(sa.select(ModelCall).where(ModelCall.model == "whisper-1"))
    assert transcription.cost_usd == Decimal("0.012")  # 2 minutes at 0.006 USD
    assert task.status == "completed"


@pytest.mark.parametrize(
    "transcription",
    [
        (200, {"text": ""}),  # silence, or noise with no words in it
        (400, openai_error("Invalid file format.", "invalid_value", "invalid_request_error")),
    ],
    ids=["no words heard", "a format the server cannot read"],
)
def test_a_voice_note_that_cannot_be_understood_gets_a_notice_that_says_so(
    app, client, texter, twilio_server, openai_server, transcription
):
    """Sending it again would not help, so the texter is not told it was lost in the network."""
    openai_server.then(*transcription)
    url = twilio_server.serve(media_path(), "audio/amr", b"#!AMR\n" + b"\x00" * 40)
    task = text_in(client, "", (url, "audio/amr"))
    [notice] = outbox()
    assert notice.kind == "voice_unheard"
    assert "couldn't make out the words in your voice note" in notice.body
    assert "network" not in notice.body and "send it again" not in notice.body
    assert task.status == "failed" and task.quota_window is None
    assert errors()[0].error_type == "openai_error" and not chat_requests(openai_server)


@pytest.mark.parametrize(
    "refusal",
    [
        (404, openai_error("Not Found", None, "not_found_error")),  # no transcription endpoint
        (401, openai_error("Incorrect API key provided", "invalid_api_key")),
    ],
    ids=["a server that transcribes nothing", "credentials refused"],
)
def test_a_voice_note_a_server_will_not_transcribe_is_not_blamed_on_the_texter(
    app, client, texter, twilio_server, openai_server, refusal
):
    """Regression: a transcription server that answered 404 (llama.cpp's and Ollama's
    have no /audio/transcriptions) or refused our key made the texter hear "I couldn't make
    out the words in your voice note", and they spoke it again, clearer, to the same
    failure. The server failed, not the recording: alone, the voice note gets the apology,
    as a transcription failing on its last try does; beside words, the words are answered
    after the note."""
    openai_server.then(*refusal)
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    assert task.status == "failed" and [m.kind for m in outbox()] == ["apology"]
    assert task.media[0].error_message.startswith("not transcribed:")
    db.session.execute(sa.delete(OutboundMessage))
    openai_server.then(*refusal)
    task = text_in(client, "What is the capital of France?", (url, "audio/ogg"))
    note = note_before_the_answer_to(openai_server, "What is the capital of France?")
    assert note.kind == "voice_note" and "make out" not in note.body
    assert task.status == "completed"


def test_words_a_phone_sent_as_a_text_part_are_the_texters_question(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a phone that sends a long text as MMS puts its words in a text/plain part
    with no Body, and the texter who had written their question was told "I can read
    pictures and voice notes, but not this kind of file. Please text your question in
    words". The part's words are the question, kept on its row for staff; beside a Body
    that says the same, they are not asked twice."""
    words = "What is the capital of Peru? Caf\u00e9 con leche, por favor."
    url = twilio_server.serve(media_path(), "text/plain; charset=utf-8", words.encode())
    task = text_in(client, "", (url, "text/plain"))
    assert task.status == "completed" and [m.kind for m in outbox()] == ["reply"]
    assert chat_requests(openai_server)[0]["messages"][-1]["content"] == words
    assert (task.media[0].kind, task.media[0].transcript) == ("text", words)
    task = text_in(client, words, (url, "text/plain"))
    assert chat_requests(openai_server)[1]["messages"][-1]["content"] == words


@pytest.mark.parametrize(
    ("content_type", "data", "notice"),
    [
        ("text/plain; charset=utf-16", "¿Qué hora es?".encode("utf-16"), "reply"),
        # Regression: with no charset named, UTF-16 (its byte order mark says so) and
        # Windows' Latin one were read as UTF-8, "\ufffd\ufffd\ufffdQu\ufffd hora es?"
        ("text/plain", "¿Qué hora es?".encode("utf-16"), "reply"),
        ("text/plain", "¿Qué hora es?".encode("cp1252"), "reply"),
        ("text/plain", b" \xe2\x80\x8b\n", "empty"),  # nothing visible: an empty text
        ("text/plain", b"", "empty"),
    ],
    ids=["in the charset named", "utf-16 unnamed", "latin unnamed", "invisible", "nothing"],
)
def test_a_text_part_is_read_as_its_charset_and_one_with_no_words_is_an_empty_text(
    app, client, texter, twilio_server, openai_server, content_type, data, notice
):
    url = twilio_server.serve(media_path(), content_type, data)
    task = text_in(client, "", (url, "text/plain"))
    assert [m.kind for m in outbox()] == [notice]
    if notice == "reply":
        assert chat_requests(openai_server)[0]["messages"][-1]["content"] == "¿Qué hora es?"
    else:
        assert task.status == "failed" and chat_requests(openai_server) == []


@pytest.mark.parametrize(
    ("charset", "words"),
    [
        ("shift_jis", "東京は何時ですか?"),
        ("iso-8859-7", "Τι ώρα είναι;"),
        ("koi8-r", "Который час?"),
    ],
)
def test_a_text_part_is_read_in_the_charset_twilio_names_when_the_file_names_none(
    app, client, texter, twilio_server, openai_server, charset, words
):
    """Regression: the charset of a text part's MediaContentType ("text/plain;
    charset=shift_jis") was dropped at the webhook, and a file served without one was read
    as UTF-8, else Windows' Latin: the texter's Japanese, Greek or Russian reached the model
    as mojibake."""
    url = twilio_server.serve(media_path(), "text/plain", words.encode(charset))
    task = text_in(client, "", (url, f"text/plain; charset={charset}"))
    assert [m.kind for m in outbox()] == ["reply"]
    assert chat_requests(openai_server)[0]["messages"][-1]["content"] == words
    assert task.media[0].transcript == words


def test_a_text_part_with_a_byte_order_mark_is_read_as_its_words(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a text part written with a UTF-8 byte order mark (as some phones and
    Windows tools write one) reached the model with the mark before its words, and beside a
    Body saying the same it was not the same words, so the question was asked twice."""
    words = "What is the capital of Peru?"
    data = b"\xef\xbb\xbf" + words.encode()
    url = twilio_server.serve(media_path(), "text/plain; charset=utf-8", data)
    task = text_in(client, words, (url, "text/plain"))
    assert chat_requests(openai_server)[0]["messages"][-1]["content"] == words
    assert task.media[0].transcript == words


@pytest.mark.parametrize(
    ("serve", "notice"),
    [
        (None, "media_failed"),  # Twilio answers 404: the part never came
        (b"x" * 2048, "media_unreadable"),  # larger than MEDIA_MAX_BYTES
        ("elsewhere", "media_unavailable"),  # a URL we do not fetch from
    ],
    ids=["not fetched", "too large", "not fetched from there"],
)
def test_a_text_part_that_cannot_be_read_is_not_called_a_picture_or_voice_note(
    app, client, texter, twilio_server, openai_server, serve, notice
):
    """Regression: a long text a phone sent as MMS (a text/plain part, no Body) that could
    not be fetched got "Sorry, I couldn't get your picture or voice note", and the texter
    had sent neither. The notice speaks of their message, in one SMS."""
    app.config["MEDIA_MAX_BYTES"] = 1024
    app.config["MEDIA_TIMEOUT"] = 1  # a 404 is not asked again for long
    url = twilio_server.url + media_path()
    if serve == "elsewhere":
        url = "https://example.com/words.txt"
    elif serve is not None:
        url = twilio_server.serve(media_path(), "text/plain", serve)
    task = text_in(client, "", (url, "text/plain"))
    [sms] = outbox()
    assert (sms.kind, task.status) == (notice, "failed")
    assert "picture" not in sms.body and "voice" not in sms.body
    assert "message" in sms.body and (sms.segments, sms.encoding) == (1, "GSM-7")


def test_a_voice_note_offline_gets_a_labelled_offline_transcript(app, client, texter, media_store):
    url = media_store.save(OGG, "audio/ogg")
    task = text_in(client, "", (url, "audio/ogg"))
    assert task.media[0].transcript.startswith("[Offline transcript]")
    [reply] = outbox("reply")
    assert reply.body.startswith("[Offline mode]") and "[Offline transcript]" in reply.body


def test_a_media_url_on_another_host_is_never_fetched(
    app, client, texter, twilio_server, openai_server
):
    with StandIn(lambda *_: (200, {}, {})) as elsewhere:
        url = elsewhere.serve(media_path(), "image/png", PNG)
        task = text_in(client, "", (url, "image/png"))
        assert elsewhere.requests == []
    assert not chat_requests(openai_server) and task.status == "failed"
    [notice] = outbox()  # not "send it again": it would be refused again
    assert notice.kind == "media_unavailable" and "right now" in notice.body
    [error] = errors()
    assert error.error_type == "validation_error" and "not Twilio's API host" in error.error_message
    assert task.media[0].status == "failed" and task.quota_window is None


def test_a_media_url_naming_twilios_host_after_a_backslash_is_never_fetched(
    app, client, texter, twilio_server, openai_server
):
    """In http://elsewhere\\@api.twilio.com/... urllib's parser reads Twilio's host, but the
    HTTP client that connects reads `elsewhere`: it was called, with the account's
    credentials."""
    with StandIn(lambda *_: (200, {}, {})) as elsewhere:
        twilio_host = twilio_server.url.removeprefix("http://")
        url = f"{elsewhere.url}\\@{twilio_host}{media_path()}"
        task = text_in(client, "", (url, "image/png"))
        assert elsewhere.headers == []
    assert task.status == "failed" and "not Twilio's API host" in errors()[0].error_message


def test_a_redirect_is_followed_only_to_a_listed_host_and_without_the_credentials(
    app, client, texter, twilio_server, openai_server
):
    with twilio_standin() as cdn:
        app.config["TWILIO_MEDIA_HOSTS"] = "mms.twiliocdn.com," + cdn.url
        target = cdn.serve("/v1/signed/abc", "image/png", PNG)
        url = twilio_server.serve(media_path(), "text/plain", b"", status=307, Location=target)
        task = text_in(client, "What is this?", (url, "image/png"))
        assert [path for _m, path, _b in cdn.requests] == ["/v1/signed/abc"]
        assert "Authorization" not in cdn.headers[0]
    assert task.status == "completed" and task.media[0].size == len(PNG)


def test_a_redirect_is_followed_to_a_listed_path_only(
    app, client, texter, twilio_server, openai_server
):
    """As to Twilio's bucket on S3 (s3-external-1.amazonaws.com/media.twiliocdn.com/), a
    host that serves other buckets too."""
    with twilio_standin() as s3:
        app.config["TWILIO_MEDIA_HOSTS"] = s3.url + "/media.twiliocdn.com/"
        target = s3.serve("/media.twiliocdn.com/AC0/abc", "image/png", PNG)
        url = twilio_server.serve(media_path(), "text/plain", b"", status=307, Location=target)
        ours = text_in(client, "What is this?", (url, "image/png"))
        elsewhere = s3.serve("/other-bucket/abc", "image/png", PNG)
        url = twilio_server.serve(media_path(), "text/plain", b"", status=307, Location=elsewhere)
        theirs = text_in(client, "", (url, "image/png"))
        assert [path for _m, path, _b in s3.requests] == ["/media.twiliocdn.com/AC0/abc"]
    assert ours.status == "completed" and theirs.status == "failed"
    assert f"redirected to {s3.url}/other-bucket," in errors()[0].error_message


def test_a_redirect_to_an_unlisted_host_is_not_followed(
    app, client, texter, twilio_server, openai_server
):
    with StandIn(lambda *_: (200, {}, {})) as elsewhere:
        target = elsewhere.serve("/steal", "image/png", PNG)
        url = twilio_server.serve(media_path(), "text/plain", b"", status=302, Location=target)
        task = text_in(client, "", (url, "image/png"))
        assert elsewhere.requests == []
    assert task.status == "failed" and "TWILIO_MEDIA_HOSTS" in errors()[0].error_message
    assert [m.kind for m in outbox()] == ["media_unavailable"]


def test_a_media_url_that_is_no_url_is_refused_like_any_other_host(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a MediaUrl Python's parser cannot read (an unclosed "[") raised a
    ValueError out of the read: the texter got "something went wrong... try again later"
    for a URL that will never be fetched, and staff a system_error alert."""
    url = twilio_server.url.replace("://", "://[") + media_path()
    task = text_in(client, "", (url, "image/png"))
    assert not [r for r in twilio_server.requests if r[0] == "GET"]
    assert task.status == "failed" and [m.kind for m in outbox()] == ["media_unavailable"]
    [error] = errors()
    assert error.error_type == "validation_error" and "not Twilio's API host" in error.error_message


def test_a_redirect_to_a_location_that_is_no_url_is_not_followed(
    app, client, texter, twilio_server, openai_server
):
    """Regression: requests parses a redirect's Location even when it does not follow it,
    and one it cannot read ended the read in a ValueError: an apology and a system_error
    alert instead of the refusal any other unlisted place gets."""
    location = "https://[mms.twiliocdn.com/v1/abc"
    url = twilio_server.serve(media_path(), "text/plain", b"", status=302, Location=location)
    task = text_in(client, "", (url, "image/png"))
    assert task.status == "failed" and [m.kind for m in outbox()] == ["media_unavailable"]
    [error] = errors()
    assert error.error_type == "validation_error" and "TWILIO_MEDIA_HOSTS" in error.error_message


def test_a_picture_over_the_size_limit_is_not_read(
    app, client, texter, twilio_server, openai_server
):
    app.config["MEDIA_MAX_BYTES"] = 1024
    url = twilio_server.serve(media_path(), "image/png", PNG + b"\x00" * 2000)
    task = text_in(client, "", (url, "image/png"))
    assert task.status == "failed" and not chat_requests(openai_server)
    assert "MEDIA_MAX_BYTES" in errors()[0].error_message
    assert [m.kind for m in outbox()] == ["media_unreadable"]


def test_attachments_larger_together_than_the_total_are_not_read_and_the_texter_told(
    app, client, texter, twilio_server, openai_server
):
    """Regression: each attachment had its cap (MEDIA_MAX_BYTES) but a text's ten had none
    together: ten 5 MB pictures were held in the worker's memory at once and sent to the
    model as one 67 MB request, paid for. Past MEDIA_TOTAL_MAX_BYTES the text is not
    answered, the voice note after the limit is never transcribed, the request is given
    back and the texter is asked, once, to send fewer at a time; staff get an ErrorLog."""
    picture = PNG + b"\x00" * 1200
    app.config["MEDIA_TOTAL_MAX_BYTES"] = len(picture) + len(OGG) - 1
    first = twilio_server.serve(media_path("ME" + "a" * 32), "image/png", picture)
    voice = twilio_server.serve(media_path("ME" + "b" * 32), "audio/ogg", OGG)
    task = text_in(client, "What is this?", (first, "image/png"), (voice, "audio/ogg"))
    assert openai_server.requests == []  # neither transcribed nor asked
    [notice] = outbox()
    assert (notice.kind, task.status, task.quota_window) == ("media_too_large", "failed", None)
    assert "too large together" in notice.body and "fewer" in notice.body
    assert (notice.segments, notice.encoding) == (1, "GSM-7")
    [error] = errors()
    assert "MEDIA_TOTAL_MAX_BYTES" in error.error_message
    assert [row.status for row in sorted(task.media, key=lambda r: r.position)] == [
        "read",
        "failed",
    ]


def test_attachments_within_the_total_are_all_read(
    app, client, texter, twilio_server, openai_server
):
    app.config["MEDIA_TOTAL_MAX_BYTES"] = 2 * len(PNG)
    urls = [twilio_server.serve(media_path(f"ME{n:032x}"), "image/png", PNG) for n in (1, 2)]
    task = text_in(client, "", *((url, "image/png") for url in urls))
    assert task.status == "completed" and [m.kind for m in outbox()] == ["reply"]
    assert len(chat_requests(openai_server)[0]["messages"][-1]["content"]) == 3  # words, 2 images


def test_a_failed_fetch_gets_a_clear_sms_and_an_error_log(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.url + media_path()  # Twilio answers 404: the media was deleted
    began = time.monotonic()
    task = text_in(client, "", (url, "image/png"))
    assert 4 <= time.monotonic() - began < 10  # asked again after 1 and 3 seconds
    assert [m for m, _p, _b in twilio_server.requests if m == "GET"] == ["GET"] * 3
    [error] = errors()
    assert error.error_type == "twilio_error" and "404" in error.error_message
    assert [m.kind for m in outbox()] == ["media_failed"] and task.status == "failed"


@pytest.mark.parametrize("status", [401, 403])
def test_media_our_credentials_cannot_fetch_is_not_blamed_on_the_network(
    app, client, texter, twilio_server, openai_server, status
):
    """Regression: Twilio refusing our account's credentials for the media (a rotated
    TWILIO_AUTH_TOKEN) got every texter media_failed, "Please send it again": each picture
    sent again was refused again, and billed as an MMS received. The texter is asked for
    words instead, and staff's ErrorLog names the credentials."""
    error = b'{"code": 20003, "message": "Authenticate", "status": %d}' % status
    url = twilio_server.serve(media_path(), "application/json", error, status=status)
    task = text_in(client, "", (url, "image/png"))
    assert task.status == "failed" and [m.kind for m in outbox()] == ["media_unavailable"]
    [logged] = errors()
    assert logged.error_type == "twilio_error" and "TWILIO_AUTH_TOKEN" in logged.error_message


def test_a_picture_our_credentials_cannot_fetch_beside_words_is_logged_for_staff(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a picture Twilio refused our credentials for (a rotated TWILIO_AUTH_TOKEN)
    beside a typed question left only its attachment row: the words were answered after a
    note, and no ErrorLog told staff, so every picture was lost unnoticed. The reply is the
    same; staff get the ErrorLog a picture sent alone gets."""
    error = b'{"code": 20003, "message": "Authenticate", "status": 401}'
    url = twilio_server.serve(media_path(), "application/json", error, status=401)
    task = text_in(client, "What is the capital of France?", (url, "image/png"))
    assert task.status == "completed"
    assert [m.kind for m in outbox()] == ["picture_note", "reply"]
    [logged] = errors()
    assert logged.error_type == "twilio_error" and "TWILIO_AUTH_TOKEN" in logged.error_message
    assert (logged.task_id, logged.user_phone) == (task.id, PHONE)


def test_a_text_part_that_could_not_be_fetched_beside_the_rest_is_named_in_a_note(
    app, client, texter, twilio_server, openai_server
):
    """Regression: the words of a long text a phone sent as MMS (a text/plain part) that
    could not be fetched beside a picture were dropped without a word: the picture was
    answered as "What is in this picture?", and the texter's question, lost, was never
    mentioned. The answer now comes after the note naming it, as for a picture; beside a
    Body, as part of their message. A part with no words in it is nothing unread."""
    app.config["MEDIA_TIMEOUT"] = 1  # Twilio's 404 is not asked again
    picture = twilio_server.serve(media_path("ME" + "a" * 32), "image/png", PNG)
    lost = twilio_server.url + media_path("ME" + "b" * 32)
    text_in(client, "", (picture, "image/png"), (lost, "text/plain"))
    note, reply = outbox()
    assert (note.kind, reply.kind) == ("picture_note", "reply")
    assert "couldn't open attachment 2 of 2" in note.body
    db.session.execute(sa.delete(OutboundMessage))
    text_in(client, "What is the capital of France?", (lost, "text/plain"))
    assert chat_requests(openai_server)[-1]["messages"][-1]["content"] == (
        "What is the capital of France?"
    )
    note, reply = outbox()
    assert note.body.startswith("Note: I couldn't open part of your message")
    db.session.execute(sa.delete(OutboundMessage))
    empty = twilio_server.serve(media_path("ME" + "c" * 32), "text/plain", b" ")
    text_in(client, "", (picture, "image/png"), (empty, "text/plain"))
    assert [m.kind for m in outbox()] == ["reply"]


def test_a_question_beside_a_video_and_a_picture_that_could_not_be_fetched_gets_one_note(
    app, client, texter, twilio_server, openai_server
):
    """Regression: with a video beside the picture, the webhook texted at once "I can't open
    that kind of file, so I'm answering the rest of your message"; then the picture could not
    be fetched and a second text said so. The texter now gets one note naming both, then
    the answer to their words."""
    app.config["MEDIA_TIMEOUT"] = 1  # Twilio's 404 is not asked again
    video = twilio_server.serve(media_path(), "video/mp4", b"\x00\x00\x00\x18ftypmp42")
    picture = twilio_server.url + media_path("ME" + "3" * 32)  # 404: the media was deleted
    task = text_in(client, "What is this?", (video, "video/mp4"), (picture, "image/png"))
    assert task.status == "completed"
    note, reply = outbox()
    assert (note.kind, reply.kind) == ("picture_note", "reply")
    assert note.body == (
        "Note: I couldn't open attachments 1 and 2 of 2, so I'm answering the rest of your message."
    )


def test_a_question_beside_a_picture_that_could_not_be_fetched_is_answered_after_a_note(
    app, client, texter, twilio_server, openai_server
):
    """Regression: one picture that could not be fetched failed the whole text, and the
    question typed beside it went unanswered. The words are answered, after a note that
    says the picture could not be opened; a picture alone still gets media_failed."""
    app.config["MEDIA_TIMEOUT"] = 1
    picture = twilio_server.url + media_path()  # 404: the media was deleted
    task = text_in(client, "Also, what is the capital of France?", (picture, "image/png"))
    assert task.status == "completed"
    note = note_before_the_answer_to(openai_server, "Also, what is the capital of France?")
    assert note.kind == "picture_note" and note.body == (
        "Note: I couldn't open your picture, so I'm answering the rest of your message."
    )
    assert task.media[0].status == "failed" and "404" in task.media[0].error_message


def test_the_pictures_that_could_be_read_are_answered_and_the_one_that_could_not_is_named(
    app, client, texter, twilio_server, openai_server
):
    app.config["MEDIA_TIMEOUT"] = 1
    broken = twilio_server.serve(media_path(), "image/png", b"not a picture at all")
    first = twilio_server.serve(media_path("ME" + "3" * 32), "image/png", PNG)
    third = twilio_server.serve(media_path("ME" + "4" * 32), "image/png", PNG)
    pictures = [(first, "image/png"), (broken, "image/png"), (third, "image/png")]
    task = text_in(client, "", *pictures)
    assert task.status == "completed"
    [chat] = chat_requests(openai_server)
    parts = chat["messages"][-1]["content"]
    assert [part["type"] for part in parts] == ["text", "image_url", "image_url"]
    [note] = outbox("picture_note")
    assert note.body.startswith("Note: I couldn't open attachment 2 of 3, so")


def test_the_note_on_a_picture_that_could_not_be_fetched_is_in_the_texters_language(
    app, client, texter, twilio_server, openai_server
):
    app.config["MEDIA_TIMEOUT"] = 1
    picture = twilio_server.url + media_path()
    text_in(client, "¿Cuál es la capital de Francia?", (picture, "image/png"))
    [note] = outbox("picture_note")
    assert note.body == "Nota: no pude abrir tu foto, asi que respondo al resto de tu mensaje."


def test_a_picture_read_beside_a_video_is_answered_after_a_note_on_the_video(
    app, client, texter, twilio_server, openai_server
):
    video = twilio_server.serve(media_path(), "video/mp4", b"\x00\x00\x00\x18ftypmp42")
    picture = twilio_server.serve(media_path("ME" + "3" * 32), "image/png", PNG)
    task = text_in(client, "What is this?", (video, "video/mp4"), (picture, "image/png"))
    assert task.status == "completed"
    assert [m.kind for m in outbox()] == ["media_note", "reply"]


@pytest.mark.parametrize(
    ("model_answers", "notice", "spanish"),
    [
        ((200, {}), "media_note", "Nota: no puedo abrir ese tipo de archivo"),
        ((401, openai_error("Incorrect API key", "invalid_api_key")), "apology", "Lo siento"),
    ],
    ids=["the note on a file beside it", "the apology"],
)
def test_the_notices_on_a_spanish_voice_note_are_in_spanish(
    app, client, texter, twilio_server, openai_server, model_answers, notice, spanish
):
    """Regression: a notice is written in the language of the text it answers, and a voice
    note's text has no words of its own: the texter who asked in Spanish by voice got its
    notices in English, as a Spanish text's would not be."""
    openai_server.then(200, {"text": "¿Qué hora es en Tokio ahora mismo?"})
    if model_answers[1]:
        openai_server.then(*model_answers)
    voice = twilio_server.serve(media_path(), "audio/ogg", OGG)
    card = twilio_server.serve(media_path("ME" + "3" * 32), "text/vcard", b"BEGIN:VCARD")
    text_in(client, "", (voice, "audio/ogg"), (card, "text/vcard"))
    [sent] = outbox(notice)
    assert sent.body.startswith(spanish)


def test_a_long_voice_notes_transcript_is_cut_for_the_model_and_the_texter_told(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a voice note's transcript had no length cap, so ten minutes of speech
    (some 9,000 characters, within VOICE_NOTE_MAX_BYTES) became a prompt longer than any
    text may be, paid for as prompt tokens. The model is asked its first 5,000 characters,
    as a text part's, cut between words; the texter is told before the answer, and staff
    keep the whole transcript."""
    spoken = "Tell me about the weather in Paris tomorrow please. " * 180  # 9,360 characters
    openai_server.then(200, {"text": spoken})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    asked = chat_requests(openai_server)[0]["messages"][-1]["content"]
    assert len(asked) <= 5_000 and asked.endswith("...")
    assert spoken.startswith(asked.removesuffix("...").rstrip())
    assert task.metadata_["question"] == asked and task.media[0].transcript == spoken.strip()
    note, reply = outbox()
    assert (note.kind, reply.kind) == ("voice_cut", "reply")
    assert note.body.startswith("Note: your voice note was long")


def test_voice_notes_longer_together_than_a_text_part_are_cut_for_the_model(
    app, client, texter, twilio_server, openai_server
):
    """Regression: each voice note's transcript was cut to 5,000 characters, but ten of them
    still made a prompt of 50,000. What a text's attachments said is asked up to 5,000
    characters together, and the texter told."""
    spoken = "Tell me about the weather in Paris tomorrow please. " * 60  # 3,120 characters
    openai_server.then(200, {"text": spoken}).then(200, {"text": spoken})
    first = twilio_server.serve(media_path(), "audio/ogg", OGG)
    second = twilio_server.serve(media_path("ME" + "3" * 32), "audio/ogg", OGG)
    text_in(client, "", (first, "audio/ogg"), (second, "audio/ogg"))
    asked = chat_requests(openai_server)[0]["messages"][-1]["content"]
    assert 5_000 - 60 < len(asked) <= 5_000 and asked.endswith("...")
    assert [m.kind for m in outbox()] == ["voice_cut", "reply"]


def test_a_voice_note_asking_about_markup_gets_its_tags_as_written(
    app, client, texter, twilio_server, openai_server
):
    """Regression: the answer was shaped for the text's typed words, which a voice note has
    none of: asked by voice what <br> does, the texter got a line break where the answer
    showed the tag, as a texted question about tags would not."""
    openai_server.then(200, {"text": "What does the br tag do in HTML?"})
    openai_server.then(200, chat_completion("It breaks a line: one<br>two"))
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    text_in(client, "", (url, "audio/ogg"))
    [reply] = outbox("reply")
    assert reply.body == "It breaks a line: one<br>two"


@pytest.mark.parametrize(
    "transcription",
    [
        (200, {"text": ""}),
        (400, openai_error("Invalid file format.", "invalid_value", "invalid_request_error")),
    ],
    ids=["no words heard", "a format the server cannot read"],
)
def test_a_typed_question_beside_a_voice_note_with_no_words_is_answered(
    app, client, texter, twilio_server, openai_server, transcription
):
    """Regression: a silent voice note (a pocket recording, a tap too short) failed the
    whole text: the question typed beside it went unanswered, and the texter was told
    "Please text your question in words", which they had. The rest is answered, after a
    note on the voice note; a voice note alone still gets voice_unheard."""
    openai_server.then(*transcription)
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "What is the capital of France?", (url, "audio/ogg"))
    assert task.status == "completed"
    note = note_before_the_answer_to(openai_server, "What is the capital of France?")
    assert note.kind == "voice_note"
    assert note.body.startswith("Note: I couldn't transcribe your voice note")
    assert task.media[0].status == "failed"


def test_a_picture_twilio_does_not_have_yet_is_read_when_it_does(
    app, client, texter, twilio_server, openai_server
):
    """Twilio answers 404 for a moment after the webhook for media on its way to it
    (WhatsApp's, mostly): the texter was told to send it again, and their picture lost."""
    url = twilio_server.url + media_path()
    arrives = threading.Timer(0.5, twilio_server.serve, (media_path(), "image/png", PNG))
    arrives.start()
    task = text_in(client, "", (url, "image/png"), From="whatsapp:" + PHONE)
    arrives.join()
    assert task.status == "completed" and task.media[0].data == PNG
    assert [m.kind for m in outbox()] == ["reply"]


def test_a_media_timeout_too_short_to_wait_for_twilio_fails_at_once(
    app, client, texter, twilio_server, openai_server
):
    app.config["MEDIA_TIMEOUT"] = 0.5
    task = text_in(client, "", (twilio_server.url + media_path(), "image/png"))
    assert [m for m, _p, _b in twilio_server.requests if m == "GET"] == ["GET"]
    assert task.status == "failed" and [m.kind for m in outbox()] == ["media_failed"]


def test_a_media_host_that_never_answers_times_out(app, client, texter, openai_server):
    with SilentServer() as silent:
        app.config.update(SMS_BACKEND="twilio", TWILIO_API_BASE_URL=silent.url)
        app.config.update(MEDIA_TIMEOUT=0.3)
        task = text_in(client, "", (silent.url + media_path(), "image/png"))
    assert task.status == "failed" and "longer than 0.3s" in errors()[0].error_message


def test_a_media_host_that_trickles_its_body_times_out(
    app, client, texter, twilio_server, openai_server
):
    # The body would take 30 s; MEDIA_TIMEOUT bounds the whole read, so the task ends far
    # sooner (the bound leaves room for a busy machine's webhook and task around the read).
    with TricklingServer(gap=0.1, seconds=30) as cdn:
        app.config.update(TWILIO_MEDIA_HOSTS=cdn.url, MEDIA_TIMEOUT=0.5)
        location = cdn.url + "/v1/slow"
        url = twilio_server.serve(media_path(), "text/plain", b"", status=307, Location=location)
        began = time.monotonic()
        task = text_in(client, "", (url, "image/png"))
        assert time.monotonic() - began < 10
    assert task.status == "failed" and "longer than 0.5s" in errors()[0].error_message
    assert [m.kind for m in outbox()] == ["media_failed"]


def test_a_file_that_is_not_what_twilio_said_is_not_sent_to_the_model(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "image/png", b"<html>not a picture</html>")
    task = text_in(client, "", (url, "image/png"))
    assert task.status == "failed" and not chat_requests(openai_server)
    assert "not the image/png" in errors()[0].error_message


@pytest.mark.parametrize("content_type", ["image/jpeg", "audio/ogg"])
def test_an_empty_file_is_not_blamed_on_the_network(
    app, client, texter, twilio_server, openai_server, content_type
):
    """Regression: a picture or voice note Twilio served as 0 bytes got media_failed ("I
    couldn't get it from the network. Please send it again"); the same file sent again is
    just as empty, so the texter is asked for words instead."""
    url = twilio_server.serve(media_path(), content_type, b"")
    task = text_in(client, "", (url, content_type))
    assert task.status == "failed" and not chat_requests(openai_server)
    [notice] = outbox()
    assert notice.kind == "media_unreadable" and "send it again" not in notice.body
    assert "empty" in errors()[0].error_message


@pytest.mark.parametrize(
    ("served", "why"),
    [
        (PNG + b"\x00" * 2000, "MEDIA_MAX_BYTES"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40, "not the image/png"),
    ],
    ids=["too large", "not the type Twilio named"],
)
def test_a_picture_that_would_fail_again_is_not_asked_for_again(
    app, client, texter, twilio_server, openai_server, served, why
):
    """Too large, or not the picture Twilio said: the same file sent again fails again, so
    the texter is asked for words, not told it was lost in the network."""
    app.config["MEDIA_MAX_BYTES"] = 1024
    url = twilio_server.serve(media_path(), "image/png", served)
    task = text_in(client, "", (url, "image/png"))
    [notice] = outbox()
    assert notice.kind == "media_unreadable" and "text your question in words" in notice.body
    assert "network" not in notice.body and "send it again" not in notice.body
    assert task.status == "failed" and why in errors()[0].error_message


def test_a_model_that_rejects_images_gets_the_texter_a_clear_answer_once(
    app, client, texter, twilio_server, openai_server
):
    for _ in range(2):  # with the request_human tool, then without it
        openai_server.then(400, openai_error("Invalid content type: image_url", "invalid_value"))
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "What is this?", (url, "image/png"))
    # Asked once more without the request_human tool (a 400 may mean "no tools here"),
    # then never again: no retry loop.
    first, second = chat_requests(openai_server)
    assert "tools" in first and "tools" not in second
    [notice] = outbox()
    assert notice.kind == "no_vision"
    assert "can't read pictures with the current model" in notice.body
    assert task.status == "failed" and errors()[0].error_type == "openai_error"


@pytest.mark.parametrize(
    "refusal",
    [
        openai_error("Invalid image.", "invalid_image", "invalid_request_error"),
        openai_error(
            "You uploaded an unsupported image. Please make sure your image is below 20 MB in "
            "size and is of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
            "invalid_image_format",
            "invalid_request_error",
        ),
    ],
    ids=["invalid image", "unsupported image"],
)
def test_a_picture_the_model_cannot_open_is_not_blamed_on_the_model(
    app, client, texter, twilio_server, openai_server, refusal
):
    """A model that reads pictures refused this one (an animated GIF, a broken file): the
    texter was told "I can't read pictures with the current model" and stopped sending any.
    Asked once: the same picture without the tools would be refused the same way. (Sent
    alone: beside words, the words are answered.)"""
    openai_server.then(400, refusal)
    url = twilio_server.serve(media_path(), "image/gif", b"GIF89a" + b"\x00" * 40)
    task = text_in(client, "", (url, "image/gif"))
    assert len(chat_requests(openai_server)) == 1
    [notice] = outbox()
    assert notice.kind == "media_unreadable" and "current model" not in notice.body
    assert task.status == "failed" and errors()[0].error_type == "openai_error"


#: What llama.cpp's server (and Ollama, LM Studio, built on it) answers for a picture it
#: cannot decode: every WebP, so every WhatsApp sticker.
LLAMA_CPP_UNLOADED = openai_error(
    "Failed to load image or audio file", None, "invalid_request_error"
)


@pytest.mark.parametrize("status", [400, 500])
def test_a_sticker_a_local_vision_model_cannot_decode_is_not_blamed_on_the_model(
    app, client, texter, twilio_server, openai_server, status
):
    """The model reads JPEG and PNG, but the texter was told "I can't read pictures with
    the current model" (400) or, after the same sticker was refused on every retry, that
    something went wrong and to try again later (500)."""
    openai_server.default = lambda *_args: (status, LLAMA_CPP_UNLOADED, {})
    sticker = b"RIFF\x20\x00\x00\x00WEBPVP8X" + b"\x00" * 40
    url = twilio_server.serve(media_path(), "image/webp", sticker)
    task = text_in(client, "", (url, "image/webp"), From="whatsapp:" + PHONE)
    assert len(chat_requests(openai_server)) == 1
    [notice] = outbox()
    assert notice.kind == "media_unreadable" and "current model" not in notice.body
    assert task.status == "failed" and errors()[0].error_type == "openai_error"


def test_a_retried_job_reuses_what_was_read(app, client, texter, twilio_server, openai_server):
    openai_server.then(503, openai_error("busy", None))
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "What is this?", (url, "image/png"))
    gets = [r for r in twilio_server.requests if r[0] == "GET"]
    assert len(gets) == 1 and task.status == "completed"
    assert len(chat_requests(openai_server)) == 2
    assert db.session.scalar(sa.select(sa.func.count(TaskMedia.id))) == 1


def test_no_database_connection_is_held_while_media_is_fetched_or_transcribed(
    app, client, texter, twilio_server, openai_server, monkeypatch
):
    from sms_agent.vendors import openai as llm
    from sms_agent.vendors import twilio_media

    connections_held = []

    def watched(method):
        def call(*args, **kwargs):
            connections_held.append(db.engine.pool.checkedout())
            return method(*args, **kwargs)

        return call

    for owner, name in ((twilio_media.TwilioMedia, "fetch"), (llm.OpenAIBackend, "transcribe")):
        monkeypatch.setattr(owner, name, watched(getattr(owner, name)))
    picture = twilio_server.serve(media_path(), "image/png", PNG)
    voice = twilio_server.serve(media_path("ME" + "3" * 32), "audio/ogg", OGG)
    task = text_in(client, "", (picture, "image/png"), (voice, "audio/ogg"))
    assert task.status == "completed" and connections_held == [0, 0, 0]


def test_a_picture_sent_while_staff_hold_the_conversation_is_kept_for_them(
    app, client, texter, twilio_server, openai_server
):
    text_in(client, "AGENT")
    picture = twilio_server.serve(media_path(), "image/png", PNG)
    note = twilio_server.serve(media_path("ME" + "3" * 32), "audio/ogg", OGG)
    task = text_in(client, "This is the error", (picture, "image/png"), (note, "audio/ogg"))
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")
    shown, voice = sorted(task.media, key=lambda media: media.position)
    assert (shown.kind, shown.status, shown.data) == ("image", "read", PNG)
    assert (voice.kind, voice.status) == ("audio", "read")
    assert voice.transcript == "What time is it in Tokyo?"  # staff read what it said
    assert not chat_requests(openai_server)  # never sent to the model
    [model_call] = db.session.scalars(sa.select(ModelCall))
    assert model_call.task_id == task.id  # the transcription is paid for, and in the spend
    assert [m.kind for m in outbox()] == ["handoff"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai_error("Invalid file format.", "invalid_value", "invalid_request_error")),
        (503, openai_error("The server is overloaded.", None)),  # still, after the retries
    ],
    ids=["a format the server cannot read", "a server down"],
)
def test_a_voice_note_held_for_staff_that_cannot_be_transcribed_says_why(
    app, client, texter, twilio_server, openai_server, status, error
):
    """Regression: a voice note sent while staff held the conversation was never
    transcribed, so staff saw "not read" and nothing of what the texter said; it is now
    transcribed for them, and one that could not be says why."""
    app.config["OPENAI_MAX_RETRIES"] = 0
    text_in(client, "AGENT")
    openai_server.then(status, error)
    note = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (note, "audio/ogg"))
    [voice] = task.media
    assert voice.status == "failed"
    assert error["error"]["message"] in voice.error_message
    assert [m.kind for m in outbox()] == ["handoff"]  # the texter is not told: staff are


@pytest.mark.parametrize("caption", ["help", "Help!", "Info?", "more", "NEW", "usage"])
def test_a_picture_captioned_with_a_command_word_is_answered_from_the_picture(
    app, client, texter, twilio_server, openai_server, caption
):
    """Regression: a photo of homework captioned "help" (or "info", "more"...) got the HELP
    text, MORE's "no answer to continue" or a reset, and the picture was dropped unseen."""
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, caption, (url, "image/png"))
    [chat] = chat_requests(openai_server)
    assert chat["messages"][-1]["content"][0] == {"type": "text", "text": caption}
    assert task.status == "completed" and [m.kind for m in outbox()] == ["reply"]


def test_a_picture_sent_with_agent_asks_for_a_person_and_is_kept_for_them(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "agent", (url, "image/png"))
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")
    [shown] = task.media
    assert (shown.status, shown.data) == ("read", PNG)
    assert texter.conversation_state == "waiting" and handoff.find(PHONE).unread == 1
    assert [m.kind for m in outbox()] == ["handoff"] and openai_server.requests == []


def test_a_stop_a_phone_sent_as_a_text_part_opts_out(
    app, client, texter, twilio_server, openai_server
):
    """A STOP sent in a group MMS comes as a text/plain part: read as the texter's words,
    it opts them out, as a voice note saying only STOP does, and is never asked."""
    url = twilio_server.serve(media_path(), "text/plain", b"STOP")
    task = text_in(client, "", (url, "text/plain"))
    assert texter.is_opted_out and [m.kind for m in outbox()] == ["opt_out"]
    assert chat_requests(openai_server) == []
    assert task.error_message == "the texter said STOP in a text part"  # for staff


def test_a_picture_captioned_stop_still_opts_out(app, client, texter, twilio_server):
    url = twilio_server.serve(media_path(), "image/png", PNG)
    assert text_in(client, "STOP", (url, "image/png")) is None
    assert texter.is_opted_out and [m.kind for m in outbox()] == ["opt_out"]


@pytest.mark.parametrize("spoken", ["Stop.", "Stop texting me!", "Unsubscribe"])
@pytest.mark.parametrize("sender", [PHONE, "whatsapp:" + PHONE])
def test_a_voice_note_that_says_stop_opts_the_texter_out_and_is_not_answered(
    app, client, texter, twilio_server, openai_server, spoken, sender
):
    """Regression: a voice note saying "Stop" was a question for the model, answered and
    counted, and the texter kept getting texts: an opt-out said by any reasonable means
    must be obeyed, and the words are only known once it is transcribed. It is obeyed as a
    texted STOP is (confirmed by us: Twilio never sees a voice note's words), and its
    request given back."""
    openai_server.then(200, {"text": spoken})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"), From=sender)
    db.session.refresh(texter)
    assert texter.is_opted_out and [m.kind for m in outbox()] == ["opt_out"]
    assert not chat_requests(openai_server)
    assert task.status == "failed" and task.quota_window is None
    assert texter.monthly_requests == 0


def test_a_voice_stop_heard_after_a_texted_start_does_not_undo_the_start(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a voice note saying "Stop" is heard only once the worker transcribes it;
    a START the texter typed meanwhile (they changed their mind) was overridden by the
    older voice note, and they were opted out after saying START. The latest word stands."""
    openai_server.then(200, {"text": "Stop."})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    form = inbound_form("", NumMedia="1", MediaUrl0=url, MediaContentType0="audio/ogg")
    assert signed_post(client, "/sms/inbound", form).status_code == 200  # its job waits
    text_in(client, "START")
    task = db.session.scalar(sa.select(Task).where(Task.message_sid == form["MessageSid"]))
    pipeline.answer(task.id)
    db.session.refresh(texter)
    assert not texter.is_opted_out
    assert "opt_out" not in [m.kind for m in outbox()]
    assert not chat_requests(openai_server)  # "Stop." is still no question
    db.session.refresh(task)
    assert task.status == "failed" and texter.monthly_requests == 0


@pytest.mark.parametrize("sender", [PHONE, "whatsapp:" + PHONE])
def test_a_voice_note_that_says_stop_while_staff_hold_the_conversation_opts_out(
    app, client, texter, twilio_server, openai_server, sender
):
    """Regression: while staff held the conversation, a voice note saying only "Stop" was
    transcribed for staff and nothing more: the texter kept getting staff's texts, though
    a texted STOP opts out whoever holds the conversation. It is obeyed as that one is,
    and the text stays with staff, who see what it said."""
    text_in(client, "AGENT", From=sender)
    openai_server.then(200, {"text": "Stop."})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"), From=sender)
    db.session.refresh(texter)
    assert texter.is_opted_out
    assert [m.kind for m in outbox()] == ["handoff", "opt_out"]
    assert task.refusal_reason == "held_for_staff" and task.media[0].transcript == "Stop."
    assert not chat_requests(openai_server)


def test_a_held_voice_note_that_only_mentions_stopping_stays_a_text_for_staff(
    app, client, texter, twilio_server, openai_server
):
    text_in(client, "AGENT")
    openai_server.then(200, {"text": "Stop the car when the light turns red."})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    text_in(client, "", (url, "audio/ogg"))
    db.session.refresh(texter)
    assert not texter.is_opted_out and [m.kind for m in outbox()] == ["handoff"]


def test_a_voice_note_that_only_mentions_stopping_is_a_question(
    app, client, texter, twilio_server, openai_server
):
    openai_server.then(200, {"text": "How do I stop my dog from barking?"})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    assert task.status == "completed" and not texter.is_opted_out


@pytest.mark.parametrize("caption", ["YES", "Start"])
def test_a_picture_captioned_yes_or_start_opts_back_in_and_is_answered(
    app, client, texter, twilio_server, openai_server, caption
):
    """Regression: an opted-out texter's photo captioned "Yes" or "Start" opted them back
    in and the picture was dropped unseen: no answer, and no record of it for staff."""
    text_in(client, "START")
    text_in(client, "STOP")
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, caption, (url, "image/png"))
    assert not texter.is_opted_out
    [chat] = chat_requests(openai_server)
    assert chat["messages"][-1]["content"][0] == {"type": "text", "text": caption}
    assert task.status == "completed"
    assert sorted(m.kind for m in outbox()[2:]) == ["opt_in", "reply"]


def test_a_picture_captioned_start_from_a_subscribed_texter_is_only_answered(
    app, client, texter, twilio_server, openai_server
):
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "START", (url, "image/png"))
    assert task.status == "completed" and [m.kind for m in outbox()] == ["reply"]


def test_the_webhook_only_records_the_media_and_the_worker_fetches_it(
    app, client, texter, twilio_server
):
    url = twilio_server.serve(media_path(), "image/png", PNG)
    form = inbound_form("What is this?", NumMedia="1", MediaUrl0=url, MediaContentType0="image/png")
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    assert twilio_server.requests == []
    task = db.session.scalar(sa.select(Task).where(Task.message_sid == form["MessageSid"]))
    assert task.metadata_["media"][0]["url"] == url and task.media == []


def test_a_voice_note_still_being_transcribed_is_not_transcribed_again_by_a_reclaiming_run(
    app, client, texter, twilio_server, openai_server
):
    """The transcription outlasts STALE_TASK_SECONDS: the sweeper hands the task to a second
    run, which must leave the voice note to the first run, still at it, instead of paying
    for a second transcription of it (and fighting over its row)."""
    from sms_agent.answering import pipeline
    from tests.second_run import run_again_meanwhile

    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    form = inbound_form("", NumMedia="1", MediaUrl0=url, MediaContentType0="audio/ogg")
    signed_post(client, "/sms/inbound", form)
    task_id = db.session.scalar(sa.select(Task.id).where(Task.message_sid == form["MessageSid"]))
    answer_model, second_run = openai_server.default, []

    def slow_transcription(method, path, body):
        if path.endswith("/audio/transcriptions") and not second_run:
            second_run.append("started")
            second_run.append(run_again_meanwhile(app, task_id))
        return answer_model(method, path, body)

    openai_server.default = slow_transcription
    assert pipeline.answer(task_id) == "answered"

    assert second_run == ["started", "skipped"]
    transcriptions = [r for r in openai_server.requests if r[1].endswith("/transcriptions")]
    assert len(transcriptions) == 1
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.status == "completed"
    [media] = task.media
    assert (media.status, media.transcript) == ("read", "What time is it in Tokyo?")
    assert [m.kind for m in outbox()] == ["reply"]
    assert db.session.scalar(sa.select(sa.func.count(ModelCall.id))) == 2  # one transcription


@pytest.mark.parametrize(
    ("fault", "then"),
    [
        (RuntimeError("a bug in the reading"), "failed"),
        (sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection")), "runs"),
    ],
)
def test_a_read_that_ends_in_an_unexpected_error_leaves_no_row_reading(
    app, client, texter, twilio_server, openai_server, monkeypatch, fault, then
):
    """Regression: the row committed as `reading` before the download stayed so when the
    read ended in anything but a media or model error. After a database outage the job's
    next run found it `reading`, took it for another run's and stopped: the task waited,
    unanswered, for two sweeps and more (STALE_TASK_SECONDS plus every timeout of a read);
    a failed task kept a picture `reading` for ever."""
    from sms_agent.answering import pipeline
    from sms_agent.media import read

    url = twilio_server.serve(media_path(), "image/png", PNG)
    form = inbound_form("What is it?", NumMedia="1", MediaUrl0=url, MediaContentType0="image/png")
    signed_post(client, "/sms/inbound", form)
    task_id = db.session.scalar(sa.select(Task.id).where(Task.message_sid == form["MessageSid"]))
    check = read._check

    def faulty_once(row, data):
        monkeypatch.setattr(read, "_check", check)
        raise fault

    monkeypatch.setattr(read, "_check", faulty_once)
    if then == "failed":
        assert pipeline.answer(task_id) == "failed"
    else:
        with pytest.raises(sa.exc.OperationalError):
            pipeline.answer(task_id)
    db.session.rollback()
    reading = sa.select(TaskMedia).where(TaskMedia.status == read.READING)
    assert db.session.scalars(reading).all() == []
    if then == "runs":
        assert pipeline.answer(task_id) == "answered"
        db.session.rollback()
        assert [media.status for media in db.session.get(Task, task_id).media] == ["read"]


def test_a_picture_too_large_for_the_models_context_is_not_blamed_on_the_model(
    app, client, texter, twilio_server, openai_server
):
    """A local vision model with a small context window (vLLM, llama.cpp) answers 400 when a
    large picture's tokens do not fit: the texter was told "I can't read pictures with the
    current model", though it reads a smaller one. The picture is what will not do. (Sent
    alone: beside words, the words are answered.)"""
    too_long = openai_error(
        "This model's maximum context length is 4096 tokens. However, you requested 6321 "
        "tokens (5809 in the messages, 512 in the completion).",
        None,
        "BadRequestError",
    )
    openai_server.then(400, too_long)
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "", (url, "image/png"))
    [notice] = outbox()
    assert notice.kind == "media_unreadable" and "current model" not in notice.body
    assert task.status == "failed" and task.quota_window is None


@pytest.mark.parametrize(
    "heard", ["[BLANK_AUDIO]", " [ Silence ] ", "(silence)", "[MUSIC] [Music]"]
)
def test_a_voice_note_heard_as_only_a_silence_marker_is_not_answered_as_a_question(
    app, client, texter, twilio_server, openai_server, heard
):
    """Whisper servers (whisper.cpp, LocalAI, faster-whisper) write a silent or wordless
    recording as a marker such as "[BLANK_AUDIO]": the model got that as the question and
    the texter an answer to nothing, paid for and counted."""
    openai_server.then(200, {"text": heard})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    [notice] = outbox()
    assert notice.kind == "voice_unheard" and not chat_requests(openai_server)
    assert task.status == "failed" and task.quota_window is None
    assert task.media[0].error_message == "the transcript was empty"


def test_a_voice_note_with_words_and_a_marker_is_answered(
    app, client, texter, twilio_server, openai_server
):
    openai_server.then(200, {"text": "[MUSIC] What is the name of this song?"})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))
    assert task.status == "completed" and [m.kind for m in outbox()] == ["reply"]


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (500, openai_error("image input is not supported - hint: provide the mmproj", None)),
        (404, openai_error("No endpoints found that support image input", None)),
    ],
    ids=["llama.cpp without its mmproj", "a router with no vision endpoint"],
)
def test_a_model_server_that_refuses_images_by_another_status_gets_no_vision(
    app, client, texter, twilio_server, openai_server, status, refusal
):
    """llama.cpp's server started without a vision projector answers 500, OpenRouter 404:
    the 500 was retried (the same picture, refused each time) and either ended in the
    apology, which asks the texter to send it again, to be refused again."""
    openai_server.default = lambda *_args: (status, refusal, {})
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "What is this?", (url, "image/png"))
    assert len(chat_requests(openai_server)) <= 2  # with the tools, then without them
    [notice] = outbox()
    assert notice.kind == "no_vision"
    assert task.status == "failed" and task.quota_window is None


@pytest.mark.parametrize("body", ["\ufffc", "\u200b", " \ufffc\n"])
def test_a_picture_whose_body_shows_nothing_gets_the_default_question(
    app, client, texter, twilio_server, openai_server, body
):
    """An iPhone's attachment placeholder (U+FFFC) or a zero-width space is no question:
    the model got it as the texter's words beside the picture, and the default question
    was never asked."""
    url = twilio_server.serve(media_path(), "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    task = text_in(client, body, (url, "image/jpeg"))
    [chat] = chat_requests(openai_server)
    assert chat["messages"][-1]["content"][0]["text"] == "What is in this picture?"
    assert task.metadata_["question"] == "What is in this picture?"


def test_a_text_of_only_an_attachment_placeholder_gets_the_how_to(
    app, client, texter, openai_server
):
    """A picture lost on the way leaves an iPhone's placeholder (U+FFFC) alone in the body."""
    assert text_in(client, "\ufffc") is None
    assert [m.kind for m in outbox()] == ["empty"] and not chat_requests(openai_server)


SMIL = b'<smil><body><par><img src="photo.jpg"/></par></body></smil>'


@pytest.mark.parametrize("smil_type", ["application/smil", "application/smil+xml"])
def test_an_mms_layout_part_beside_a_picture_is_not_a_file_we_cannot_read(
    app, client, texter, twilio_server, openai_server, smil_type
):
    """Regression: phones send an MMS picture with its SMIL layout part, which the texter
    never chose to send; they were told we cannot read a file they did not know of."""
    layout = twilio_server.serve(media_path("ME" + "4" * 32), smil_type, SMIL)
    picture = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "What is this?", (layout, smil_type), (picture, "image/png"))
    [chat] = chat_requests(openai_server)
    assert [part["type"] for part in chat["messages"][-1]["content"]] == ["text", "image_url"]
    assert [m.kind for m in outbox()] == ["reply"] and task.status == "completed"


def test_an_mms_of_only_its_layout_part_is_a_blank_text(
    app, client, texter, twilio_server, openai_server
):
    """Its picture lost on the way, an MMS may bring only its SMIL layout: a blank text,
    which gets the how-to, not the note on a file we cannot read."""
    layout = twilio_server.serve(media_path(), "application/smil", SMIL)
    assert text_in(client, "", (layout, "application/smil")) is None
    assert [m.kind for m in outbox()] == ["empty"] and not chat_requests(openai_server)


def test_a_picture_twilio_named_as_another_kind_of_picture_is_read_as_what_it_is(
    app, client, texter, twilio_server, openai_server
):
    """Phones and carriers name a PNG screenshot "image/jpeg": the texter was told their
    picture was not a file we can open, though it is one the model reads."""
    url = twilio_server.serve(media_path(), "image/jpeg", PNG)
    task = text_in(client, "What is this?", (url, "image/jpeg"))
    [chat] = chat_requests(openai_server)
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert chat["messages"][-1]["content"][1]["image_url"]["url"] == data_url
    assert task.status == "completed" and [m.kind for m in outbox()] == ["reply"]
    assert (task.media[0].content_type, task.media[0].status) == ("image/png", "read")


def test_a_picture_a_proxy_before_the_model_finds_too_large_gets_media_unreadable(
    app, client, texter, twilio_server, openai_server
):
    """nginx before a self-hosted model server refuses a body over its client_max_body_size
    (1 MB unless raised) with 413: a picture of a few megabytes, as base64, is one. The
    texter got the apology, "Please try again later", and the same refusal each time."""
    page = b"<html><head><title>413 Request Entity Too Large</title></head></html>"
    openai_server.then(413, Raw(page, "text/html"))
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "", (url, "image/png"))
    [notice] = outbox()
    assert notice.kind == "media_unreadable" and "too large" in notice.body
    assert task.status == "failed" and task.quota_window is None


def test_a_voice_note_staff_had_transcribed_does_not_count_toward_the_texters_cap(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a voice note sent while staff held the conversation is transcribed for
    staff alone (it is never answered), yet its cost counted toward the texter's monthly
    spend cap, so a texter handed back to the AI found their texts refused `over_spend`
    for a transcription they never asked for. It stays in the service's spend."""
    app.config["SPEND_CAP_FREE"] = Decimal("0.05")
    text_in(client, "AGENT")
    openai_server.then(200, {"text": "My order", "usage": {"type": "duration", "seconds": 600}})
    note = twilio_server.serve(media_path(), "audio/ogg", OGG)
    held = text_in(client, "", (note, "audio/ogg"))
    assert held.cost_usd == Decimal("0.06")  # ten minutes at 0.006 USD: paid, and in the spend
    handoff.release(db.session.get(type(texter), PHONE))
    db.session.commit()
    task = text_in(client, "Where is my order?")
    assert (task.status, task.refusal_reason) == ("completed", None)


def test_the_local_media_store_keeps_its_files_media_retention_days(app, media_store):
    """Regression: MEDIA_STORE_DIR kept every picture and voice note ever tried with `flask
    sms simulate --media` or Try it, growing for ever; the hourly retention job now deletes
    its files as it drops old pictures' bytes, and nothing else in the folder."""
    import os

    from sms_agent import jobs
    from sms_agent.vendors.twilio_media import MediaFetchError

    app.config["MEDIA_RETENTION_DAYS"] = 30
    old, new = media_store.save(PNG, "image/png"), media_store.save(OGG, "audio/ogg")
    notes = media_store.folder / "NOTES.txt"
    notes.write_text("the operator's own file")
    month_ago = time.time() - 31 * 86400
    for path in [*media_store.folder.glob(old.rsplit("/", 1)[1] + "*"), notes]:
        os.utime(path, (month_ago, month_ago))

    app.config["MEDIA_RETENTION_DAYS"] = 0
    jobs.forget_old_pictures.apply().get()
    assert media_store.fetch(old).data == PNG

    app.config["MEDIA_RETENTION_DAYS"] = 30
    jobs.forget_old_pictures.apply().get()
    with pytest.raises(MediaFetchError, match="not in the local media store"):
        media_store.fetch(old)
    assert media_store.fetch(new).content_type == "audio/ogg"
    assert sorted(p.name for p in media_store.folder.iterdir()) == sorted(
        [new.rsplit("/", 1)[1], new.rsplit("/", 1)[1] + ".type", "NOTES.txt"]
    )


def test_a_task_whose_voice_notes_took_long_to_read_is_not_answered_twice(
    app, client, texter, twilio_server, openai_server, monkeypatch
):
    """Regression: the stale clock of a task being answered ran from its claim, so reading
    its voice notes (each a download and a transcription, up to MEDIA_TIMEOUT and
    OPENAI_TIMEOUT) counted toward STALE_TASK_SECONDS: a task whose reading had taken longer
    looked abandoned while its run waited for the model, and the sweeper handed it to a
    second run, which asked the model again and texted a second answer, both paid for. The
    claim is renewed once the reading is done, so only the model's wait counts."""
    from datetime import timedelta

    from sms_agent.answering import pipeline
    from sms_agent.models import types
    from sms_agent.ops.sweeper import claim_stranded

    later, clock = [timedelta(0)], types.clock
    monkeypatch.setattr(types, "clock", lambda: clock() + later[0])
    urls = [twilio_server.serve(media_path(), "audio/ogg", OGG) for _ in range(2)]
    form = inbound_form(
        "",
        NumMedia="2",
        **{f"MediaUrl{n}": url for n, url in enumerate(urls)},
        **{f"MediaContentType{n}": "audio/ogg" for n in range(2)},
    )
    signed_post(client, "/sms/inbound", form)
    task_id = db.session.scalar(sa.select(Task.id).where(Task.message_sid == form["MessageSid"]))
    answer_model, second_run = openai_server.default, []

    def slow_server(method, path, body):
        if path.endswith("/audio/transcriptions"):
            later[0] += timedelta(seconds=app.config["STALE_TASK_SECONDS"] * 0.6)
        elif not second_run:  # the model is asked: meanwhile, the sweep
            with app.app_context():
                second_run.append(claim_stranded())
                db.session.commit()
                if second_run[0]:
                    second_run.append(pipeline.answer(task_id))
                db.session.remove()
        return answer_model(method, path, body)

    openai_server.default = slow_server
    assert pipeline.answer(task_id) == "answered"

    assert second_run == [[]]
    assert len(chat_requests(openai_server)) == 1
    assert [m.kind for m in outbox()] == ["reply"]


def test_a_question_beside_a_voice_note_that_could_not_be_fetched_is_answered_after_a_note(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a voice note Twilio could not hand over (deleted, a timeout) failed the
    whole text, and the question typed beside it went unanswered, where a picture that could
    not be fetched is skipped. The words are answered after the note on the voice note, and
    staff get the ErrorLog a voice note sent alone gets."""
    app.config["MEDIA_TIMEOUT"] = 1  # Twilio's 404 is not asked again
    voice = twilio_server.url + media_path()  # 404: the media was deleted
    task, logged = answered_beside_a_voice_note(client, openai_server, voice)
    assert logged.error_type == "twilio_error" and "404" in logged.error_message


def answered_beside_a_voice_note(client, openai_server, voice: str) -> tuple[Task, ErrorLog]:
    """A question texted beside the voice note at `voice`, answered after the note on the
    voice note, which is recorded failed: the task and staff's one ErrorLog on it."""
    task = text_in(client, "What is the capital of France?", (voice, "audio/ogg"))
    assert task.status == "completed"
    note = note_before_the_answer_to(openai_server, "What is the capital of France?")
    assert note.kind == "voice_note"
    [logged] = errors()
    assert (logged.task_id, task.media[0].status) == (task.id, "failed")
    return task, logged


def test_a_question_beside_a_voice_note_never_transcribed_is_answered_when_retries_run_out(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a voice note whose transcription kept failing (the server busy at every
    try) failed the whole text once the retries ran out, and the question typed beside it
    got an apology, where a voice note that could not be fetched is left out and the rest
    answered. On the last try it is given up on alone: the words are answered after the
    note on the voice note, and staff get the ErrorLog of the transcription's failure."""
    for _ in range(1 + app.config["OPENAI_MAX_RETRIES"]):
        openai_server.then(503, openai_error("The server is overloaded", None))
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task, logged = answered_beside_a_voice_note(client, openai_server, url)
    assert logged.error_type == "openai_error" and "overloaded" in logged.error_message
    assert task.media[0].error_message.startswith("not transcribed:")


def test_a_question_beside_a_voice_note_whose_server_says_wait_an_hour_is_answered_at_once(
    app, client, texter, twilio_server, openai_server
):
    """Regression: a transcription server that asked to be asked again in an hour (past
    the longest a job waits for a server) made the job give up before its last try, and
    the question typed beside the voice note got an apology. The voice note is given up on
    alone at once, as on the last try, and the words answered without a retry."""
    limited = openai_error("Rate limit reached: audio seconds per day. Try again in 1h.", None)
    openai_server.then(429, limited, {"Retry-After": "3600"})
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task, logged = answered_beside_a_voice_note(client, openai_server, url)
    assert logged.error_type == "openai_error" and "per day" in logged.error_message
    assert task.media[0].error_message.startswith("not transcribed:")
    transcriptions = [r for r in openai_server.requests if "transcriptions" in r[1]]
    assert len(transcriptions) == 1


def test_a_voice_note_alone_never_transcribed_still_gets_the_apology(
    app, client, texter, twilio_server, openai_server
):
    for _ in range(1 + app.config["OPENAI_MAX_RETRIES"]):
        openai_server.then(503, openai_error("The server is overloaded", None))
    url = twilio_server.serve(media_path(), "audio/ogg", OGG)
    task = text_in(client, "", (url, "audio/ogg"))

    assert task.status == "failed" and chat_requests(openai_server) == []
    assert [m.kind for m in outbox()] == ["apology"]
    [logged] = errors()
    assert logged.error_type == "openai_error" and "overloaded" in logged.error_message
    assert db.session.get(type(texter), PHONE).monthly_requests == 0


@pytest.mark.parametrize(
    "refusal",
    [
        (400, openai_error("Invalid image.", "invalid_image", "invalid_request_error")),
        (500, LLAMA_CPP_UNLOADED),
        (413, Raw(b"<html><title>413 Request Entity Too Large</title></html>", "text/html")),
    ],
    ids=["invalid image", "llama.cpp cannot decode it", "a proxy finds it too large"],
)
def test_a_question_beside_a_picture_the_model_cannot_open_is_answered_after_a_note(
    app, client, texter, twilio_server, openai_server, refusal
):
    """Regression: a picture the model server refused as one it could not open (broken, a
    sticker, too large) failed the whole text, and the question typed beside it went
    unanswered, where a picture that could not be fetched is left out and the rest
    answered. The words are asked again alone, after the note naming the picture, and
    staff get the ErrorLog; the picture's row says why."""
    openai_server.then(*refusal)
    url = twilio_server.serve(media_path(), "image/png", PNG)
    task = text_in(client, "And what is the capital of France?", (url, "image/png"))

    assert task.status == "completed"
    with_picture, words_alone = chat_requests(openai_server)
    assert isinstance(with_picture["messages"][-1]["content"], list)
    assert words_alone["messages"][-1]["content"] == "And what is the capital of France?"
    note, reply = outbox()
    assert (note.kind, reply.kind) == ("picture_note", "reply")
    assert note.body.startswith("Note: I couldn't open your picture, so I'm answering the rest")
    [logged] = errors()
    assert (logged.error_type, logged.task_id) == ("openai_error", task.id)
    [picture] = task.media
    assert picture.status == "failed" and "refused by the model server" in picture.error_message
    assert task.user.monthly_requests == 1


@pytest.mark.parametrize("how", ["Return to AI", "the idle hand-back"])
def test_a_held_voice_note_nobody_saw_is_answered_from_its_transcript_on_hand_back(
    app, client, texter, twilio_server, openai_server, how
):
    """A voice note held for staff is transcribed then; handed back unseen, the model is
    asked what it said, and it is not fetched or transcribed (nor paid for) again."""
    from datetime import timedelta

    from sms_agent import jobs
    from sms_agent.models import Conversation, utcnow
    from tests.factories import make_staff

    text_in(client, "AGENT")
    note = twilio_server.serve(media_path(), "audio/ogg", OGG)
    held = text_in(client, "", (note, "audio/ogg"))
    assert held.refusal_reason == "held_for_staff"
    with simulator.jobs_inline():
        if how == "Return to AI":
            owed = handoff.release(texter, make_staff("ann", is_admin=True), seen=0)
            db.session.commit()
            owed.enqueue()
        else:
            app.config["HANDOFF_IDLE_MINUTES"] = 30
            db.session.get(Conversation, PHONE).staff_clock_at = utcnow() - timedelta(hours=1)
            db.session.commit()
            assert jobs.release_idle_conversations() == 1
    db.session.expire_all()
    task = db.session.get(Task, held.id)
    assert (task.status, task.refusal_reason) == ("completed", None)
    [chat] = chat_requests(openai_server)
    assert "What time is it in Tokyo?" in str(chat["messages"][-1]["content"])
    transcriptions = [p for _m, p, _b in openai_server.requests if "transcriptions" in p]
    fetches = [p for method, p, _b in twilio_server.requests if method == "GET"]
    assert len(transcriptions) == 1 and len(fetches) == 1
    assert len(db.session.scalars(sa.select(ModelCall)).all()) == 2  # the transcript, the answer
    assert outbox()[-1].kind == "reply"
