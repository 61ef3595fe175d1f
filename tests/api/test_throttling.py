"""Throttling: anonymous callers by address, authenticated ones by token, 429 with Retry-After."""

from __future__ import annotations

import random
import time

import pytest

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from tests.api.conftest import token_header
from tests.factories import make_staff, make_token, make_user
from tests.standins import silent_redis, unused_port


def throttled_app(database_url: str, **settings):
    return create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
        API_RATE_ANONYMOUS="3/hour",
        API_RATE_AUTHENTICATED="5/hour",
        **settings,
    )


@pytest.fixture(params=["memory", "redis"])
def limited(request, app, database_url):
    """A client of an app with throttling on, over memory storage and (if set up) Redis."""
    settings = {}
    if request.param == "redis":
        if not TestingConfig.TEST_REDIS_URL:
            pytest.skip("TEST_REDIS_URL is not set")
        settings["RATELIMIT_STORAGE_URI"] = TestingConfig.TEST_REDIS_URL
    limited_app = throttled_app(app.config["SQLALCHEMY_DATABASE_URI"], **settings)
    # Counters in Redis outlive a test: a random client address and fresh random token keys
    # keep this test's budgets apart from any earlier or parallel run's.
    address = f"127.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    client = limited_app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    with limited_app.app_context():
        yield client
        db.session.remove()
        db.engine.dispose()  # this app's own connection pool, or its connections leak


def test_anonymous_callers_are_throttled_by_address(limited):
    statuses = [limited.get("/api/users/").status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]
    response = limited.get("/api/users/")
    assert response.get_json()["error"] == "Request was throttled."
    assert 3500 < int(response.headers["Retry-After"]) <= 3601  # an hour's window


def test_anonymous_callers_of_one_ipv6_network_share_a_budget(limited):
    """A client with IPv6 can send from any address of its /64 (extensions.client_network):
    guessing tokens from a new one each time must still run out."""
    network = f"2001:db8:{random.randrange(65536):x}:{random.randrange(65536):x}"
    statuses = []
    for n in range(1, 5):
        limited.environ_base["REMOTE_ADDR"] = f"{network}:{n}::1"
        statuses.append(limited.get("/api/users/").status_code)
    assert statuses == [401, 401, 401, 429]


def test_guessing_tokens_counts_as_anonymous(limited):
    statuses = [
        limited.get("/api/users/", headers=token_header(f"sat_guess{n}")).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_each_token_has_its_own_budget(limited):
    first = token_header(make_token(make_staff("one", is_admin=True)))
    second = token_header(make_token(make_staff("two", is_admin=True)))

    statuses = [limited.get("/api/analytics/", headers=first).status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]
    assert limited.get("/api/analytics/", headers=second).status_code == 200
    assert int(limited.get("/api/analytics/", headers=first).headers["Retry-After"]) > 0


def test_authenticated_callers_are_not_held_to_the_anonymous_rate(limited):
    headers = token_header(make_token(make_staff("busy", is_admin=True)))
    for _ in range(3):
        limited.get("/api/users/")
    assert limited.get("/api/users/", headers=headers).status_code == 200


def test_an_unreachable_throttle_store_throttles_in_each_process_meanwhile(app):
    """Regression: with the Redis of RATELIMIT_STORAGE_URI down, every API call was a 500
    (a stack trace each); now each process counts on its own until Redis is back."""
    down = f"redis://127.0.0.1:{unused_port()}/13"
    limited_app = throttled_app(app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_STORAGE_URI=down)
    with limited_app.app_context():
        headers = token_header(make_token(make_staff("ops", is_admin=True)))
        client = limited_app.test_client()
        statuses = [client.get("/api/analytics/", headers=headers).status_code for _ in range(6)]
        db.session.remove()
        db.engine.dispose()
    assert statuses == [200] * 5 + [429]


def test_a_throttle_store_that_never_answers_holds_a_call_up_no_longer_than_a_publish_may(app):
    """Regression: a Redis that takes connections and never answers held the first API call
    about 10 seconds (redis-py's default timeouts, twice) before the throttle fell back to
    the process's memory, and one call in a while as long again when it looked back."""
    with silent_redis() as hung:
        limited_app = throttled_app(
            app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_STORAGE_URI=hung
        )
        with limited_app.app_context():
            headers = token_header(make_token(make_staff("ops", is_admin=True)))
            client = limited_app.test_client()
            started = time.monotonic()
            status = client.get("/api/analytics/", headers=headers).status_code
            waited = time.monotonic() - started
            db.session.remove()
            db.engine.dispose()
    assert status == 200
    assert waited < 3 * limited_app.config["BROKER_PUBLISH_TIMEOUT"], waited


def test_throttling_can_be_switched_off(client, admin_headers):
    """The suite's default app has RATELIMIT_ENABLED off, as load tests would."""
    statuses = {client.get("/api/users/").status_code for _ in range(120)}
    assert statuses == {401}


def test_the_docs_pages_assets_do_not_use_up_the_anonymous_budget(limited):
    for _ in range(5):
        response = limited.get("/api/docs/assets/swagger-ui.css")
        assert response.status_code == 200
        response.close()
    assert limited.get("/api/openapi.json").status_code == 200


def test_exports_share_the_callers_budget(limited):
    """A streamed export is one call like any other, counted before it starts."""
    headers = token_header(make_token(make_staff("exporter", is_admin=True)))
    url = "/api/users/%2B15550201234/export/?format=csv"
    make_user("+15550201234")
    statuses = [limited.get(url, headers=headers).status_code for _ in range(4)]
    statuses.append(limited.get("/api/analytics/", headers=headers).status_code)
    statuses.append(limited.get(url, headers=headers).status_code)
    assert statuses == [200] * 5 + [429]
