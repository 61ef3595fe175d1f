"""Hundreds of jobs in one worker process: the database pool is sized by configuration, no
connection is held through a vendor call, and an exhausted pool delays a job instead of
failing its task."""

from __future__ import annotations

import secrets
import uuid

import pytest
import sqlalchemy as sa

from config import TestingConfig
from sms_agent import create_app, jobs
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task
from sms_agent.vendors import publishing
from tests.broker import drained
from tests.factories import make_task, make_user
from tests.standins import StandIn, chat_completion, twilio_message
from tests.test_app import production_process


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["8", "0", "30.0"]),  # one connection per worker thread (WORKER_CONCURRENCY=8)
        ({"WORKER_CONCURRENCY": "256"}, ["8", "0", "30.0"]),  # capped: threads share them
        ({"WEB_THREADS": "12", "WORKER_CONCURRENCY": "2"}, ["8", "0", "30.0"]),
        ({"WORKER_CONCURRENCY": "256", "DB_POOL_SIZE": "40"}, ["40", "0", "30.0"]),
        ({"DB_POOL_SIZE": "40", "DB_MAX_OVERFLOW": "10"}, ["40", "10", "30.0"]),
        ({"DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "0", "DB_POOL_TIMEOUT": "2"}, ["5", "0", "2.0"]),
    ],
)
def test_the_database_pool_follows_the_threads_unless_set(tmp_path, env, expected):
    env = {"SECRET_KEY": secrets.token_hex(32), "TWILIO_AUTH_TOKEN": "t", **env}
    show = ["DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DB_POOL_TIMEOUT"]
    done = production_process(tmp_path, show, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected


def test_a_bad_pool_size_stops_the_app(tmp_path):
    env = {"SECRET_KEY": secrets.token_hex(32), "TWILIO_AUTH_TOKEN": "t", "DB_POOL_SIZE": "0"}
    done = production_process(tmp_path, ["DB_POOL_SIZE"], **env)
    assert done.returncode != 0
    assert "DB_POOL_SIZE=0 must be at least 1" in done.stderr


def test_the_engine_gets_the_configured_pool(tmp_path):
    url = f"sqlite:///{tmp_path / 'pool.sqlite'}"
    settings = {"DB_POOL_SIZE": 3, "DB_MAX_OVERFLOW": 2, "DB_POOL_TIMEOUT": 7.0}
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url, **settings)
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 2, 7.0)
        db.engine.dispose()


def test_an_in_memory_database_keeps_its_single_shared_connection():
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI="sqlite://", DB_POOL_SIZE=3)
    with app.app_context():
        assert type(db.engine.pool).__name__ == "StaticPool"
        db.engine.dispose()


def _watching_the_pool(reply):
    """A stand-in that records, as each request arrives, how many of the app's pooled
    connections are checked out (the engine is read in the test's thread)."""
    engine = db.engine
    seen: list[int] = []

    def answer(method, path, body):
        seen.append(engine.pool.checkedout())
        return reply(method, path, body)

    return StandIn(answer), seen


def test_no_database_connection_is_held_while_the_model_answers_or_twilio_sends(app):
    """A worker runs hundreds of jobs on a pool of a few connections: a job that kept its
    transaction open through a model call of seconds would hold one all that time."""
    model, during_model = _watching_the_pool(lambda *_: (200, chat_completion("Paris."), {}))
    twilio, during_send = _watching_the_pool(lambda _m, _p, body: (201, twilio_message(body), {}))
    with model, twilio:
        app.config.update(
            LLM_BACKEND="openai",
            OPENAI_BASE_URL=model.url + "/v1",
            OPENAI_API_KEY="sk-test",
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=twilio.url,
        )
        task_id = make_task().id
        db.session.commit()  # this test's own session lets its connection go too
        assert jobs.answer_task.apply(args=[str(task_id)]).result == "answered"
    assert during_model == [0]
    assert during_send == [0]


@pytest.fixture
def small_pool_app(database_url):
    """The same database, through an app whose pool has one connection and waits 0.2 s."""
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        DB_POOL_SIZE=1,
        DB_MAX_OVERFLOW=0,
        DB_POOL_TIMEOUT=0.2,
    )
    app.extensions["celery"].conf.task_eager_propagates = False
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_job_that_finds_every_connection_busy_runs_again_later(app, small_pool_app):
    with app.app_context():
        task_id = make_task().id
    with db.engine.connect():  # the one connection, busy elsewhere
        result = jobs.answer_task.apply(args=[str(task_id)])
    assert result.result == "busy"  # not failed: the job was published again
    assert db.session.get(Task, task_id).status == "queued"
    db.session.commit()  # and lets the one connection go
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "answered"
    replies = db.session.scalars(sa.select(OutboundMessage).filter_by(task_id=task_id)).all()
    assert [m.kind for m in replies] == ["reply"]


