"""The deployed web server, real gunicorn started with gunicorn.conf.py: what it answers to
requests it refuses before the app sees them, and which forwarded headers it believes."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from gunicorn.http import errors
from gunicorn.http.body import Body, ChunkedReader
from gunicorn.http.unreader import IterUnreader

from bench import harness
from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.web_server import ReadableBody, refusal_for

#: One server per worker class, and one behind a trusted proxy; started together.
SERVERS = {
    "threads": {"WEB_THREADS": 4, "TRUSTED_PROXIES": 0},
    "sync": {"WEB_THREADS": 1, "TRUSTED_PROXIES": 0},
    "proxied": {"WEB_THREADS": 4, "TRUSTED_PROXIES": 1},
}


@dataclass
class Server:
    port: int
    process: harness.Process

    def answers_or_exited(self) -> bool:
        healthy = harness.http_ok(f"http://127.0.0.1:{self.port}/healthz")
        return healthy or self.process.popen.poll() is not None

    @property
    def inbound_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms/inbound"

    def exchange(self, raw: bytes) -> tuple[int, str, bytes]:
        """Send `raw` bytes as they are; the status, Content-Type and body of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(raw)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return response.status, response.getheader("Content-Type", ""), response.read()

    def text(self, signed_url: str, headers: dict[str, str]) -> requests.Response:
        """An inbound SMS signed over `signed_url`, posted to this server with `headers`."""
        form = harness.inbound_form("+15551230000", "hello")
        headers = {"X-Twilio-Signature": harness.signature(signed_url, form), **headers}
        return requests.post(self.inbound_url, data=form, headers=headers, timeout=10)


def _schema(work: Path) -> str:
    url = f"sqlite:///{work / 'web.sqlite'}"
    schema_app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
    with schema_app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


def _start(name: str, work: Path, database_url: str, **settings) -> Server:
    """gunicorn as the Procfile runs it, on a free port, in production mode."""
    port = harness.free_port()
    broker_url = f"sqla+sqlite:///{work / 'broker.sqlite'}"
    env = harness.stack_env(database_url, broker_url, None, PORT=port, **settings)
    argv = [harness.executable("gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    return Server(port, harness.Process(name, argv, env, work))


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    work = tmp_path_factory.mktemp("web")
    database_url = _schema(work)
    started: dict[str, Server] = {}
    try:
        for name, settings in SERVERS.items():
            started[name] = _start(name, work, database_url, WEB_CONCURRENCY=1, **settings)
        for server in started.values():
            harness.wait_until(server.answers_or_exited, 30, "gunicorn")
            assert server.process.popen.poll() is None, server.process.log()
        yield started
    finally:
        for server in started.values():
            server.process.stop()


@pytest.fixture(params=["threads", "sync"])
def server(request, servers) -> Server:
    return servers[request.param]


def request_with(*, target: str = "/healthz", headers: list[str] = ()) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


REFUSED = {
    "url_of_10000_characters": (
        request_with(target="/api/users/?search=" + "a" * 10_000),
        414,
        {"max_request_line": 4094},
    ),
    "header_too_long": (
        request_with(headers=["X-Long: " + "a" * 9000]),
        431,
        {"max_header_fields": 100, "max_header_field_size": 8190},
    ),
    "too_many_headers": (
        request_with(headers=[f"X-Header-{n}: {n}" for n in range(150)]),
        431,
        {"max_header_fields": 100, "max_header_field_size": 8190},
    ),
    "garbage_request_line": (b"garbage\r\n\r\n", 400, None),
    "unknown_http_version": (b"GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n", 400, None),
}


@pytest.mark.parametrize(("raw", "status", "details"), REFUSED.values(), ids=REFUSED.keys())
def test_requests_gunicorn_refuses_get_the_apis_json_error_shape(server, raw, status, details):
    answered, content_type, body = server.exchange(raw)
    assert answered == status, body
    assert content_type == "application/json"
    error = json.loads(body)
    assert set(error) == {"error", "details"}
    assert isinstance(error["error"], str) and error["error"]
    if details is None:
        assert isinstance(error["details"]["reason"], str)
    else:
        assert error["details"] == details


def test_a_normal_request_still_works_on_the_same_server(server):
    status, content_type, body = server.exchange(request_with(target="/api/openapi.json"))
    assert status == 200
    assert content_type == "application/json"
    assert json.loads(body)["openapi"].startswith("3.")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.InvalidHeader("X-Bad"), 400),
        (errors.InvalidProxyHeader("bad"), 400),
        (errors.InvalidResponseHeader("X-From-The-App"), 500),
        (RuntimeError("the app failed"), 500),
    ],
)
def test_only_the_clients_own_mistakes_are_answered_as_client_errors(exc, status):
    assert refusal_for(exc).status == status


