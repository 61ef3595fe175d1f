"""Liveness and readiness probes."""

from __future__ import annotations

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


def test_readyz_is_503_naming_an_unreachable_broker(database_url):
    app = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, CELERY_BROKER_URL=UNREACHABLE_REDIS
    )
    response = app.test_client().get("/readyz")
    with app.app_context():
        db.engine.dispose()
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"] == "ok"
    assert "Connection refused" in response.json["checks"]["broker"]


def test_readyz_is_503_naming_an_unreachable_database():
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_POSTGRES)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["broker"] == "ok"
    assert response.json["checks"]["database"].startswith("OperationalError")


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
    assert response.json["checks"]["database"].startswith("the database has no tables yet")

    assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    with app.app_context():
        db.engine.dispose()