def test_a_job_the_database_refuses_runs_again_later(app, small_pool_app, monkeypatch):
    """PostgreSQL's "too many clients", a restart or a deadlock passes: the task waits in the
    queue instead of failing (it failed, unanswered, before)."""
    with app.app_context():
        task_id = make_task().id

    def refused(*_args, **_kwargs):
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("sorry, too many clients already"))

    monkeypatch.setattr(pipeline, "ask_model", refused)
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "busy"
    assert db.session.get(Task, task_id).status == "queued"
    monkeypatch.undo()
    db.session.commit()
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "answered"


@pytest.mark.parametrize(
    ("failure", "outcome", "calls"),
    [
        (sa.exc.OperationalError("SELECT 1", {}, Exception("too many clients")), "busy", 2),
        (RuntimeError("a bug"), "failed", 1),
    ],
    ids=["database-refused", "unexpected"],
)
def test_a_model_call_paid_before_the_job_failed_stays_in_the_spend(
    app, openai_server, monkeypatch, failure, outcome, calls
):
    """Regression: the database refusing the job after the model answered (too many
    clients, a pool that stayed busy), or a fault there, rolled back the call with the
    rest, so the answer paid for was in no spend, no task's cost, no cap (and the database's
    retry paid for another)."""
    task_id = make_task().id
    deliver = pipeline._deliver_reply

    def fails(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr(pipeline, "_deliver_reply", fails)
    assert jobs.answer_task.apply(args=[str(task_id)]).result == outcome
    monkeypatch.setattr(pipeline, "_deliver_reply", deliver)
    db.session.commit()
    if outcome == "busy":
        assert jobs.answer_task.apply(args=[str(task_id)]).result == "answered"
    asked = [path for _method, path, _body in openai_server.requests if "chat" in path]
    paid = db.session.scalars(sa.select(ModelCall)).all()
    assert len(asked) == calls and [call.task_id for call in paid] == [task_id] * calls
    task = db.session.get(Task, task_id)
    assert task.cost_usd == sum([call.cost_usd for call in paid], start=task.sms_cost_usd) > 0


def test_a_database_that_stays_busy_is_asked_less_and_less_often(app, small_pool_app, monkeypatch):
    """An outage holds back every queued job: each looks again after a growing, jittered
    wait (at most a minute), not every RETRY_BACKOFF_SECONDS for as long as it lasts."""
    small_pool_app.config["RETRY_BACKOFF_SECONDS"] = 2.0
    with app.app_context():
        task_id = str(make_task().id)
    published: list[tuple[float, dict]] = []
    monkeypatch.setattr(
        publishing,
        "publish",
        lambda job, args, kwargs, countdown, **_: published.append((countdown, kwargs)),
    )

    busy = 0
    with db.engine.connect():  # the one connection, busy elsewhere for the whole outage
        for _ in range(8):
            assert jobs.answer_task.apply(args=[task_id], kwargs={"busy": busy}).result == "busy"
            busy = published[-1][1]["busy"]

    waits = [wait for wait, _ in published]
    assert busy == 8
    for n, wait in enumerate(waits):
        ceiling = min(2.0 * 2**n, jobs.MAX_BUSY_WAIT_SECONDS)
        assert ceiling / 2 <= wait <= ceiling
    assert waits[-1] >= 30


@pytest.mark.parametrize("fault", ["statement timeout", "connection dropped"])
@pytest.mark.parametrize("parts", [1, 2])
def test_a_sid_the_database_failed_to_store_is_stored_by_the_jobs_next_run(
    app, twilio_server, openai_server, parts, fault
):
    """Twilio took the part, and the database timed out (or dropped the connection) on the
    write of its sid: the texter has the SMS, but the row stayed queued without a sid
    (unpriced, and unknown to staff) unless a status callback came; after a dropped
    connection the task even failed, and the texter who had the answer got the apology.
    The job's next run, which sends nothing twice, stores the sid Twilio gave."""
    if parts == 2:  # an enterprise texter's answer, too long for one message
        answer = "This is a sentence of the answer. " * 60
        openai_server.default = lambda *_: (200, chat_completion(answer), {})
    task_id = str(make_task(make_user(tier="enterprise" if parts == 2 else "free")).id)
    failing = []
    send = twilio_server.default

    def took_it_then_the_database_failed(method, path, body):
        if not failing:
            failing.append(True)
        return send(method, path, body)

    def database_fault(_cursor, statement, *_args):
        if failing == [True] and statement.startswith("UPDATE outbound_messages"):
            failing.append(False)
            raise db.engine.dialect.loaded_dbapi.OperationalError(fault)

    def as_the_driver_tells_it(context):
        if str(context.original_exception) == fault:
            context.is_disconnect = fault == "connection dropped"

    twilio_server.default = took_it_then_the_database_failed
    sa.event.listen(db.engine, "do_execute", database_fault)
    sa.event.listen(db.engine, "handle_error", as_the_driver_tells_it)
    try:
        assert jobs.answer_task.apply(args=[task_id]).result == "busy"
    finally:
        sa.event.remove(db.engine, "do_execute", database_fault)
        sa.event.remove(db.engine, "handle_error", as_the_driver_tells_it)
    [again] = [m for m in drained(app) if m.headers["task"] == "sms_agent.jobs.answer_task"]
    args, kwargs, _ = again.payload
    db.session.commit()
    assert jobs.answer_task.apply(args=args, kwargs=kwargs).result == "answered"

    sent = [request for request in twilio_server.requests if request[0] == "POST"]
    assert len(sent) == parts  # nothing sent twice, no apology
    replies = db.session.scalars(
        sa.select(OutboundMessage).filter_by(task_id=uuid.UUID(task_id))
    ).all()
    assert sorted(m.part for m in replies) == list(range(1, parts + 1))
    assert all(m.sid and m.sid.startswith("SM") for m in replies)
    assert db.session.get(Task, uuid.UUID(task_id)).status == "completed"


@pytest.mark.parametrize("kind", ["help", "more"])
def test_a_notices_sid_the_database_timed_out_on_is_stored_later(app, twilio_server, kind):
    """Regression: Twilio took a notice (HELP's reply, MORE's next part) and the database
    then timed out on the write of its sid: the job failed and the row stayed queued without
    a sid, unpriced and unknown to staff, which the answer's job carries to its next run.
    The sid now goes to the broker, as a delivery report the web process could not store
    does, and is stored once the database answers; nothing is sent twice."""
    user = make_user(tier="enterprise")
    if kind == "more":
        rest = "The rest of the answer, which did not fit the first message."
        meta = {"sent": "The start.", "more": rest, "more_channel": "sms"}
        make_task(user, status="completed", ai_response="The start. " + rest, metadata_=meta)
    timing_out, given = [], []
    send = twilio_server.default

    def took_it_then_the_database_timed_out(method, path, body):
        answer = send(method, path, body)
        if method == "POST":
            timing_out.append(True)
            given.append(answer[1]["sid"])
        return answer

    def statement_timeout(_conn, _cursor, statement, *_args):
        if timing_out == [True] and statement.startswith("UPDATE outbound_messages"):
            timing_out.append(False)
            raise sa.exc.OperationalError(
                statement, {}, Exception("canceling statement due to statement timeout")
            )

    twilio_server.default = took_it_then_the_database_timed_out
    sa.event.listen(db.engine, "before_cursor_execute", statement_timeout)
    try:
        jobs.send_notice.apply(args=[user.phone_number, kind, "SM" + "9" * 32])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", statement_timeout)
    db.session.rollback()
    for message in drained(app):
        args, kwargs, _ = message.payload
        assert app.extensions["celery"].tasks[message.headers["task"]].apply(args, kwargs).result
    db.session.commit()
    [sid] = given  # nothing sent twice
    [stored] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (stored.sid, stored.kind) == (sid, kind)


def test_a_notice_whose_job_ran_while_the_database_was_away_is_sent_once_it_is_back(
    app, twilio_server
):
    """Regression: a notice's job (a HELP reply, a STOP's confirmation) that found the
    database away failed, and the notice was lost: nothing keeps it but its job. It now
    runs again later, as an answer's job does (busy_wait)."""
    phone = make_user().phone_number
    away = []

    def database_away(_conn, _cursor, statement, *_args):
        if not away:
            away.append(statement)
            raise sa.exc.OperationalError(statement, {}, Exception("connection refused"))

    sa.event.listen(db.engine, "before_cursor_execute", database_away)
    try:
        assert jobs.send_notice.apply(args=[phone, "help", "SM" + "8" * 32]).result is False
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", database_away)
    db.session.rollback()
    [again] = drained(app)
    args, kwargs, _ = again.payload
    assert kwargs["busy"] == 1
    assert jobs.send_notice.apply(args, kwargs).result is True
    assert jobs.send_notice.apply(args, kwargs).result is False  # a redelivery sends nothing
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert sent.kind == "help" and sent.sid
    assert len([r for r in twilio_server.requests if r[0] == "POST"]) == 1
