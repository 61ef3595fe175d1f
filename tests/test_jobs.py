"""The Celery jobs' retry policy, run in-process with apply() against local stand-ins."""

from __future__ import annotations

import email.utils
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import redis
import sqlalchemy as sa
from kombu.utils import json as kombu_json

from config import TestingConfig
from sms_agent import jobs
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, OutboundMessage, Task, User, utcnow
from sms_agent.vendors.publishing import KOMBU_JSON
from sms_agent.vendors.redis_broker import envelope
from tests.broker import app_on_broker, drained
from tests.factories import make_task, make_user
from tests.standins import SilentServer, SlowRedis, openai_error, twilio_error


@pytest.fixture(autouse=True)
def jobs_do_not_propagate(app):
    """As on a worker: a retry is a state of the job, not an exception for its caller."""
    app.extensions["celery"].conf.task_eager_propagates = False


def run(task: Task) -> str:
    """Run the answer job as a worker would, retries included: in-process, apply() runs each
    retry at once (ignoring the countdown), and the first run ends in state RETRY."""
    result = jobs.answer_task.apply(args=[str(task.id)])
    return result.result if result.state == "SUCCESS" else result.state


def state(task: Task) -> Task:
    db.session.rollback()
    return db.session.get(Task, task.id)


def kinds() -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(sa.select(OutboundMessage.kind).order_by(OutboundMessage.created_at))
    )


def error_types() -> list[str]:
    return list(db.session.scalars(sa.select(ErrorLog.error_type)))


def test_a_429_is_retried_and_then_answered(app, openai_server):
    openai_server.then(429, openai_error("Rate limit reached", "rate_limit_exceeded"))
    task = make_task()
    run(task)
    assert len(openai_server.requests) == 2
    assert state(task).status == "completed"
    assert kinds() == ["reply"]
    assert error_types() == []  # a passing failure that recovered is not an incident


@pytest.fixture
def countdowns(monkeypatch) -> list[float]:
    """The countdown of each retry the answer job asks for (apply() runs it at once)."""
    job = jobs.answer_task._get_current_object()
    asked, retry = [], type(job).retry

    def recording(self, *args, countdown=None, **kwargs):
        asked.append(countdown)
        return retry(self, *args, countdown=countdown, **kwargs)

    monkeypatch.setattr(type(job), "retry", recording)
    return asked


def in_20_seconds() -> str:
    return email.utils.formatdate(time.time() + 21, usegmt=True)  # whole seconds


@pytest.mark.parametrize(
    "header,value",
    [("Retry-After", "20"), ("retry-after-ms", "20000"), ("Retry-After", in_20_seconds)],
    ids=["seconds", "openai-milliseconds", "http-date"],
)
def test_a_429_that_says_how_long_to_wait_is_asked_again_after_that_wait(
    app, openai_server, countdowns, header, value
):
    value = value() if callable(value) else value
    limited = openai_error("Rate limit reached for requests. Try again in 20s.", "rate_limit")
    openai_server.then(429, limited, {header: value})
    task = make_task()
    run(task)
    assert len(countdowns) == 1 and 15 < countdowns[0] <= 21
    assert state(task).status == "completed"
    assert kinds() == ["reply"]


def test_a_model_still_loading_is_asked_again_when_the_server_says_it_will_be_ready(
    app, openai_server, countdowns
):
    """Hugging Face's TGI (and its Inference API) answers 503 while the model loads and says
    in the body, not in a header, how long that will take: asked again after the usual
    backoff, it was still loading, and the retries ran out before it was ready."""
    loading = {"error": "Model standin-model is currently loading", "estimated_time": 20.0}
    openai_server.then(503, loading)
    task = make_task()
    run(task)
    assert len(countdowns) == 1 and 19 < countdowns[0] <= 21
    assert state(task).status == "completed"
    assert kinds() == ["reply"]


