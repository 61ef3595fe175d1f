"""Prometheus metrics, counted from committed rows and served at /metrics."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from sms_agent.extensions import db
from sms_agent.models import ErrorType, OutboundMessage, TaskStatus, utcnow
from sms_agent.ops.metrics import count_inbound
from sms_agent.outbound.status import record_sent
from tests.factories import make_error, make_task, make_user


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_are_served_in_prometheus_text_format(client):
    count_inbound("keyword")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert 'sms_inbound_messages_total{outcome="keyword"}' in response.text


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong-secret", 401),
        ("Bearer s\u00e9cret", 401),
        ("Basic c2NyYXBlcjpzM2NyZXQtc2NyYXBl", 401),
        ("Bearer s3cret-scrape", 200),
        ("bearer  s3cret-scrape ", 200),
    ],
)
def test_metrics_need_the_metrics_token_when_one_is_set(app, client, authorization, status):
    """Regression: /metrics answered anyone who reached the server, though it tells how many
    texts come in, what the service spends and on which models. With METRICS_TOKEN set,
    only a scrape sending it as a bearer token (Prometheus's `authorization`) is answered."""
    app.config["METRICS_TOKEN"] = "s3cret-scrape"
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    assert ("sms_inbound_messages_total" in response.text) is (status == 200)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.parametrize(("app_env", "status"), [("production", 404), ("development", 200)])
def test_in_production_metrics_without_a_metrics_token_are_not_served(app, client, app_env, status):
    """Regression: with METRICS_TOKEN unset, a production /metrics answered anyone who
    reached it, telling how many texts come in and what the service spends. The embedded
    development mode, listening on loopback, still serves them without one."""
    app.config.update(APP_ENV=app_env, METRICS_TOKEN=None)
    response = client.get("/metrics")
    assert response.status_code == status
    assert ("sms_inbound_messages_total" in response.text) is (status == 200)
    app.config["METRICS_TOKEN"] = "s3cret-scrape"
    scrape = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert scrape.status_code == 200


def test_metrics_are_served_while_the_database_is_down(caplog):
    """Regression: /metrics read conversations_waiting from the database and answered 500
    while it was down, so the scrape lost every figure (errors, texts kept for a worker)
    just when the operator needed them. The gauge is NaN (unknown) meanwhile."""
    from config import TestingConfig
    from sms_agent import create_app

    down = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=down)
    count_inbound("keyword")
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert 'sms_inbound_messages_total{outcome="keyword"}' in response.text
    assert "conversations_waiting NaN" in response.text
    assert "conversations_waiting unknown" in caplog.text


def test_committed_error_logs_are_counted_by_type(app):
    before = sample("sms_agent_errors_total", error_type="twilio_error")
    make_error(error_type=ErrorType.TWILIO_ERROR.value)
    assert sample("sms_agent_errors_total", error_type="twilio_error") == before + 1


def test_rolled_back_rows_count_nothing(app):
    before = sample("sms_agent_errors_total", error_type="openai_error")
    user = make_user()
    db.session.add(OutboundMessage(to_number=user.phone_number, body="hi", segments=2))
    db.session.flush()
    db.session.rollback()
    make_error(error_type=ErrorType.OPENAI_ERROR.value)
    db.session.rollback()
    assert sample("sms_agent_errors_total", error_type="openai_error") == before + 1


def test_sms_count_once_the_backend_accepted_them(app):
    user = make_user()
    sent_before = sample("sms_sent_total", kind="apology")
    segments_before = sample("sms_segments_sent_total")
    message = OutboundMessage(to_number=user.phone_number, body="sorry", kind="apology", segments=3)
    db.session.add(message)
    db.session.commit()
    assert sample("sms_sent_total", kind="apology") == sent_before
    record_sent(message, "SM" + "1" * 32, "queued")  # the backend accepted it
    assert sample("sms_sent_total", kind="apology") == sent_before  # not before the commit
    db.session.commit()
    assert sample("sms_sent_total", kind="apology") == sent_before + 1
    assert sample("sms_segments_sent_total") == segments_before + 3


