"""ALLOWED_HOSTS: the app answers only for its own host names (Flask's TRUSTED_HOSTS), so no
URL it builds from the request (the https redirect, the API's page links, the signed URL of
a webhook) can name a host an attacker sent; probes reach it by any address."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

import config
from config import ProductionConfig, SettingError, TestingConfig
from sms_agent import create_app, simulator
from sms_agent.extensions import db
from sms_agent.models import Task
from tests.api.conftest import token_header
from tests.factories import make_staff, make_token
from tests.standins import inbound_form, signed_post

PRODUCTION = {
    "SECRET_KEY": "a-production-secret-key-of-enough-length",
    "TWILIO_AUTH_TOKEN": "test-auth-token",
    "CELERY_BROKER_URL": "memory://",
    "RATELIMIT_STORAGE_URI": "memory://",
    "WEB_CONCURRENCY": 1,
    "SMS_BACKEND": "console",
    "LLM_BACKEND": "offline",
    "LOG_FORMAT": "text",
    "METRICS_TOKEN": "s3cret-scrape",
}


@pytest.fixture
def build(app):
    """Apps on the test database, disposed of afterwards."""
    built = []

    def build(config_class=TestingConfig, **settings):
        other = create_app(
            config_class, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], **settings
        )
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def development(build):
    """The app as `make run` starts it: development, no ALLOWED_HOSTS, no PUBLIC_BASE_URL."""
    return build(APP_ENV="development", ALLOWED_HOSTS=None, PUBLIC_BASE_URL=None)


def test_development_answers_on_localhost_and_127_0_0_1(development):
    client = development.test_client()

    assert client.get("/admin/auth/login/").status_code == 200
    response = client.get("/admin/auth/login/", base_url="http://127.0.0.1:5000")
    assert response.status_code == 200


def test_another_host_gets_a_plain_400_outside_the_api(development):
    response = development.test_client().get("/admin/auth/login/", base_url="http://evil.example")

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert "evil.example" in response.get_data(as_text=True)


def test_another_host_gets_the_apis_json_400(development):
    staff = make_staff("ann")
    key = make_token(staff)
    db.session.commit()
    client = development.test_client()

    assert client.get("/api/tasks/", headers=token_header(key)).status_code == 200
    response = client.get("/api/tasks/", headers=token_header(key), base_url="http://evil.example")

    assert response.status_code == 400
    assert response.is_json
    assert "evil.example" in response.json["error"]


def test_a_forged_host_header_is_refused_not_put_in_the_apis_page_links(development):
    staff = make_staff("ann")
    key = make_token(staff)
    db.session.commit()

    response = development.test_client().get(
        "/api/tasks/?page_size=1", headers={**token_header(key), "Host": "evil.example"}
    )

    assert response.status_code == 400
    assert "evil.example/api" not in response.get_data(as_text=True)


def test_production_does_not_redirect_to_a_forged_host(build):
    production = build(ProductionConfig, PUBLIC_BASE_URL="https://sms.example.com", **PRODUCTION)
    client = production.test_client()

    ours = client.get("/admin/auth/login/", base_url="http://sms.example.com")
    assert ours.status_code == 302
    assert ours.headers["Location"] == "https://sms.example.com/admin/auth/login/"
    forged = client.get("/admin/auth/login/", base_url="http://evil.example")
    assert forged.status_code == 400
    assert "Location" not in forged.headers


def test_allowed_hosts_adds_names_and_subdomains(build):
    production = build(
        ProductionConfig,
        PUBLIC_BASE_URL="https://sms.example.com",
        ALLOWED_HOSTS=("admin.example.org", ".example.net"),
        **PRODUCTION,
    )
    client = production.test_client()

    for host in ("sms.example.com", "admin.example.org", "eu.example.net"):
        assert client.get("/api/openapi.json", base_url=f"https://{host}").status_code == 200
    for host in ("example.com", "localhost", "evil.example"):
        assert client.get("/api/openapi.json", base_url=f"https://{host}").status_code == 400


def test_ipv6_addresses_are_answered_as_written_in_allowed_hosts(build, monkeypatch):
    """A server reached by its IPv6 address: ALLOWED_HOSTS with or without the brackets,
    any spelling of the address, and a port, when one is given, is the only one answered."""
    monkeypatch.setenv("ALLOWED_HOSTS", "::1, [2001:db8::1]:8000")
    production = build(
        ProductionConfig,
        PUBLIC_BASE_URL="https://[2001:db8::5]",
        ALLOWED_HOSTS=config.env_hosts("ALLOWED_HOSTS"),
        **PRODUCTION,
    )
    client = production.test_client()

    answered = ("[::1]", "[::1]:80", "[2001:db8::1]:8000", "[2001:DB8:0::1]:8000", "[2001:db8::5]")
    for host in answered:
        assert client.get("/api/openapi.json", base_url=f"https://{host}").status_code == 200, host
    for host in ("[2001:db8::1]", "[2001:db8::1]:9000", "[2001:db8::2]", "[::2]", "evil.example"):
        assert client.get("/api/openapi.json", base_url=f"https://{host}").status_code == 400, host


def test_a_port_in_allowed_hosts_is_the_only_one_answered_on(build):
    production = build(ProductionConfig, ALLOWED_HOSTS=("sms.example.com:8443",), **PRODUCTION)
    client = production.test_client()

    for host, status in (("sms.example.com:8443", 200), ("sms.example.com", 400)):
        assert client.get("/api/openapi.json", base_url=f"https://{host}").status_code == status


def test_host_names_are_matched_in_any_case(build):
    """DNS names have no case: a Host header written in capitals is the same host."""
    production = build(ProductionConfig, PUBLIC_BASE_URL="https://sms.example.com", **PRODUCTION)

    response = production.test_client().get(
        "/api/openapi.json", base_url="https://sms.example.com", headers={"Host": "SMS.Example.com"}
    )
    assert response.status_code == 200


def test_a_host_werkzeug_cannot_read_is_refused_even_when_allowed(build):
    """werkzeug reads a Host with an underscore (a container's name, web_1) as no host at
    all: answered, its https redirect went to "https:///admin/"."""
    production = build(ProductionConfig, ALLOWED_HOSTS=("web_1",), **PRODUCTION)

    response = production.test_client().get("/admin/", base_url="http://web_1")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_development_answers_on_the_ipv6_loopback_address(development):
    response = development.test_client().get("/admin/auth/login/", base_url="http://[::1]:5000")
    assert response.status_code == 200


@pytest.mark.parametrize("hosts", ["[2001:db8::1]:8000", "::1"])
def test_simulating_a_text_on_an_ipv6_only_server_passes_the_host_check(build, monkeypatch, hosts):
    monkeypatch.setenv("ALLOWED_HOSTS", hosts)
    allowed = config.env_hosts("ALLOWED_HOSTS")
    production = build(ProductionConfig, **PRODUCTION, PUBLIC_BASE_URL=None, ALLOWED_HOSTS=allowed)

    with production.app_context():
        task = simulator.simulate_inbound("+15551230000", "What is DNS?")
        assert task is not None and task.sms_content == "What is DNS?"
        db.session.remove()


def test_probes_and_metrics_answer_whatever_host_they_name(build):
    """A load balancer's health check and Prometheus reach a process by its address."""
    production = build(ProductionConfig, PUBLIC_BASE_URL="https://sms.example.com", **PRODUCTION)
    client = production.test_client()

    scrape = {"Authorization": "Bearer s3cret-scrape"}
    for path in ("/healthz", "/metrics"):
        answer = client.get(path, base_url="http://10.0.0.7:8000", headers=scrape)
        assert answer.status_code == 200


def test_twilio_through_a_trusted_proxy_is_checked_by_the_forwarded_host(build):
    proxied = build(
        ProductionConfig,
        PUBLIC_BASE_URL="https://sms.example.com",
        TRUSTED_PROXIES=1,
        **PRODUCTION,
    )
    client = proxied.test_client()

    def post(forwarded_host: str):
        form = inbound_form(f"via {forwarded_host}")
        signature = RequestValidator("test-auth-token").compute_signature(
            "https://sms.example.com/sms/inbound", form
        )
        headers = {
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": forwarded_host,
            "X-Forwarded-For": "203.0.113.9",
        }
        return client.post("/sms/inbound", data=form, headers=headers, base_url="http://web:8000")

    assert post("sms.example.com").status_code == 200
    assert post("evil.example").status_code == 400
    assert db.session.scalars(sa.select(Task.sms_content)).all() == ["via sms.example.com"]


@pytest.mark.parametrize(
    ("called", "forwarded"),
    [
        # No X-Forwarded-Port: the host alone, or with its port, says where Twilio called.
        ("https://sms.example.com/sms/inbound", {"X-Forwarded-Host": "sms.example.com"}),
        ("https://sms.example.com:8443/sms/inbound", {"X-Forwarded-Host": "sms.example.com:8443"}),
        ("https://sms.example.com/sms/inbound", {"Host": "sms.example.com"}),
        # The backend's own port in Host: Twilio's URL had none, and the check drops it.
        ("https://sms.example.com/sms/inbound", {"Host": "sms.example.com:8000"}),
        # X-Forwarded-Port, when sent, is the port Twilio called.
        (
            "https://sms.example.com:8443/sms/inbound",
            {"X-Forwarded-Host": "sms.example.com", "X-Forwarded-Port": "8443"},
        ),
        (
            "https://sms.example.com/sms/inbound",
            {"X-Forwarded-Host": "sms.example.com", "X-Forwarded-Port": "443"},
        ),
    ],
)
def test_without_a_public_url_twilio_is_checked_by_the_url_the_proxy_forwards(
    build, called, forwarded
):
    """Twilio signs the whole URL it called, port included when it had one. Behind
    TRUSTED_PROXIES without PUBLIC_BASE_URL that URL is rebuilt from X-Forwarded-Proto and
    the forwarded host; X-Forwarded-Port is needed only when the host does not carry the
    port Twilio called (README, "Forwarded headers")."""
    response = post_through_the_proxy(build(**PROXIED), called, forwarded)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_port_twilio_called_that_no_header_forwards_fails_the_signature(build):
    """Nothing tells the app a port the proxy drops (nginx's $host has none): the check is
    refused rather than guessed. Forward it, or set PUBLIC_BASE_URL (README)."""
    proxied = build(**PROXIED)
    called = "https://sms.example.com:8443/sms/inbound"
    forwarded = {"X-Forwarded-Host": "sms.example.com"}
    assert post_through_the_proxy(proxied, called, forwarded).status_code == 403
    proxied.config["PUBLIC_BASE_URL"] = "https://sms.example.com:8443"
    assert post_through_the_proxy(proxied, called, forwarded).status_code == 200


#: Production behind one proxy, with no PUBLIC_BASE_URL: the URL is the forwarded one.
PROXIED = {
    "config_class": ProductionConfig,
    "PUBLIC_BASE_URL": None,
    "ALLOWED_HOSTS": ("sms.example.com", "sms.example.com:8443"),
    "TRUSTED_PROXIES": 1,
    **PRODUCTION,
}


def post_through_the_proxy(app, called: str, forwarded: dict[str, str]):
    """A text Twilio signed for the URL it `called`, as an https proxy passes it on with
    the `forwarded` headers (a Host among them is the one the app sees)."""
    form = inbound_form("through the proxy")
    signature = RequestValidator("test-auth-token").compute_signature(called, form)
    headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https", **forwarded}
    base = "http://" + headers.pop("Host", "web:8000")
    return app.test_client().post("/sms/inbound", data=form, headers=headers, base_url=base)


def test_the_tests_own_webhooks_keep_working(app, client):
    """TestingConfig checks no host unless a test sets ALLOWED_HOSTS."""
    assert signed_post(client, "/sms/inbound", inbound_form("hi")).status_code == 200


def test_production_without_any_host_says_so_at_start_up(build, caplog):
    with caplog.at_level(logging.WARNING, logger="sms_agent.security"):
        production = build(ProductionConfig, PUBLIC_BASE_URL=None, ALLOWED_HOSTS=None, **PRODUCTION)

    assert "ALLOWED_HOSTS" in caplog.text
    # Nothing to check against: it answers for any host rather than for none.
    response = production.test_client().get("/api/openapi.json", base_url="https://any.example")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw, hosts",
    [
        ("sms.example.com", ("sms.example.com",)),
        (" sms.example.com , .Example.NET,", ("sms.example.com", ".example.net")),
        ("10.0.0.7", ("10.0.0.7",)),
        # IPv6 addresses as people write them, kept in the one form a Host header takes.
        ("::1", ("[::1]",)),
        ("[::1]", ("[::1]",)),
        ("2001:DB8:0::1", ("[2001:db8::1]",)),
        (
            "[2001:db8::1]:8000, sms.example.com:8443",
            ("[2001:db8::1]:8000", "sms.example.com:8443"),
        ),
    ],
)
def test_allowed_hosts_is_read_as_comma_separated_names(monkeypatch, raw, hosts):
    monkeypatch.setenv("ALLOWED_HOSTS", raw)
    assert config.env_hosts("ALLOWED_HOSTS") == hosts


