"""The deployed web server, real gunicorn started with gunicorn.conf.py: which forwarded
headers it believes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench import harness
from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db

#: One server with no trusted proxy, and one behind a trusted proxy; started together.
SERVERS = {
    "threads": {"WEB_THREADS": 4, "TRUSTED_PROXIES": 0},
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