MALFORMED_CHUNKS = {
    "chunk_size_not_hex": b"zz\r\n",
    "chunk_longer_than_its_size": b"5\r\nTo=%2B1555\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("chunks", MALFORMED_CHUNKS.values(), ids=MALFORMED_CHUNKS.keys())
def test_a_malformed_chunked_body_is_the_clients_400_not_a_500(server, chunks):
    """Regression: gunicorn parses a chunked body as the app reads it, and its parse error
    reached the app as an unexpected exception: a 500 and a traceback in the error log."""
    head = [
        "POST /sms/inbound HTTP/1.1",
        "Host: 127.0.0.1",
        "X-Twilio-Signature: read-the-form-first",
        "Content-Type: application/x-www-form-urlencoded",
        "Transfer-Encoding: chunked",
    ]
    status, _, body = server.exchange("\r\n".join([*head, "", ""]).encode() + chunks)
    assert status == 400, body
    assert b"Malformed request body" in body


class Request:
    """What gunicorn's chunked reader needs of its request, and what ReadableBody sets."""

    must_close = False


def test_an_api_request_with_a_malformed_chunked_body_gets_the_json_400(app):
    """Through gunicorn's own body parser, as the workers hand it to the app."""
    from tests.api.conftest import token_header
    from tests.factories import make_staff, make_token

    request = Request()
    body = Body(ChunkedReader(request, IterUnreader([b"zz\r\n"])))
    headers = token_header(make_token(make_staff("admin", is_admin=True)))

    response = app.test_client().post(
        "/api/users/",
        headers={**headers, "Transfer-Encoding": "chunked"},
        content_type="application/json",
        environ_overrides={"wsgi.input": ReadableBody(body), "wsgi.input_terminated": True},
    )

    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Malformed request body: Invalid chunk size: b'zz'",
        "details": {},
    }
    assert request.must_close  # the rest of the body is not read as a next request


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def test_without_trusted_proxies_forwarded_headers_do_not_change_the_signed_url(servers):
    server = servers["threads"]
    https_url = server.inbound_url.replace("http://", "https://")
    assert server.text(https_url, FORWARDED).status_code == 403
    assert server.text(server.inbound_url, FORWARDED).status_code == 200


def test_behind_one_trusted_proxy_the_forwarded_scheme_and_host_are_honoured(servers):
    server = servers["proxied"]
    headers = {**FORWARDED, "X-Forwarded-Host": "sms.example.com"}
    assert server.text("https://sms.example.com/sms/inbound", headers).status_code == 200
    assert server.text(server.inbound_url, headers).status_code == 403


def test_the_access_log_shows_only_the_last_four_digits_of_numbers_in_urls(servers):
    """The servers log JSON (production), as the README's Operations section describes."""
    server = servers["threads"]
    for target in ("/api/users/%2B15551230300/", "/api/tasks/?user_phone=%2B15551230300"):
        server.exchange(request_with(target=target))
    harness.wait_until(lambda: server.process.log().count("***0300") >= 2, 10, "access lines")
    assert "1230300" not in server.process.log()


def test_each_line_the_app_logs_is_written_once(servers):
    """In production's JSON format gunicorn gives the root logger a handler of its own; the
    app's lines must not reach it as well as the app's handler."""
    server = servers["threads"]
    form = harness.inbound_form("+15551230000", "hello")
    headers = {"X-Twilio-Signature": harness.signature(server.inbound_url, form)}
    assert requests.post(server.inbound_url, data=form, headers=headers, timeout=10).ok

    lines = [line for line in server.process.log().splitlines() if form["MessageSid"] in line]
    assert len(lines) == 1, lines
    assert json.loads(lines[0])["name"] == "sms_agent.inbound"


def test_requests_gunicorn_refuses_are_warned_of_at_most_once_a_minute(servers):
    """Regression: gunicorn's "Invalid request from ip=..." WARNING was written for every
    request it refused, so anyone could fill the logs with garbled requests and bury the
    lines that matter. Now it is said once a minute, like a bad webhook signature; the
    access log still has a line per request."""
    server = servers["proxied"]  # refuses nothing in the other tests
    for _ in range(5):
        assert server.exchange(b"garbage\r\n\r\n")[0] == 400
    server.exchange(request_with(target="/healthz?after=refusals"))
    harness.wait_until(lambda: "after=refusals" in server.process.log(), 10, "access line")
    assert server.process.log().count("Invalid request from") == 1
