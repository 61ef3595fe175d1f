"""Liveness and readiness probes."""

from __future__ import annotations

import socket
import threading
import time

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.ops.health import warm_up

UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def test_healthz_answers_without_touching_the_database():
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_POSTGRES)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_200_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_is_503_naming_an_unreachable_broker(database_url, caplog):
    app = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, CELERY_BROKER_URL=UNREACHABLE_REDIS
    )
    response = app.test_client().get("/readyz")
    with app.app_context():
        db.engine.dispose()
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unreachable"},
    }
    assert "broker" in caplog.text and "Connection refused" in caplog.text


def test_readyz_is_503_naming_an_unreachable_database_without_the_drivers_words(caplog):
    """Regression: the public probe answered the driver's first line (host, port, user and
    database name of the server), which belongs in the log, not to anyone who asks."""
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_POSTGRES)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "unreachable", "broker": "ok"}
    assert "127.0.0.1" not in response.get_data(as_text=True)
    assert "OperationalError" in caplog.text and "127.0.0.1" in caplog.text


def test_readyz_gives_up_on_a_database_host_that_never_answers(caplog):
    """Regression: a PostgreSQL host that takes connections and never answers (a failover,
    a firewall dropping packets) held /readyz, and every web request and job that opened a
    connection, for as long as the kernel kept trying: minutes. Opening a connection now
    gives up after DB_CONNECT_TIMEOUT."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/silent"
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url, DB_CONNECT_TIMEOUT=2)
        answered = []
        probe = threading.Thread(
            target=lambda: answered.append(app.test_client().get("/readyz")), daemon=True
        )
        began = time.monotonic()
        probe.start()
        probe.join(timeout=10)
    assert answered, "the probe still waits for the database"
    assert time.monotonic() - began < 6
    assert answered[0].status_code == 503
    assert answered[0].json["checks"]["database"] == "unreachable"


def test_warm_up_reports_what_it_could_not_reach_instead_of_failing(database_url):
    app = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, CELERY_BROKER_URL=UNREACHABLE_REDIS
    )
    problems = warm_up(app)
    assert problems["database"] is None
    assert "Connection refused" in problems["broker"]
    with app.app_context():
        db.engine.dispose()


def test_warm_up_opens_the_database_pool(app):
    assert warm_up(app) == {"database": None, "broker": None}
    assert db.engine.pool.checkedin() >= 1


def test_readyz_is_503_until_the_migrations_are_applied(tmp_path):
    """Regression: a deploy that skipped `flask db upgrade` was reported ready (SELECT 1
    answered), and the proxy sent it webhooks that all failed for want of tables."""
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'new.sqlite'}")
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "not migrated"

    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    with app.app_context():
        db.engine.dispose()
