"""Notices to many texters at once (a bulk tier change) go out in the background, at
BULK_NOTICE_SHARE of the sending rate, and never hold back answers or STOP confirmations.

These run a real Celery worker in this process, as `celery -A wsgi:celery_app worker` runs
one: on the tests' in-memory broker, on the embedded SQLite broker and on Redis."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest
import sqlalchemy as sa
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish

from config import TestingConfig
from sms_agent import create_app, jobs, quota, simulator
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, User
from sms_agent.worker import BULK_QUEUE, DEFAULT_QUEUE
from tests.broker import drained
from tests.factories import ESTABLISHED, make_user
from tests.standins import StandIn, twilio_message


class Sends:
    """A Twilio stand-in that notes when each SMS reached it, and to whom."""

    def __init__(self) -> None:
        self.arrived: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self.stand_in = StandIn(self._answer)

    def _answer(self, _method, _path, body):
        with self._lock:
            self.arrived.append((time.monotonic(), body["To"], body["Body"]))
        return 201, twilio_message(body), {}

    def to(self, phone: str) -> list[float]:
        return [at for at, to, _body in self.arrived if to == phone]

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.arrived) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def sends(app):
    """Twilio (the stand-in) paced on a sending number of this test's own."""
    sends = Sends()
    with sends.stand_in as stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_PHONE_NUMBER=f"+1500555{uuid.uuid4().int % 10**4:04d}",
        )
        yield sends


@pytest.fixture
def worker(app):
    """A worker of four threads consuming the app's broker, as the Procfile's does. The
    in-memory broker is polled; every 50 ms, not every second, keeps its delay out of the
    figures (Redis hands a worker each job as it comes)."""
    celery = app.extensions["celery"]
    celery.conf.broker_transport_options = {"polling_interval": 0.05}
    drained(app)
    with start_worker(
        celery, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=10
    ):
        yield
    drained(app)  # the notices still waiting for their time


def upgrade(users: list[User]) -> jobs.BulkNotices:
    """The admin's bulk action "Upgrade to premium", without the page around it."""
    changes = [(user, quota.change_tier(user, "premium")) for user in users]
    db.session.commit()
    return jobs.enqueue_tier_change_notices(changes)


@contextlib.contextmanager
def notices_queued():
    """(to, eta) of each notice job queued meanwhile, in the order queued."""
    queued: list[tuple[str, datetime]] = []

    def note(body, headers, **_kwargs) -> None:
        if headers["task"] == "sms_agent.jobs.send_notice":
            queued.append((body[0][0], datetime.fromisoformat(headers["eta"])))

    before_task_publish.connect(note)
    try:
        yield queued
    finally:
        before_task_publish.disconnect(note)


def texters(count: int) -> list[User]:
    """Free texters; every other one never got anything, so gets the program notice first."""
    return [make_user(service_state={} if n % 2 else dict(ESTABLISHED)) for n in range(count)]


@pytest.mark.slow
def test_a_stop_and_a_question_right_after_a_bulk_upgrade_are_answered_at_once(app, sends, worker):
    """300 upgrades (450 SMS with program notices) take 15 minutes of slots at 1 SMS a
    second; the STOP's confirmation takes the next slot and the answer the one after."""
    app.config.update(TWILIO_MPS=1, BULK_NOTICE_SHARE=0.5)
    told = upgrade(texters(300))

    stopper, asker = make_user(), make_user()
    stopped_at = time.monotonic()
    simulator.simulate_inbound(stopper.phone_number, "STOP")
    asked_at = time.monotonic()
    simulator.simulate_inbound(asker.phone_number, "What is DNS?")
    sends.wait_for(3, timeout=15)

    [confirmed_at] = sends.to(stopper.phone_number)
    [answered_at] = sends.to(asker.phone_number)
    # The next free slots (a loaded machine may be a little late), not a quarter hour away.
    assert confirmed_at - stopped_at < 1.5
    assert answered_at - asked_at < 2.5  # its slot follows the confirmation's
    assert told.count == 300 and told.seconds > 890  # the notices: 450 lane slots of 2 s


@pytest.mark.slow
def test_every_bulk_notice_goes_out_once_at_its_share_of_the_rate(app, sends, worker):
    """20 upgrades, 10 of them after a program notice: 30 SMS at half of 10 a second take
    6 s, one SMS (or a notice's two) every 0.2 s, in the order the texters were changed."""
    app.config.update(TWILIO_MPS=10, BULK_NOTICE_SHARE=0.5)
    users = texters(20)
    began = time.monotonic()
    with notices_queued() as queued:
        told = upgrade(users)
    sends.wait_for(30, timeout=20)
    time.sleep(0.5)  # nothing more comes

    took = sends.arrived[-1][0] - began
    assert 5.5 < told.seconds < 6.0  # the last notice's time
    assert told.seconds < took < told.seconds + 2.5, took
    # In the order the texters were changed, each a lane slot (0.2 s) per SMS of the one
    # before: the times their jobs were queued for. Not the order the SMS reached Twilio in:
    # notices that a loaded machine runs late come due together, and four worker threads
    # send those in any order.
    assert [to for to, _eta in queued] == [user.phone_number for user in users]
    etas = [eta for _to, eta in queued]
    gaps = [(b - a).total_seconds() for a, b in zip(etas, etas[1:], strict=False)]
    assert all(gap >= 0.2 * (1 + n % 2) - 1e-3 for n, gap in enumerate(gaps)), gaps
    db.session.rollback()
    kinds = Counter(db.session.execute(sa.select(OutboundMessage.to_number, OutboundMessage.kind)))
    for n, user in enumerate(users):
        assert kinds[(user.phone_number, "tier_change")] == 1
        assert kinds[(user.phone_number, "program")] == n % 2
    assert len(sends.arrived) == 30


