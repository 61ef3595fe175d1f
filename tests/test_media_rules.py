"""The media rules one by one: which types are read, which URLs may be fetched, what the
model is asked."""

from __future__ import annotations

import pytest

from config import Config
from sms_agent.inbound.media import attachments, split_channel
from sms_agent.media import kind_of
from sms_agent.media.read import MediaInput
from sms_agent.vendors.twilio_media import (
    LocalMediaStore,
    MediaFetchError,
    MediaHost,
    check_media_url,
    media_hosts,
)
from tests.standins import PNG, media_path

API = "https://api.twilio.com"


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/jpeg", "image"),
        ("IMAGE/PNG", "image"),
        ("image/jpg", "image"),  # was refused as "not this kind of file"
        ("image/pjpeg", "image"),
        ("image/gif", "image"),
        ("image/webp", "image"),
        ("image/heic", "other"),
        ("image/svg+xml", "other"),
        ("audio/ogg; codecs=opus", "audio"),
        ("audio/amr", "audio"),
        ("audio/mpeg", "audio"),
        ("audio/mp4", "audio"),
        # Names handsets and Twilio give voice recordings, once told "not this kind of file"
        ("audio/amr-nb", "audio"),
        ("audio/3gpp", "audio"),
        ("audio/3gpp2", "audio"),
        ("audio/vnd.wave", "audio"),
        ("audio/wave", "audio"),
        ("audio/vorbis", "audio"),
        ("audio/opus", "audio"),
        ("audio/x-flac", "audio"),
        ("video/mp4", "other"),
        ("text/vcard", "other"),
        ("text/plain", "text"),  # the words of a text some phones send as MMS
        ("", "other"),
    ],
)
def test_pictures_and_audio_are_read_and_everything_else_is_refused(content_type, kind):
    assert kind_of(content_type) == kind


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("whatsapp:+15551230000", ("+15551230000", "whatsapp")),
        ("WhatsApp:+15551230000", ("+15551230000", "whatsapp")),
        ("+15551230000", ("+15551230000", "sms")),
    ],
)
def test_the_whatsapp_prefix_names_the_channel_of_the_same_number(sender, expected):
    assert split_channel(sender) == expected


def test_attachments_are_read_in_twilios_order_and_capped_at_ten():
    form = {"NumMedia": "12"}
    form |= {f"MediaUrl{n}": f"{API}/m{n}" for n in range(12)}
    form |= {f"MediaContentType{n}": "image/png" for n in range(12)}
    found = attachments(form)
    assert [item.position for item in found] == list(range(10))
    assert found[0].as_json() == {
        "position": 0,
        "content_type": "image/png",
        "kind": "image",
        "url": f"{API}/m0",
    }


def test_a_refused_attachment_keeps_no_url():
    [item] = attachments({"NumMedia": "1", "MediaUrl0": "x", "MediaContentType0": "video/mp4"})
    assert "url" not in item.as_json()


def test_a_media_count_larger_than_the_urls_sent_counts_only_what_came():
    """Each missing MediaUrl became an "unreadable file" the texter was told about."""
    form = {"NumMedia": "3", "MediaUrl1": f"{API}/m1", "MediaContentType1": "image/png"}
    assert [(item.position, item.kind) for item in attachments(form)] == [(1, "image")]


@pytest.mark.parametrize("count", ["-3", "lots", "", "1" * 4301])
def test_a_garbage_media_count_is_none(count):
    assert attachments({"NumMedia": count}) == []


@pytest.mark.parametrize("count", ["\u0661", "\uff11", "1_0", "+1", "\u00b9"])
def test_a_media_count_in_other_digits_than_0_9_is_none(count):
    """Regression: NumMedia was read with int(), which takes an Arabic-Indic "١", a
    fullwidth "１", "1_0" and "+1" as numbers: Twilio writes it in the digits 0-9, so a form
    writing it otherwise is not Twilio's, and counts no media, as any garbage count."""
    form = {"NumMedia": count, "MediaUrl0": f"{API}/m0", "MediaContentType0": "image/png"}
    assert attachments(form) == []


CONFIG = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_API_BASE_URL": None}