def test_a_429_that_says_to_wait_an_hour_fails_at_once_with_an_apology(
    app, openai_server, countdowns
):
    """Groq's daily token limit: asked again within the minute, it says the same."""
    for _ in range(3):
        limited = openai_error("Rate limit reached: tokens per day. Try again in 1h.", None)
        openai_server.then(429, limited, {"Retry-After": "3600"})
    task = make_task()
    run(task)
    assert len(openai_server.requests) == 1 and countdowns == []
    assert state(task).status == "failed"
    assert kinds() == ["apology"]


def test_a_5xx_is_retried_up_to_the_budget_then_fails_with_an_apology(app, openai_server):
    app.config["OPENAI_MAX_RETRIES"] = 2
    for _ in range(3):
        openai_server.then(500, openai_error("The server had an error", None))
    task = make_task()
    run(task)
    assert len(openai_server.requests) == 3  # the first try and two retries
    assert state(task).status == "failed"
    assert error_types() == ["openai_error"]
    assert kinds() == ["apology"]


def test_an_exhausted_credit_429_is_not_retried(app, openai_server):
    openai_server.then(429, openai_error("You exceeded your current quota", "insufficient_quota"))
    task = make_task()
    run(task)
    assert len(openai_server.requests) == 1
    assert state(task).status == "failed"
    assert error_types() == ["openai_error"]


def test_an_ai_timeout_is_retried_then_logged_as_openai_timeout(app):
    app.config.update(LLM_BACKEND="openai", OPENAI_TIMEOUT=0.3, OPENAI_MAX_RETRIES=1)
    with SilentServer() as hanging:
        app.config["OPENAI_BASE_URL"] = hanging.url + "/v1"
        task = make_task()
        run(task)
        assert len(hanging.accepted) == 2
    assert state(task).status == "failed"
    error = db.session.scalar(sa.select(ErrorLog))
    assert error.error_type == "openai_timeout"
    assert "Timeout" in error.stack_trace
    assert kinds() == ["apology"]


def test_twilio_5xx_is_retried_and_the_reply_goes_out_once(app, twilio_server):
    twilio_server.then(503, twilio_error(503, 20503, "Service Unavailable"))
    task = make_task()
    run(task)
    assert len(twilio_server.requests) == 2
    assert state(task).status == "completed"
    assert error_types() == ["twilio_error"]
    messages = list(db.session.scalars(sa.select(OutboundMessage)))
    assert len(messages) == 1 and messages[0].sid.startswith("SM")


def test_twilio_failing_past_the_budget_fails_the_task_without_an_apology(app, twilio_server):
    app.config["TWILIO_MAX_RETRIES"] = 1
    for _ in range(2):
        twilio_server.then(500, twilio_error(500, 20500, "Internal Server Error"))
    task = make_task()
    run(task)
    assert len(twilio_server.requests) == 2
    assert state(task).status == "failed"
    assert error_types() == ["twilio_error", "twilio_error"]


def test_twilio_21610_is_not_retried(app, twilio_server):
    twilio_server.then(400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))
    task = make_task()
    run(task)
    assert len(twilio_server.requests) == 1
    assert state(task).user.is_opted_out


def test_a_duplicate_delivery_of_the_job_answers_once(app, twilio_server):
    task = make_task()
    assert run(task) == "answered"
    assert run(task) == "skipped"
    assert len(twilio_server.requests) == 1


def test_the_backoff_doubles(app):
    app.config["RETRY_BACKOFF_SECONDS"] = 2.0
    assert [jobs.backoff(n) for n in range(3)] == [2.0, 4.0, 8.0]


def test_notice_job_sends_the_notice(app, capsys):
    user = make_user()
    assert jobs.send_notice.apply(args=[user.phone_number, "usage"]).get() is True
    assert kinds() == ["usage"]
    assert "requests this month" in capsys.readouterr().out


def test_a_redelivered_notice_job_sends_the_notice_once(app):
    user = make_user()
    args = [user.phone_number, "help", "SM" + "1" * 32]
    assert jobs.send_notice.apply(args=args).get() is True
    assert jobs.send_notice.apply(args=args).get() is False
    assert kinds() == ["help"]