@pytest.mark.parametrize(
    "raw",
    [
        "https://sms.example.com",
        "sms.example.com/admin",
        "sms.example.com:0",
        "sms.example.com:99999",
        "a b",
        "[::1",
        "[sms.example.com]",
        "[::1]8000",
        "2001:db8::1::2",
    ],
)
def test_an_allowed_host_that_is_no_host_name_stops_the_app(monkeypatch, raw):
    monkeypatch.setenv("ALLOWED_HOSTS", raw)
    with pytest.raises(SettingError, match="ALLOWED_HOSTS"):
        config.env_hosts("ALLOWED_HOSTS")


@pytest.mark.parametrize(
    "settings",
    [
        {"PUBLIC_BASE_URL": "https://sms.example.com/agent"},
        {"PUBLIC_BASE_URL": None, "ALLOWED_HOSTS": (".example.com",)},
    ],
)
def test_simulating_a_text_on_a_production_server_passes_the_host_check(build, settings):
    """`flask sms simulate` and Try it post to the app's own webhook in-process: as a host
    it answers for, not as localhost, which production does not."""
    production = build(ProductionConfig, **{**PRODUCTION, **settings})

    with production.app_context():
        task = simulator.simulate_inbound("+15551230000", "What is DNS?")
        assert task is not None and task.sms_content == "What is DNS?"
        db.session.remove()


