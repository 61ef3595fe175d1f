"""The web layer's security rules (sms_agent.security): headers on every surface, cookie
flags, HTTPS only where browsers come in, and request data no view should see.

Nothing a texter, a REST client or a staff member sends can reach the database as text it
cannot hold: NUL characters (PostgreSQL refuses them) get a clear 400, or, in an SMS body,
become U+FFFD so the message is still stored and answered.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import request
from flask_login import login_user

from config import ProductionConfig, TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.models import Task
from tests.admin.conftest import PASSWORD, log_in
from tests.api.conftest import token_header
from tests.factories import make_staff, make_token
from tests.standins import inbound_form, signed_post


def admin_page(client):
    make_staff("boss", PASSWORD, is_admin=True)
    log_in(client, "boss")
    return client.get("/admin/")


def api_response(client):
    return client.get("/api/users/", headers=token_header(make_token(make_staff("api"))))


def webhook_response(client):
    return signed_post(client, "/sms/inbound", inbound_form("hello"))


@pytest.mark.parametrize("visit", [admin_page, api_response, webhook_response])
def test_no_surface_can_be_framed_or_sniffed(client, visit):
    response = visit(client)

    assert response.status_code == 200
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # development and tests: plain http


@pytest.mark.parametrize("visit", [api_response, webhook_response])
def test_an_answer_that_is_not_a_page_may_run_and_load_nothing(client, visit):
    """TwiML and JSON run no script: they get the policy that allows nothing, not the
    pages' 800 bytes of script hashes on every webhook."""
    response = visit(client)
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )


def test_a_header_of_the_policy_that_a_view_set_itself_is_sent_once_as_the_policy_says(app, client):
    """An answer that is not a page gets the policy's headers in place of any of the same
    name its view set."""
    app.add_url_rule(
        "/framed-json", "framed_json", lambda: ({}, 200, {"X-Frame-Options": "SAMEORIGIN"})
    )
    response = client.get("/framed-json")
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    assert response.headers.getlist("Content-Security-Policy") == [
        "default-src 'none'; frame-ancestors 'none'"
    ]


def policy_of(response) -> dict[str, str]:
    directives = response.headers["Content-Security-Policy"].split(";")
    return dict(directive.strip().split(" ", 1) for directive in directives)


def nonce_of(response) -> str:
    return re.search(r"'nonce-([^']+)'", policy_of(response)["script-src"]).group(1)


def test_admin_pages_run_only_this_servers_scripts_and_their_own_nonce(client):
    response = admin_page(client)

    policy = policy_of(response)
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert policy["default-src"] == "'self'" and policy["style-src"] == "'self'"
    scripts = re.findall(r"<script[^>]*>", response.get_data(as_text=True))
    assert scripts and all(f'nonce="{nonce_of(response)}"' in script for script in scripts)
    assert nonce_of(client.get("/admin/")) != nonce_of(response)  # a new one for every page


def test_the_api_docs_inline_script_carries_the_nonce(client):
    response = client.get("/api/docs")
    assert f'<script nonce="{nonce_of(response)}">' in response.get_data(as_text=True)


def test_the_throttled_login_page_carries_the_nonce_too(app):
    """The throttle's 429 answer is the login page again, and its scripts must run too."""
    limited = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        RATELIMIT_ENABLED=True,
        LOGIN_RATE="1/minute",
    )
    client = limited.test_client()
    log_in(client, "nobody", "wrong")

    response = log_in(client, "nobody", "wrong")

    assert response.status_code == 429
    nonce = nonce_of(response)
    scripts = re.findall(r"<script[^>]*>", response.get_data(as_text=True))
    assert nonce and scripts and all(f'nonce="{nonce}"' in script for script in scripts)
    with limited.app_context():
        db.engine.dispose()


def cookie_flags(response, name: str) -> set[str]:
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "="))
    return {flag.strip().lower() for flag in cookie.split(";")[1:]}


def test_development_cookies_are_httponly_and_lax_and_work_over_http(client):
    response = client.get("/admin/auth/login/")

    assert response.status_code == 200  # no redirect to https
    assert {"httponly", "samesite=lax"} <= cookie_flags(response, "session")
    assert "secure" not in cookie_flags(response, "session")