def test_a_media_url_of_our_account_on_twilios_host_may_be_fetched():
    assert check_media_url(API + media_path(), CONFIG)["media"].startswith("ME")
    assert check_media_url("https://API.twilio.com:443" + media_path(), CONFIG)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example" + media_path(),
        "http://api.twilio.com" + media_path(),  # not over TLS
        "https://api.twilio.com.evil.example" + media_path(),
        "https://api.twilio.com:8443" + media_path(),
        "https://user@evil.example/@api.twilio.com" + media_path(),
        "https://evil.example\\@api.twilio.com" + media_path(),  # urllib reads Twilio's host
        "https://ac:token@api.twilio.com" + media_path(),
        API + media_path() + "?redirect=https://evil.example",
        API + media_path().replace("AC" + "0" * 32, "AC" + "1" * 32),  # another account
        API + "/2010-04-01/Accounts/AC" + "0" * 32 + "/Messages.json",
        "file:///etc/passwd",
        "",
    ],
)
def test_anything_else_is_refused_before_a_connection_is_made(url):
    with pytest.raises(MediaFetchError) as refused:
        check_media_url(url, CONFIG)
    assert refused.value.refused


def test_the_tests_api_base_replaces_twilios_host():
    config = {**CONFIG, "TWILIO_API_BASE_URL": "http://127.0.0.1:4010"}
    assert check_media_url("http://127.0.0.1:4010" + media_path(), config)
    with pytest.raises(MediaFetchError):
        check_media_url(API + media_path(), config)


def test_redirect_hosts_are_https_hosts_or_exact_origins_with_an_optional_path():
    config = {"TWILIO_MEDIA_HOSTS": "mms.twiliocdn.com, http://127.0.0.1:9000 ,s3.example/b"}
    assert media_hosts(config) == {
        MediaHost("https://mms.twiliocdn.com"),
        MediaHost("http://127.0.0.1:9000"),
        MediaHost("https://s3.example", "/b/"),
    }


#: Where Twilio redirects a media URL of an account that does not enforce HTTP auth on media.
TWILIO_S3 = "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC" + "0" * 32


@pytest.mark.parametrize(
    ("url", "followed"),
    [
        ("https://mms.twiliocdn.com/AC" + "0" * 32 + "/abc?Expires=1&Signature=x", True),
        ("https://media.twiliocdn.com/AC" + "0" * 32 + "/abc", True),
        # Twilio's bucket on S3: every account without "Enforce HTTP Auth on Media URLs"
        # had each picture and voice note refused, and the texter told to send it again
        (TWILIO_S3 + "/45d0bd8624bc06dd74c042cd2fa3eff7", True),
        # anyone's bucket on the same host is not Twilio's
        ("https://s3-external-1.amazonaws.com/other-bucket/x", False),
        ("https://s3-external-1.amazonaws.com/media.twiliocdn.com.evil/x", False),
        # requests resolves the dots: this one asks S3 for /other-bucket/x
        ("https://s3-external-1.amazonaws.com/media.twiliocdn.com/../other-bucket/x", False),
        ("http://s3-external-1.amazonaws.com/media.twiliocdn.com/AC/x", False),
        ("https://evil.example/media.twiliocdn.com/AC/x", False),
    ],
)
def test_a_redirect_leads_by_default_only_to_twilios_own_storage(url, followed):
    hosts = media_hosts({"TWILIO_MEDIA_HOSTS": Config.TWILIO_MEDIA_HOSTS})
    assert any(host.holds(url) for host in hosts) is followed


def test_the_local_store_answers_the_urls_it_made_and_keeps_the_size_limit(tmp_path):
    config = {**CONFIG, "MEDIA_STORE_DIR": str(tmp_path), "MEDIA_MAX_BYTES": 1024}
    store = LocalMediaStore(config)
    url = store.save(PNG, "image/png")
    assert url.startswith(API + "/2010-04-01/Accounts/AC")
    assert store.fetch(url).data == PNG and store.fetch(url).content_type == "image/png"
    with pytest.raises(MediaFetchError, match="MEDIA_MAX_BYTES"):
        store.fetch(store.save(b"\x00" * 2000, "image/png"))
    with pytest.raises(MediaFetchError, match="not in the local media store"):
        store.fetch(API + media_path())


def test_the_model_gets_the_words_the_transcripts_or_a_default_question():
    assert MediaInput().question("hi") == "hi"
    assert MediaInput(transcripts=["said this"]).question("") == "said this"
    assert MediaInput(transcripts=["said this"]).question("wrote") == "wrote\nsaid this"
    assert MediaInput(images=["data:x"]).question(" ") == "What is in this picture?"
    content = MediaInput(images=["data:x"]).content("q")
    assert content == [
        {"type": "text", "text": "q"},
        {"type": "image_url", "image_url": {"url": "data:x"}},
    ]
    assert MediaInput().content("q") == "q"