def test_a_refused_host_is_named_in_the_log_once_a_minute(build, caplog):
    """A proxy that does not pass the public host on would have every request refused: the
    log says which host came and which ones the app answers for."""
    production = build(ProductionConfig, PUBLIC_BASE_URL="https://sms.example.com", **PRODUCTION)
    client = production.test_client()

    with caplog.at_level(logging.WARNING, logger="sms_agent.security"):
        for _ in range(3):
            assert client.get("/admin/", base_url="http://127.0.0.1:8000").status_code == 400

    refused = [record for record in caplog.records if "127.0.0.1" in record.getMessage()]
    assert len(refused) == 1
    assert "sms.example.com" in refused[0].getMessage()
    assert "ALLOWED_HOSTS" in refused[0].getMessage()


def test_a_refused_host_under_the_api_is_named_in_the_log_too(build, caplog):
    """The API answers a refused host in its JSON, and the log says so as it does for the
    admin's pages: once a minute."""
    production = build(ProductionConfig, PUBLIC_BASE_URL="https://sms.example.com", **PRODUCTION)
    client = production.test_client()

    with caplog.at_level(logging.WARNING, logger="sms_agent.security"):
        for path in ("/api/tasks/", "/api/openapi.json", "/api/tasks/"):
            response = client.get(path, base_url="https://evil.example")
            assert response.status_code == 400
            assert "evil.example" in response.json["error"]

    refused = [record for record in caplog.records if "evil.example" in record.getMessage()]
    assert len(refused) == 1
    assert "sms.example.com" in refused[0].getMessage()