@pytest.fixture
def production(app):
    """The app as production runs it, on the test database."""
    production = create_app(
        ProductionConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY="a-production-secret-key-of-enough-length",
        TWILIO_AUTH_TOKEN="test-auth-token",
        CELERY_BROKER_URL="memory://",
        RATELIMIT_STORAGE_URI="memory://",
        WEB_CONCURRENCY=1,
        SMS_BACKEND="console",
        LLM_BACKEND="offline",
        LOG_FORMAT="text",
        METRICS_TOKEN="s3cret-scrape",
    )
    yield production
    with production.app_context():
        db.engine.dispose()


def test_production_cookies_are_secure_httponly_and_lax(production):
    client = production.test_client()
    response = client.get("/admin/auth/login/", base_url="https://sms.example.com")

    assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(response, "session")

    staff = make_staff("ann", PASSWORD)
    with production.test_request_context(base_url="https://sms.example.com"):
        login_user(db.session.merge(staff), remember=True)
        remembered = production.process_response(production.response_class())
    assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(remembered, "remember_token")


def test_production_sends_browsers_to_https_with_hsts(production):
    client = production.test_client()

    response = client.get("/admin/auth/login/")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://localhost/admin/auth/login/"

    secure = client.get("/admin/auth/login/", base_url="https://sms.example.com")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    behind_proxy = client.get("/api/docs", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.status_code == 200
    json_answer = client.get("/api/openapi.json", base_url="https://sms.example.com")
    assert json_answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_never_redirects_twilio_probes_or_metrics(production):
    """TLS ends at the proxy: Twilio's signed POST, health checks and Prometheus may reach
    the app over plain http, and none of them would follow a redirect."""
    client = production.test_client()

    assert signed_post(client, "/sms/inbound", inbound_form("over http")).status_code == 200
    assert client.get("/healthz").status_code == 200
    scrape = {"Authorization": "Bearer s3cret-scrape"}
    assert client.get("/metrics", headers=scrape).status_code == 200
    assert db.session.scalar(sa.select(Task.sms_content)) == "over http"


def test_a_webhook_has_no_session_so_its_answer_does_not_vary_on_cookies(app, client):
    """Twilio sends no cookie and keeps none: a staff member's session cookie that comes
    along with a webhook (the same browser posting to it) is not read, so the answer says
    nothing about cookies and sets none."""
    signed_in = app.session_interface.get_signing_serializer(app).dumps({"_user_id": "7"})
    client.set_cookie("session", signed_in)

    for path, form in (
        ("/sms/inbound", inbound_form("hi")),
        ("/sms/status", {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}),
    ):
        response = signed_post(client, path, form)
        assert response.status_code == 200
        assert "Cookie" not in response.vary
        assert "Set-Cookie" not in response.headers
        assert "no-store" not in response.headers.get("Cache-Control", "")
    assert db.session.scalar(sa.select(Task.sms_content)) == "hi"


def test_an_sms_body_with_a_nul_is_stored_with_a_replacement_character(app, client):
    response = signed_post(client, "/sms/inbound", inbound_form("what is a\x00b?"))
    assert response.status_code == 200
    assert db.session.scalar(sa.select(Task.sms_content)) == "what is a\ufffdb?"


@pytest.mark.parametrize("sid", ["SM\x00abc", "SM abc", "SM/../x", "S", "SM" + "a" * 63])
def test_a_malformed_message_sid_is_refused_and_nothing_stored(client, sid):
    response = signed_post(client, "/sms/inbound", inbound_form("hi", MessageSid=sid))
    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_a_status_callback_with_a_malformed_sid_is_refused(client):
    form = {"MessageSid": "SM\x00x", "MessageStatus": "delivered"}
    assert signed_post(client, "/sms/status", form).status_code == 400


@pytest.mark.parametrize(("fallbacks", "still_signed_in"), [([], False), (["old"], True)])
def test_a_new_secret_key_signs_staff_out_unless_the_old_one_is_a_fallback(
    app, fallbacks, still_signed_in
):
    """The session cookie's signer is built once per key (security.SiteSessions), so a key
    rotated in a running app must still be the one that counts."""
    app.config["SECRET_KEY"] = "old"
    cookie = app.session_interface.get_signing_serializer(app).dumps({"_user_id": "7"})

    app.config.update(SECRET_KEY="new", SECRET_KEY_FALLBACKS=fallbacks)

    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        session = app.session_interface.open_session(app, request)
    assert (session.get("_user_id") == "7") is still_signed_in
