"""The SMS backends: the real twilio SDK against a local stand-in, and the console outbox."""

from __future__ import annotations

import base64
import re

import pytest
import requests

from sms_agent.vendors.twilio import (
    OutboxBackend,
    SmsError,
    TwilioBackend,
    get_sms_backend,
    quiet_console,
)
from tests.standins import (
    Raw,
    SilentServer,
    twilio_error,
    twilio_message,
    twilio_standin,
    unused_port,
)

ACCOUNT = "AC" + "0" * 32


def test_twilio_backend_posts_the_message_to_the_configured_base_url(app, twilio_server):
    result = get_sms_backend().send("+15551230000", "Hello from the agent")
    assert result.sid.startswith("SM") and result.status == "queued"
    [(method, path, form)] = twilio_server.requests
    assert (method, path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    assert form == {"To": "+15551230000", "From": "+15005550006", "Body": "Hello from the agent"}


def test_status_callback_is_sent_when_a_public_url_is_known(app, twilio_server):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.com/"
    get_sms_backend().send("+15551230000", "hi")
    assert twilio_server.requests[0][2]["StatusCallback"] == "https://sms.example.com/sms/status"


def test_the_status_callback_names_the_message_it_reports_on(app, twilio_server):
    """So that a report arriving before Twilio's answer to us still finds the message."""
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.com/"
    get_sms_backend().send("+15551230000", "hi", reference="0b5c6a1e-0000-4000-8000-00000000002a")
    callback = twilio_server.requests[0][2]["StatusCallback"]
    expected = "https://sms.example.com/sms/status?message=0b5c6a1e-0000-4000-8000-00000000002a"
    assert callback == expected


def test_twilio_requests_carry_basic_auth(app, twilio_server):
    get_sms_backend().send("+15551230000", "hi")
    expected = base64.b64encode(f"{ACCOUNT}:test-auth-token".encode()).decode()
    assert twilio_server.headers[0]["Authorization"] == f"Basic {expected}"


@pytest.mark.parametrize(
    "status,code,retryable,unsubscribed",
    [
        (500, 20500, True, False),
        (503, 20503, True, False),
        (429, 20429, True, False),
        (400, 21211, False, False),
        (400, 21610, False, True),
    ],
)
def test_twilio_errors_say_whether_to_retry(
    app, twilio_server, status, code, retryable, unsubscribed
):
    twilio_server.then(status, twilio_error(status, code, "nope"))
    with pytest.raises(SmsError) as caught:
        get_sms_backend().send("+15551230000", "hi")
    error = caught.value
    assert (error.code, error.status, error.retryable, error.unsubscribed) == (
        code,
        status,
        retryable,
        unsubscribed,
    )


def test_an_unreachable_twilio_is_retryable(app):
    app.config.update(SMS_BACKEND="twilio", TWILIO_API_BASE_URL=f"http://127.0.0.1:{unused_port()}")
    with pytest.raises(SmsError) as caught:
        TwilioBackend(app.config).send("+15551230000", "hi")
    assert caught.value.retryable and caught.value.code is None


def test_outbox_prints_the_sms_as_a_phone_shows_it(app, capsys):
    result = OutboxBackend(app.config).send("+15551230000", "Hi there")
    assert re.fullmatch(r"SM[0-9a-f]{32}", result.sid) and result.status == "sent"
    out = capsys.readouterr().out
    assert "SMS from +15005550006 to +15551230000" in out and "Hi there" in out


def test_outbox_can_be_quieted_for_the_simulator(app, capsys):
    token = quiet_console.set(True)
    try:
        OutboxBackend(app.config).send("+15551230000", "Hi there")
    finally:
        quiet_console.reset(token)
    assert capsys.readouterr().out == ""


def test_backend_follows_config(app):
    assert isinstance(get_sms_backend(), OutboxBackend)
    app.config["SMS_BACKEND"] = "twilio"
    assert isinstance(get_sms_backend(), TwilioBackend)
    app.config["SMS_BACKEND"] = "pigeon"
    with pytest.raises(RuntimeError, match="SMS_BACKEND"):
        get_sms_backend()


def test_a_lost_answer_from_twilio_is_ambiguous(app):
    with SilentServer() as hanging:
        app.config.update(TWILIO_API_BASE_URL=hanging.url, TWILIO_TIMEOUT=0.3)
        with pytest.raises(SmsError) as caught:
            TwilioBackend(app.config).send("+15551230000", "hi")
    assert caught.value.ambiguous and caught.value.retryable


@pytest.mark.parametrize(
    "body",
    [Raw(b"<html>OK</html>", "text/html"), Raw(b'{"sid": "SM1'), [], {"sid": "SM1", "status": []}],
    ids=["html", "json-cut-short", "no-object", "odd-status"],
)
def test_a_2xx_that_is_no_message_is_an_ambiguous_failure(app, twilio_server, body):
    """Twilio took the message but what it said is unreadable: it may be on its way, so it
    must not be sent again (the job crashed instead, and the apology followed the answer)."""
    twilio_server.then(201, body)
    with pytest.raises(SmsError) as caught:
        get_sms_backend().send("+15551230000", "hi")
    assert caught.value.ambiguous and caught.value.retryable
    assert "unreadable answer from Twilio" in str(caught.value)


def test_a_price_twilio_answered_unreadably_is_asked_for_again_later(app, twilio_server):
    twilio_server.then(200, Raw(b"<html>OK</html>", "text/html"))
    with pytest.raises(SmsError) as caught:
        get_sms_backend().fetch_price("SM" + "1" * 32)
    assert caught.value.retryable and "unreadable answer from Twilio" in str(caught.value)


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_from_twilios_edge_is_ambiguous(app, twilio_server, status):
    """Regression: Twilio's edge answering 502 or 504 (it got no answer in time from the
    service behind it, which may have taken the message) was a plain failure: the part was
    marked failed and sent again by the job's retry, so the texter could get it twice."""
    twilio_server.then(status, twilio_error(status, 20000 + status, "Bad Gateway"))
    with pytest.raises(SmsError) as caught:
        get_sms_backend().send("+15551230000", "hi")
    assert caught.value.ambiguous and caught.value.retryable


def test_a_refused_connection_is_not_ambiguous(app):
    app.config["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(SmsError) as caught:
        TwilioBackend(app.config).send("+15551230000", "hi")
    assert not caught.value.ambiguous


def test_consecutive_sends_reuse_one_connection(app, twilio_server):
    for number in ("+15551230000", "+15551230001", "+15551230002"):
        get_sms_backend().send(number, "hi")
    assert len(twilio_server.client_ports) == 3
    assert len(set(twilio_server.client_ports)) == 1


def test_a_kept_twilio_connection_the_server_closed_meanwhile_is_replaced(app, twilio_server):
    twilio_server.hang_up_after_reply = True
    get_sms_backend().send("+15551230000", "hi")
    twilio_server.hung_up()  # idle: the server's FIN has come
    assert get_sms_backend().send("+15551230000", "hi again").sid
    assert len(set(twilio_server.client_ports)) == 2


def test_a_new_twilio_base_url_is_used_at_once(app, twilio_server):
    get_sms_backend().send("+15551230000", "hi")
    with twilio_standin() as other:
        app.config["TWILIO_API_BASE_URL"] = other.url
        get_sms_backend().send("+15551230000", "hi again")
    assert len(twilio_server.requests) == 1 and len(other.requests) == 1


def test_a_proxy_named_in_the_environment_carries_every_send(app, twilio_server, monkeypatch):
    """The kept client reads HTTP(S)_PROXY and NO_PROXY once per host (requests would walk
    the whole environment on every send); the proxy is still used, for each send."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", twilio_server.url)  # the stand-in plays the proxy
    app.config["TWILIO_API_BASE_URL"] = "http://twilio.invalid"
    for number in ("+15551230000", "+15551230001"):
        assert get_sms_backend().send(number, "hi").sid
    assert [path.split("/2010-04-01/")[0] for _m, path, _f in twilio_server.requests] == [
        "http://twilio.invalid"
    ] * 2


def test_a_host_in_no_proxy_is_reached_directly(app, twilio_server, monkeypatch):
    for name in ("no_proxy", "http_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port()}")  # nobody listens
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for number in ("+15551230000", "+15551230001"):
        assert get_sms_backend().send(number, "hi").sid
    assert len(twilio_server.requests) == 2


def test_each_send_carries_its_own_form_under_the_same_headers(app, twilio_server):
    """The kept session prepares a send's address, headers and auth once (twilio_http.py);
    every send still goes out with its own form, measured by its own Content-Length."""
    texts = ["hi", "a longer second text, with commas & an ampersand", "é"]
    for number, text in zip(("+15551230000", "+15551230001", "+15551230002"), texts, strict=True):
        get_sms_backend().send(number, text)
    assert [(form["To"], form["Body"]) for _m, _p, form in twilio_server.requests] == [
        ("+15551230000", texts[0]),
        ("+15551230001", texts[1]),
        ("+15551230002", texts[2]),
    ]
    sizes = [int(headers.pop("Content-Length")) for headers in twilio_server.headers]
    assert sizes[0] < sizes[2] < sizes[1]
    assert twilio_server.headers[1] == twilio_server.headers[0] == twilio_server.headers[2]
    assert twilio_server.headers[0]["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_sends_form_is_encoded_without_requests_asking_what_kind_of_body_it_is(
    app, twilio_server, monkeypatch
):
    """The kept session encodes a send's form itself (twilio_http._prepare_form): requests'
    prepare_body first asks twice whether a dict is a file, against a typing Protocol,
    which cost about 0.35 M instructions a send. The same form arrives, Unicode, an
    ampersand and a callback address with a query included."""
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.com/"
    asked = []
    prepare_body = requests.PreparedRequest.prepare_body

    def asking(prepared, data, files, json=None):
        asked.append(data)
        return prepare_body(prepared, data, files, json)

    monkeypatch.setattr(requests.PreparedRequest, "prepare_body", asking)
    text = "Café & crème: 50% off? +1 🙂"
    get_sms_backend().send("+15551230000", "hi")  # prepares the kept parts, without a body
    asked.clear()
    get_sms_backend().send("+15551230000", text, reference="42")
    assert asked == []
    form = twilio_server.requests[-1][2]
    assert form == {
        "To": "+15551230000",
        "From": "+15005550006",
        "Body": text,
        "StatusCallback": "https://sms.example.com/sms/status?message=42",
    }


def test_a_cookie_twilio_set_goes_back_with_the_next_send(app, twilio_server):
    """A load balancer's sticky cookie, say: a session holding cookies prepares each
    request whole, as requests does, so the cookie is sent."""
    body = twilio_message({"To": "+15551230000", "From": "+15005550006", "Body": "hi"})
    twilio_server.then(201, body, {"Set-Cookie": "lb=node-7; Path=/"})
    get_sms_backend().send("+15551230000", "hi")
    get_sms_backend().send("+15551230000", "hi again")
    assert "Cookie" not in twilio_server.headers[0]
    assert twilio_server.headers[1]["Cookie"] == "lb=node-7"
    assert twilio_server.requests[1][2]["Body"] == "hi again"
