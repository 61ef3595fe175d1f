"""Liveness and readiness probes."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.ops.health import warm_up
from tests.relay import DatabaseRelay

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


def test_readyz_stays_ready_naming_an_unreachable_broker(database_url, caplog):
    """Regression: a Redis outage made every web process's /readyz a 503, so a proxy
    checking it (as Deployment says to) took them all out and refused Twilio's webhooks
    itself, and Twilio does not send a refused webhook again: texts the app would have
    stored (the sweeper enqueues them once the broker is back) were lost. Either of the
    database and the broker keeps a text, so one of them down leaves the process ready."""
    app = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, CELERY_BROKER_URL=UNREACHABLE_REDIS
    )
    response = app.test_client().get("/readyz")
    with app.app_context():
        db.engine.dispose()
    assert response.status_code == 200
    assert response.json == {
        "status": "degraded",
        "checks": {"database": "ok", "broker": "unreachable"},
    }
    assert "broker" in caplog.text and "Connection refused" in caplog.text


def test_readyz_is_503_when_neither_the_database_nor_the_broker_answers():
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=UNREACHABLE_POSTGRES,
        CELERY_BROKER_URL=UNREACHABLE_REDIS,
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "checks": {"database": "unreachable", "broker": "unreachable"},
    }


def test_readyz_names_an_unreachable_database_without_the_drivers_words(caplog):
    """Regression: the public probe answered the driver's first line (host, port, user and
    database name of the server), which belongs in the log, not to anyone who asks. The
    process stays ready: its webhooks hand texts to the broker meanwhile."""
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_POSTGRES)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "degraded",
        "checks": {"database": "unreachable", "broker": "ok"},
    }
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
        response, seconds = _readyz_waiting_at_most(app.test_client(), 10)
    assert seconds < 6
    assert response.json["checks"]["database"] == "unreachable"


def _readyz_waiting_at_most(client, seconds: float):
    """/readyz's response and how long it took, from a thread the test does not wait for
    longer than `seconds`."""
    answered = []
    probe = threading.Thread(target=lambda: answered.append(client.get("/readyz")), daemon=True)
    began = time.monotonic()
    probe.start()
    probe.join(timeout=seconds)
    assert answered, "the probe still waits for the database"
    return answered[0], time.monotonic() - began


def test_readyz_gives_up_on_a_database_that_stops_answering_an_open_connection(
    database_url, caplog
):
    """Regression: a database host that died under a pooled connection left /readyz (and
    the web thread serving it) waiting for the kernel to give up resending, about fifteen
    minutes. The probe now says unreachable within its 2 seconds, and cuts that connection,
    so the pool opens a fresh one once the host is back."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("SQLite has no connection to a host")
    relay = DatabaseRelay(url.host or "127.0.0.1", url.port or 5432)
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=relay.url_for(url))
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        relay.freeze()
        response, seconds = _readyz_waiting_at_most(client, 15)
        assert seconds < 4
        assert response.json["checks"]["database"] == "unreachable"
        assert "no answer to SELECT 1 within 2 s" in caplog.text
        for _ in range(100):  # the cut connection ends the probe's own thread too
            if not any(t.name == "readyz-database" for t in threading.enumerate()):
                break
            time.sleep(0.02)
        assert not any(t.name == "readyz-database" for t in threading.enumerate())

        relay.frozen.clear()  # the host answers again: the pool opens a fresh connection
        assert client.get("/readyz").json["checks"]["database"] == "ok"
    finally:
        relay.close()
        with app.app_context():
            db.engine.dispose()


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


def test_a_worker_takes_no_job_until_the_migrations_are_applied(tmp_path, caplog):
    """Regression: a worker started before `flask db upgrade` (a deploy's new workers come
    up before its release step) took jobs at once, and each failed on a missing table: the
    replies were retried, then given up. `celery worker` now waits at start-up, saying why,
    and the jobs wait in the broker."""
    from celery.signals import worker_init

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'new.sqlite'}")
    worker = type("Worker", (), {"app": app.extensions["celery"]})()  # the WorkController
    started = threading.Event()
    threading.Thread(
        target=lambda: (worker_init.send(sender=worker), started.set()), daemon=True
    ).start()

    deadline = time.monotonic() + 10
    while "takes no jobs" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not started.wait(0.5)
    [said] = [r.getMessage() for r in caplog.records if "takes no jobs" in r.getMessage()]
    assert "the database has no tables yet: run `flask db upgrade`" in said

    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    assert started.wait(10)  # it takes jobs once migrated
    with app.app_context():
        db.engine.dispose()


def test_readyz_probes_at_most_once_a_second_whoever_asks(database_url, caplog, monkeypatch):
    """Regression: /readyz is open to anyone, and each call opened a connection to the
    broker and the database (during an outage, held a web thread for their timeouts and
    logged a WARNING): a stranger's loop of probes cost as many connections and log lines.
    The answer is now kept for a second; probes within it get that answer."""
    import sms_agent.ops.health as health

    now = [time.monotonic()]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        CELERY_BROKER_URL=UNREACHABLE_REDIS,
        READYZ_CACHE_SECONDS=1.0,
    )
    client = app.test_client()
    answers = [client.get("/readyz") for _ in range(20)]
    assert {(a.json["status"], a.json["checks"]["broker"]) for a in answers} == {
        ("degraded", "unreachable")
    }
    assert caplog.text.count("degraded: broker") == 1

    now[0] += 1.0
    app.config["CELERY_BROKER_URL"] = "memory://"  # the broker is back
    app.extensions["celery"].conf.broker_url = "memory://"
    assert client.get("/readyz").json["status"] == "ok"
    with app.app_context():
        db.engine.dispose()


def test_requests_on_a_database_never_migrated_say_to_run_the_migrations(tmp_path):
    """Regression: `flask run` (or gunicorn) on a database `flask db upgrade` never ran on
    answered the admin's login and the API with a bare 500 "Internal Server Error", while
    every command said what to do. They say it too now: 503, naming `flask db upgrade`, in
    the API's JSON shape under /api/. (A webhook is kept for a worker, as when the
    database is down: the worker waits for the migrations.)"""
    from tests.admin.conftest import log_in

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'new.sqlite'}")
    client = app.test_client()

    api = client.get("/api/users/", headers={"Authorization": "Token sat_" + "x" * 43})
    assert api.status_code == 503
    assert "the database has no tables yet: run `flask db upgrade`" in api.json["error"]

    login = log_in(client, "you")
    assert login.status_code == 503
    assert "run `flask db upgrade`" in login.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()