def test_notice_job_for_an_opted_out_or_unknown_number_sends_nothing(app):
    user = make_user(opted_out_at=utcnow())
    assert jobs.send_notice.apply(args=[user.phone_number, "help"]).get() is False
    assert jobs.send_notice.apply(args=["+15559999999", "help"]).get() is False
    assert kinds() == []


@pytest.mark.parametrize("kind", ["help", "tier_change"])
def test_a_texter_made_inactive_after_their_notice_was_queued_gets_nothing(app, kind):
    user = make_user(tier="premium")
    user.is_active = False  # staff, after the keyword or the tier change queued the job
    db.session.commit()
    assert jobs.send_notice.apply(args=[user.phone_number, kind, "SM" + "3" * 32]).get() is False
    assert kinds() == []


def test_the_confirmation_of_a_stop_still_reaches_a_texter_made_inactive(app):
    user = make_user(opted_out_at=utcnow(), is_active=False)
    assert jobs.send_notice.apply(args=[user.phone_number, "opt_out", "SM" + "4" * 32]).get()
    assert kinds() == ["opt_out"]


def test_a_texter_deleted_while_their_notice_job_runs_gets_nothing_and_the_job_ends(
    app, monkeypatch
):
    user = make_user()
    book = jobs.outbound.book

    def book_then_staff_delete_the_texter(*args, **kwargs):
        with db.engine.begin() as api:  # DELETE /api/users/<phone>/ in another process
            api.execute(sa.delete(User).where(User.phone_number == user.phone_number))
        return book(*args, **kwargs)

    monkeypatch.setattr(jobs.outbound, "book", book_then_staff_delete_the_texter)
    result = jobs.send_notice.apply(args=[user.phone_number, "help", "SM" + "2" * 32])
    assert (result.state, result.result) == ("SUCCESS", False)
    assert kinds() == []


def test_enqueue_answer_publishes_the_task_id(app):
    task = make_task()
    celery = app.extensions["celery"]
    with celery.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        queue.clear()
        jobs.enqueue_answer(task.id)
        message = queue.get(timeout=2)
        message.ack()
        queue.close()
    assert message.headers["task"] == "sms_agent.jobs.answer_task"
    assert message.payload[0] == [str(task.id)]


def test_a_burst_of_jobs_from_many_threads_is_published_over_the_pools_connections(
    app, monkeypatch
):
    """Each publishing thread takes a producer kept bound to its broker connection; a burst
    from more threads than broker_pool_limit waits for one, as with Celery's pool, and
    every job arrives once."""
    on_memory = app_on_broker(app, "memory://")
    celery = on_memory.extensions["celery"]
    celery.conf.broker_pool_limit = 2
    made = []
    producer = celery.amqp.Producer

    def counted_producer(connection):
        made.append(producer(connection))
        return made[-1]

    monkeypatch.setattr(celery.amqp, "Producer", counted_producer)
    send = celery.amqp.send_task_message

    def send_slowly(*args, **kwargs):  # each thread holds its producer a while
        time.sleep(0.005)
        return send(*args, **kwargs)

    monkeypatch.setattr(celery.amqp, "send_task_message", send_slowly)
    drained(on_memory)
    task_ids = [str(uuid.uuid4()) for _ in range(40)]

    def enqueue(task_id: str) -> None:
        with on_memory.app_context():
            jobs.enqueue_answer(task_id)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(enqueue, task_ids))
    assert sorted(message.payload[0][0] for message in drained(on_memory)) == sorted(task_ids)
    assert 1 <= len(made) <= 2


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_a_redis_broker_publishes_every_job_through_one_client(app, monkeypatch):
    """kombu's own Redis transport built a redis.Redis client (and its ~170 response
    callbacks) for every message: a tenth of a webhook's CPU."""
    from sms_agent import create_app

    on_redis = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL=TestingConfig.TEST_REDIS_URL,
    )
    clients = []
    monkeypatch.setattr(redis.Redis, "__init__", _counted(redis.Redis.__init__, clients))
    task_ids = [str(uuid.uuid4()) for _ in range(40)]
    with on_redis.app_context():
        celery = on_redis.extensions["celery"]
        with celery.connection_for_read() as connection:
            queue = connection.SimpleQueue("celery")
            queue.clear()
            jobs.enqueue_answer(task_ids[0])  # the first opens the channel and its pool
            clients.clear()
            for task_id in task_ids[1:]:
                jobs.enqueue_answer(task_id)
            messages = [queue.get(timeout=2) for _ in task_ids]
            for message in messages:
                message.ack()
            queue.close()
    assert [message.payload[0] for message in messages] == [[task_id] for task_id in task_ids]
    assert clients == []