def test_a_tier_change_notice_waits_in_the_bulk_queue_for_its_time(app, sends):
    app.config.update(TWILIO_MPS=1, BULK_NOTICE_SHARE=0.25)
    drained(app)
    upgrade([make_user()])
    assert drained(app, (DEFAULT_QUEUE,)) == []
    [message] = drained(app, (BULK_QUEUE,))
    assert message.headers["task"] == "sms_agent.jobs.send_notice"
    assert message.payload[0][1] == "tier_change"
    assert message.headers["eta"]  # 3 s of a 4 s lane slot left to conversation first


def test_a_bulk_notice_whose_slot_is_taken_comes_back_to_the_bulk_queue(app, sends):
    """At its time, answers may hold the next slots: it waits for its own, in its queue."""
    from sms_agent.vendors import pacing

    app.config.update(TWILIO_MPS=1, PACING_MAX_SLEEP_SECONDS=0.2)
    app.extensions["celery"].conf.task_eager_propagates = False
    drained(app)
    user = make_user()
    pacing.pacer_for(None).reserve_slot(app.config["TWILIO_PHONE_NUMBER"], 1.0, 5)
    args = [user.phone_number, "tier_change", "TC" + uuid.uuid4().hex]
    assert jobs.send_notice.apply(args=args).result is False
    assert drained(app, (DEFAULT_QUEUE,)) == []
    [again] = drained(app, (BULK_QUEUE,))
    assert again.payload[0][:3] == args and again.payload[0][3]["count"] == 1


def _brokers() -> list:
    redis = TestingConfig.TEST_REDIS_URL
    return [
        pytest.param("sqlite", id="embedded-sqlite-broker"),
        pytest.param(
            redis,
            id="redis-broker",
            marks=pytest.mark.skipif(not redis, reason="TEST_REDIS_URL is not set"),
        ),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("broker", _brokers())
def test_a_worker_takes_a_confirmation_before_a_queue_of_bulk_notices(app, tmp_path, broker):
    """The embedded default (console SMS, nothing paced) on a real broker: 30 notices are
    queued before a STOP, then a worker started as the Procfile starts it sends the STOP's
    confirmation among the first, and every notice once."""
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}" if broker == "sqlite" else broker
    embedded = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL=url,
    )
    celery = embedded.extensions["celery"]
    with embedded.app_context():
        with celery.connection_for_write() as connection:
            for name in (DEFAULT_QUEUE, BULK_QUEUE):
                connection.SimpleQueue(name).clear()
        users = [make_user() for _ in range(30)]
        stopper = make_user()
        assert upgrade(users) == (30, 0.0)
        simulator.simulate_inbound(stopper.phone_number, "STOP")
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            deadline = time.monotonic() + 30
            while OutboundMessage.query.count() < 31 and time.monotonic() < deadline:
                time.sleep(0.2)
                db.session.rollback()
        sent = db.session.scalars(
            sa.select(OutboundMessage).order_by(OutboundMessage.created_at)
        ).all()
        assert len(sent) == 31
        assert [m.to_number for m in sent].index(stopper.phone_number) < 3
        assert Counter(m.to_number for m in sent if m.kind == "tier_change") == {
            user.phone_number: 1 for user in users
        }
        db.session.remove()
        db.engine.dispose()


def test_bulk_notices_kept_while_the_broker_was_down_keep_their_spread(app, sends):
    """Regression: tier-change notices the broker could not take were kept for the sweeper
    without their times, and the first sweep after the outage queued them all to run at
    once: each booked its real slot then, so 300 notices put every answer and STOP
    confirmation a quarter of an hour behind them. They are spread over the bulk lane again."""
    from sms_agent.models import PendingNotice

    app.config.update(TWILIO_MPS=10, BULK_NOTICE_SHARE=0.5)
    phones = [user.phone_number for user in texters(6)]
    down = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    with down.app_context():
        upgrade([db.session.get(User, phone) for phone in phones])
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].set_current()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PendingNotice)) == 6

    drained(app)
    jobs.sweep_stale_tasks()  # the broker is back
    queued = drained(app, (BULK_QUEUE,))
    assert sorted(message.payload[0][0] for message in queued) == sorted(phones)
    etas = sorted(datetime.fromisoformat(message.headers["eta"]) for message in queued)
    # 9 SMS (3 program notices) at 5 a second: the last runs 1.4 s after the first.
    assert (etas[-1] - etas[0]).total_seconds() > 1.3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PendingNotice)) == 0