def test_queue_wait_is_observed_when_a_worker_claims_a_task(app):
    from sms_agent.answering.pipeline import claim

    # 2.5 s waited: in the bucket up to 5 s, with room for a busy machine's claim to be slow
    task = make_task(created_at=utcnow() - timedelta(seconds=2.5))
    count_before = sample("job_queue_wait_seconds_count")
    below_5s_before = sample("job_queue_wait_seconds_bucket", le="5.0")
    below_1s_before = sample("job_queue_wait_seconds_bucket", le="1.0")
    assert claim(task.id) is not None
    assert sample("job_queue_wait_seconds_count") == count_before + 1
    assert sample("job_queue_wait_seconds_bucket", le="5.0") == below_5s_before + 1
    assert sample("job_queue_wait_seconds_bucket", le="1.0") == below_1s_before


def test_a_stored_answer_counts_its_tokens_and_ai_latency(app):
    task = make_task(status=TaskStatus.PROCESSING.value)
    tokens_before = sample("ai_tokens_total")
    latency_before = sample("ai_request_duration_seconds_sum")
    task.ai_response, task.tokens_used = "Paris.", 42
    task.metadata_ = {"llm_seconds": 0.75}
    db.session.commit()
    assert sample("ai_tokens_total") == tokens_before + 42
    assert sample("ai_request_duration_seconds_sum") == latency_before + 0.75


def test_an_offline_notice_is_no_ai_latency(app):
    """Regression: with no model configured (the embedded default, or LLM_BACKEND=offline
    left on in production), every offline notice was observed as an AI answer of a few
    milliseconds: a dashboard of ai_request_duration_seconds showed a model answering at
    once while none answered at all."""
    from sms_agent.answering import pipeline

    latency_before = sample("ai_request_duration_seconds_count")
    task = make_task(sms_content="How do I fix a KeyError in Python?")
    assert pipeline.answer(task.id) == "answered"
    assert db.session.get(type(task), task.id).metadata_["offline"] is True
    assert sample("ai_request_duration_seconds_count") == latency_before


def test_a_completed_task_counts_one_reply(app):
    task = make_task(status=TaskStatus.PROCESSING.value, ai_response="Paris.")
    replies_before = sample("sms_replies_sent_total")
    task.mark_completed("Paris.", processing_time=0.5)
    db.session.commit()
    assert sample("sms_replies_sent_total") == replies_before + 1
    assert sample("tasks_finished_total", status="completed") >= 1


def test_keywords_count_as_one_outcome(app):
    before = sample("sms_inbound_messages_total", outcome="keyword")
    count_inbound("stop")
    count_inbound("help")
    assert sample("sms_inbound_messages_total", outcome="keyword") == before + 2


def test_a_webhook_with_a_bad_signature_counts_as_rejected(client):
    before = sample("sms_inbound_messages_total", outcome="rejected")
    response = client.post("/sms/inbound", data={"MessageSid": "SM1"})
    assert response.status_code == 403
    assert sample("sms_inbound_messages_total", outcome="rejected") == before + 1


def test_multiprocess_mode_adds_up_every_process(app, tmp_path):
    """Values written by another process (a second gunicorn or Celery worker) appear too."""
    script = textwrap.dedent(
        """
        from sms_agent.ops.metrics import count_inbound
        count_inbound("duplicate"); count_inbound("duplicate")
        """
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    project = app.root_path + "/.."
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=project)
    app.config["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    response = app.test_client().get("/metrics")
    assert 'sms_inbound_messages_total{outcome="duplicate"} 4.0' in response.text


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_multiprocess_directory_is_unset_for_prometheus_client_too(app, tmp_path, blank):
    """Regression: PROMETHEUS_MULTIPROC_DIR set but blank was unset for config.py, yet
    prometheus_client, which reads the variable itself, took it for multiprocess mode in
    the working directory: every process left its counter_<pid>.db files there, and /metrics
    (reading no directory) showed each process's own figures only."""
    script = textwrap.dedent(
        """
        import config  # read first, as wsgi.py does before the app imports prometheus_client
        from sms_agent.ops.metrics import count_inbound
        count_inbound("duplicate")
        """
    )
    project = str(Path(app.root_path).parent)
    env = {"PROMETHEUS_MULTIPROC_DIR": blank, "PATH": "/usr/bin:/bin", "PYTHONPATH": project}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_each_inbound_outcome_is_counted(app):
    from sms_agent.simulator import simulate_inbound

    tasks_before = sample("sms_inbound_messages_total", outcome="task")
    keywords_before = sample("sms_inbound_messages_total", outcome="keyword")
    simulate_inbound("+15551230077", "How far is the moon?")
    simulate_inbound("+15551230077", "HELP")
    assert sample("sms_inbound_messages_total", outcome="task") == tasks_before + 1
    assert sample("sms_inbound_messages_total", outcome="keyword") == keywords_before + 1