def test_a_message_envelope_reads_back_as_kombu_would_have_written_it():
    """Envelopes are written by orjson; one holding what orjson would write otherwise than
    kombu's encoder (a date) is kombu's own, so the worker reads the same values back."""
    plain = {
        "body": "W1siYSJdLCB7fV0=",
        "headers": {"eta": None, "retries": 0, "timelimit": [None, None], "argsrepr": "('é',)"},
        "properties": {"priority": 0, "delivery_info": {"exchange": "", "routing_key": "celery"}},
    }
    assert kombu_json.loads(envelope(plain)) == plain
    dated = {**plain, "headers": {"eta": datetime(2026, 12, 7, 3, 0, tzinfo=UTC)}}
    assert envelope(dated) == KOMBU_JSON.encode(dated)
    assert kombu_json.loads(envelope(dated)) == dated


def _counted(init, calls: list):
    def counting(self, *args, **kwargs):
        calls.append(self)
        init(self, *args, **kwargs)

    return counting


def test_redis_options_are_not_given_to_the_sqlite_broker():
    from sms_agent.worker import broker_transport_options

    sqlite = {"CELERY_BROKER_URL": "sqla+sqlite:///broker.sqlite", "BROKER_PUBLISH_TIMEOUT": 1.0}
    redis = {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "BROKER_PUBLISH_TIMEOUT": 1.0}
    assert broker_transport_options(sqlite) == {}
    assert broker_transport_options(redis)["visibility_timeout"] == 3600


def test_a_real_worker_answers_through_the_embedded_sqlite_broker(app, tmp_path):
    """The README's embedded mode: webhook -> SQLite broker (kombu's SQLAlchemy transport)
    -> a Celery worker -> the reply in the outbox."""
    from celery.contrib.testing.worker import start_worker

    from sms_agent import create_app, simulator

    embedded = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
    )
    celery = embedded.extensions["celery"]
    with embedded.app_context():
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            task = simulator.simulate_inbound("+15551230000", "hello worker")
            replies = simulator.wait_for_reply("+15551230000", task.created_at, task, timeout=20)
        assert [m.kind for m in replies] == ["program", "reply"]  # a new number's first
        assert replies[1].body.startswith("[Offline mode]")
        db.session.remove()
        db.engine.dispose()


#: A worker that takes one job off the embedded broker and is killed holding it.
KILLED_HOLDING_A_JOB = """
import os, signal, sys
from config import TestingConfig
from sms_agent import create_app
app = create_app(TestingConfig, CELERY_BROKER_URL=sys.argv[1])
with app.extensions["celery"].connection_for_read() as connection:
    connection.SimpleQueue("celery").get(timeout=10)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_job_a_killed_worker_held_on_the_embedded_broker_is_delivered_again(
    app, tmp_path, monkeypatch
):
    """Regression: kombu's SQLAlchemy transport marks a job taken and never looks at it
    again, so a worker killed (kill -9, the OOM killer) holding a HELP reply or a STOP's
    confirmation lost it for good: no row was left for the sweeper, as a task has. A job
    taken is now kept until it is acked, and one its worker never acked is delivered again
    after the visibility timeout (an hour; none here), as on Redis. Jobs that ran leave no
    row in broker.sqlite."""
    import subprocess
    import sys

    from celery.contrib.testing.worker import start_worker
    from kombu import Connection

    from sms_agent.vendors import sqlite_broker
    from tests.broker import app_on_broker

    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    embedded = app_on_broker(app, url)
    celery = embedded.extensions["celery"]
    with embedded.app_context():
        user, earlier = make_user(), make_user()
        # A job an older release ran, through kombu's own transport: it left the row behind.
        assert jobs._publish(jobs.send_notice, earlier.phone_number, "help", "SM" + "b" * 32)
        with Connection(url) as kombus_own:
            kombus_own.SimpleQueue("celery").get(timeout=10).ack()
        assert jobs._publish(jobs.send_notice, user.phone_number, "help", "SM" + "a" * 32)
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_HOLDING_A_JOB, url], capture_output=True, timeout=60
        )
        assert killed.returncode == -9, killed.stderr.decode()

        monkeypatch.setattr(sqlite_broker, "VISIBILITY_TIMEOUT", 0)
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            deadline = time.monotonic() + 20
            while not OutboundMessage.query.count() and time.monotonic() < deadline:
                time.sleep(0.2)
                db.session.rollback()
        sent = db.session.execute(sa.select(OutboundMessage.to_number, OutboundMessage.kind))
        assert [to for to, kind in sent if kind == "help"] == [user.phone_number]
        with celery.connection_for_read() as connection:
            left = connection.default_channel.session.execute(
                sa.text("SELECT count(*) FROM kombu_message")
            ).scalar()
        assert left == 0
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_a_worker_publishes_and_acks_through_a_slow_redis_that_a_webhook_gives_up_on(app):
    """Regression: the webhook's BROKER_PUBLISH_TIMEOUT (1 s) was the worker's too. With a
    Redis answering in 1.5 s (alive, but slow for a while; here 0.15 s against 0.1), a
    deferred notice's job (a STOP confirmation waiting for its sending slot) could not be
    published again and was lost, and the worker's own connection timed out taking jobs
    and acking them. The worker waits WORKER_BROKER_TIMEOUT."""
    from celery.signals import worker_init

    from sms_agent import create_app

    with SlowRedis(TestingConfig.TEST_REDIS_URL, delay=0.15) as slow:
        settings = {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "BROKER_PUBLISH_TIMEOUT": 0.1,  # a tenth of the defaults, to take a tenth the time
        }
        web = create_app(TestingConfig, CELERY_BROKER_URL=slow.url, **settings)
        with web.app_context():  # a webhook gives the stored task to the sweeper
            assert not jobs._publish(jobs.send_notice, "+15551230000", "help", countdown=60)

        worker = create_app(
            TestingConfig, CELERY_BROKER_URL=slow.url, GC_GEN0_THRESHOLD=0, **settings
        )
        celery = worker.extensions["celery"]
        worker_init.send(sender=type("Worker", (), {"app": celery})())  # as `celery worker` does
        with worker.app_context():
            assert jobs._publish(jobs.send_notice, "+15551230000", "help", countdown=60)
            with celery.connection_for_read() as connection:
                queue = connection.SimpleQueue("celery")
                message = queue.get(timeout=10)
                message.ack()  # acked through the slow Redis too
                queue.close()
    assert message.headers["task"] == "sms_agent.jobs.send_notice"


def test_a_job_handed_back_at_shutdown_then_finished_is_delivered_again_once(app, tmp_path):
    """On the embedded broker, a clean shutdown makes each unacked job's row visible again;
    an ack arriving after that (the job finished as the worker stopped) must neither fail
    nor drop the row, and the job is delivered once more, with no copy beside it."""
    from tests.broker import app_on_broker

    embedded = app_on_broker(app, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")
    with embedded.extensions["celery"].connection_for_write() as connection:
        queue = connection.SimpleQueue("handed-back")
        queue.put({"job": 1})
        taken = queue.get(timeout=5)
        queue.channel.qos.restore_unacked()  # what a warm shutdown does
        taken.ack()
        again = queue.get(timeout=5)
        assert again.payload == {"job": 1}
        again.ack()
        assert queue.qsize() == 0
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.5)
