"""Sends are paced per sending number at TWILIO_MPS, in order, across worker processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa

from config import TestingConfig
from sms_agent.vendors import pacing
from sms_agent.vendors.twilio import get_sms_backend
from tests.broker import drained
from tests.standins import StandIn, twilio_message

NUMBER = "+15005550006"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_gets_slots_one_interval_apart_in_the_order_it_asked():
    clock = FakeClock()
    pacer = pacing.LocalPacer(clock)
    waits = [pacer.reserve(NUMBER, 0.5) for _ in range(4)]
    assert waits == [0.0, 0.5, 1.0, 1.5]
    clock.now += 10  # idle for a while: the next send goes at once
    assert pacer.reserve(NUMBER, 0.5) == 0.0
    assert pacer.reserve(NUMBER, 0.5) == 0.5


def test_each_sending_number_has_its_own_pace():
    pacer = pacing.LocalPacer(FakeClock())
    assert pacer.reserve("+15550000001", 1.0) == 0.0
    assert pacer.reserve("+15550000002", 1.0) == 0.0
    assert pacer.reserve("+15550000001", 1.0) == 1.0


def test_zero_mps_turns_pacing_off():
    slept = []
    for _ in range(3):
        assert pacing.wait_for_slot(NUMBER, 0, None, sleep=slept.append) == 0.0
    assert slept == []


def _arrivals() -> tuple[StandIn, list[float]]:
    arrived: list[float] = []

    def answer(_method, _path, body):
        arrived.append(time.monotonic())
        return 201, twilio_message(body), {}

    return StandIn(answer), arrived


def test_twilio_sends_from_many_threads_reach_twilio_at_the_configured_rate(app):
    stand_in, arrived = _arrivals()
    with stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_MPS=5,
            TWILIO_PHONE_NUMBER=f"+1500555{uuid.uuid4().int % 10**4:04d}",
        )

        def send(number: int) -> None:
            with app.app_context():
                get_sms_backend().send(f"+1555123{number:04d}", "hi")

        send(0)  # the SDK's first use imports its modules: not part of the burst
        arrived.clear()
        time.sleep(0.1)
        burst_started = time.monotonic()
        threads = [threading.Thread(target=send, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(arrived) == 5
    # The k-th send may not leave before its slot, k / 5 s after the burst began. A busy
    # machine can only delay a send (and so bunch several up), never bring one forward,
    # so this holds however loaded the machine is; without pacing all five come at once.
    early = [
        (k, round(at - burst_started, 3))
        for k, at in enumerate(sorted(arrived))
        if at - burst_started < k * 0.2 - 0.01
    ]
    assert not early, early


def _reserve_in_a_process(url: str, number: str, count: int, results) -> None:
    pacer = pacing.RedisPacer(url)
    for _ in range(count):
        slot, wait = pacer.reserve_slot(number, 0.1)
        time.sleep(wait)
        results.put((slot, time.time()))


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_the_pace_holds_across_worker_processes_sharing_redis():
    url = TestingConfig.TEST_REDIS_URL
    number = f"+1500{uuid.uuid4().int % 10**7:07d}"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=_reserve_in_a_process, args=(url, number, 5, results))
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    slots, times = zip(*sorted(results.get(timeout=30) for _ in range(15)), strict=True)
    for process in processes:
        process.join(timeout=10)
    redis.Redis.from_url(url).delete(f"sms_agent:pacing:{number}")

    gaps = [later - earlier for earlier, later in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= 0.1 - 1e-5, gaps  # never two sends in one slot
    # And the sends wait for them: waking from sleep adds a little either way.
    assert max(times) - min(times) >= 14 * 0.1 - 0.06


def test_slots_booked_together_are_consecutive_and_the_next_booking_follows_them():
    pacer = pacing.LocalPacer(FakeClock())
    assert pacer.reserve_slot(NUMBER, 0.5, count=3) == (1000.0, 0.0)
    assert pacer.reserve_slot(NUMBER, 0.5) == (1001.5, 1.5)  # after the three


def test_slots_hand_out_their_waits_in_turn_then_none():
    slots = pacing.Slots(first=50.0, interval=0.5, count=3, wait=1.0)
    waits = [slots.take() for _ in range(4)]
    assert [round(w, 1) for w in waits[:3]] == [1.0, 1.5, 2.0]
    assert waits[3] is None


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_redis_books_consecutive_slots_on_its_own_clock():
    url = TestingConfig.TEST_REDIS_URL
    number = f"+1500{uuid.uuid4().int % 10**7:07d}"
    pacer = pacing.RedisPacer(url)
    first, wait = pacer.reserve_slot(number, 0.5, count=4)
    assert wait == 0.0 and abs(first - pacer.now()) < 1
    second, wait = pacer.reserve_slot(number, 0.5)
    assert second == pytest.approx(first + 2.0, abs=1e-5) and wait > 1.9
    looked_up = pacing.look_up({"first": second, "interval": 0.5, "count": 1}, url)
    assert 1.8 < looked_up.wait <= 2.0
    redis.Redis.from_url(url).delete(f"sms_agent:pacing:{number}")


# Deferred sends: a job whose slot is far off gives its worker back


def published(app, job: str) -> list:
    """Drain the in-memory broker; the messages of `job` (headers and payload)."""
    return [message for message in drained(app) if message.headers["task"] == job]


@pytest.fixture
def paced(app, openai_server):
    """Twilio (a stand-in recording when each send arrives) paced at 2 messages a second for
    a number of this test's own; a worker sleeps at most 0.2 s for a slot."""
    stand_in, arrived = _arrivals()
    with stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_MPS=2,
            PACING_MAX_SLEEP_SECONDS=0.2,
            TWILIO_PHONE_NUMBER=f"+1500555{uuid.uuid4().int % 10**4:04d}",
        )
        app.extensions["celery"].conf.task_eager_propagates = False
        published(app, "sms_agent.jobs.answer_task")
        yield stand_in, arrived


def book_ahead(app, seconds: float) -> float:
    """Book the number's slots for the next `seconds`, as a burst of other replies would;
    returns when the next free slot comes (time.monotonic)."""
    interval = 1 / app.config["TWILIO_MPS"]
    pacer = pacing.pacer_for(None)
    pacer.reserve_slot(app.config["TWILIO_PHONE_NUMBER"], interval, round(seconds / interval))
    return time.monotonic() + seconds


def test_an_answer_whose_slot_is_far_off_is_stored_and_its_job_comes_back_for_the_slot(
    app, paced, openai_server
):
    from sms_agent import jobs
    from sms_agent.extensions import db
    from sms_agent.models import OutboundMessage, Task, utcnow
    from sms_agent.ops import sweeper
    from tests.factories import make_task

    _stand_in, arrived = paced
    task_id = make_task().id
    booked_at = datetime.now(UTC)
    slot = book_ahead(app, 3.0)
    began = time.monotonic()
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "deferred"
    assert time.monotonic() - began < 2.5  # the worker did not sleep until the slot

    db.session.rollback()
    task = db.session.get(Task, task_id)
    assert task.status == "queued" and task.ai_response  # answered once, not sent yet
    assert task.metadata_["slots"]["count"] == 1
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert arrived == [] and len(openai_server.requests) == 1
    # The sweeper leaves it alone until STALE_TASK_SECONDS after its slot.
    stale = app.config["STALE_TASK_SECONDS"]
    assert task_id not in sweeper.stale_task_ids(utcnow() + timedelta(seconds=stale - 1))
    assert task_id in sweeper.stale_task_ids(utcnow() + timedelta(seconds=stale + 4))
    [message] = published(app, "sms_agent.jobs.answer_task")
    assert message.payload[0] == [str(task_id)]
    eta = datetime.fromisoformat(message.headers["eta"])
    # The job comes back at the slot booked 3 s ahead (a loaded machine may take a while
    # to get here, so this is measured from the booking, not from now).
    assert abs(eta - (booked_at + timedelta(seconds=3.0))) < timedelta(seconds=0.25), eta

    time.sleep(max(0.0, (eta - datetime.now(UTC)).total_seconds()))  # the broker's part
    db.session.commit()
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "answered"
    assert len(arrived) == 1 and arrived[0] >= slot - 0.05  # sent in its slot, not before
    assert len(openai_server.requests) == 1  # the stored answer was sent, not asked again
    db.session.rollback()
    task = db.session.get(Task, task_id)
    assert task.status == "completed" and "slots" not in task.metadata_


def test_a_new_numbers_program_notice_and_reply_go_out_in_consecutive_slots(app, paced):
    from sms_agent.answering import pipeline
    from sms_agent.models import OutboundMessage
    from tests.factories import make_task, make_user

    _stand_in, arrived = paced
    task = make_task(make_user(service_state={}))
    began = time.monotonic()
    assert pipeline.answer(task.id) == "answered"
    kinds = [m.kind for m in OutboundMessage.query.order_by(OutboundMessage.created_at)]
    assert kinds == ["program", "reply"]
    # The reply's slot is one interval after the notice's, booked after `began`; a busy
    # machine may delay either send, never bring the reply forward.
    assert arrived[1] - began >= 0.5 - 0.01
    # Both were booked at once: the next booking comes after them.
    pacer = pacing.pacer_for(None)
    assert pacer.reserve(app.config["TWILIO_PHONE_NUMBER"], 0.5) > 0.4


def test_a_notice_whose_slot_is_far_off_comes_back_with_its_booking(app, paced):
    from sms_agent import jobs
    from sms_agent.models import OutboundMessage
    from tests.factories import make_user

    _stand_in, arrived = paced
    published(app, "sms_agent.jobs.send_notice")
    user = make_user()
    slot = book_ahead(app, 1.5)
    args = [user.phone_number, "help", "SM" + "2" * 32]
    assert jobs.send_notice.apply(args=args).result is False
    assert arrived == [] and OutboundMessage.query.count() == 0
    [message] = published(app, "sms_agent.jobs.send_notice")
    again = message.payload[0]
    assert again[:3] == args and again[3]["count"] == 1  # the booking comes back

    time.sleep(max(0.0, slot - time.monotonic() - 0.1))
    assert jobs.send_notice.apply(args=again).result is True
    assert len(arrived) == 1 and arrived[0] >= slot - 0.05
    assert [m.kind for m in OutboundMessage.query] == ["help"]


# Each of our numbers is paced on its own: replies go out from the number the texter wrote to


def fresh_number(prefix: str = "+1500556") -> str:
    """A number of ours no other test has paced (Redis outlives a test)."""
    return f"{prefix}{uuid.uuid4().int % 10**4:04d}"


def _pacing_stores() -> list:
    url = TestingConfig.TEST_REDIS_URL
    return [
        pytest.param(None, id="in-process"),
        pytest.param(
            url, id="redis", marks=pytest.mark.skipif(not url, reason="TEST_REDIS_URL is not set")
        ),
    ]


@pytest.mark.parametrize("pacing_url", _pacing_stores())
def test_each_of_our_numbers_books_slots_of_its_own(app, pacing_url):
    """A burst answered from the number some texters wrote to holds back no message from
    another number, nor from the WhatsApp sender of the same number; each number's own
    slots still follow one another at TWILIO_MPS, in the order they were booked."""
    ours, other = fresh_number("+1500555"), fresh_number()
    app.config.update(
        SMS_BACKEND="twilio", TWILIO_MPS=2, PACING_REDIS_URL=pacing_url, TWILIO_PHONE_NUMBER=ours
    )
    backend = get_sms_backend()
    burst = [backend.book(1, "sms", ours) for _ in range(3)]
    from_other = backend.book(2, "sms", other)
    on_whatsapp = backend.book(1, "whatsapp", ours)
    next_of_ours = backend.book(1)  # no sender: TWILIO_PHONE_NUMBER's slots

    gaps = [round(slots.first - burst[0].first, 5) for slots in [*burst, next_of_ours]]
    assert gaps == [0.0, 0.5, 1.0, 1.5]
    assert from_other.wait == 0.0 and on_whatsapp.wait == 0.0
    assert [s.number for s in (from_other, on_whatsapp)] == [other, f"whatsapp:{ours}"]
    assert from_other.booking["number"] == other  # kept with a deferred task's booking


def test_a_reply_from_another_number_is_not_held_back_by_a_burst_from_ours(app, paced):
    """Texters who wrote to TWILIO_PHONE_NUMBER queue behind its burst; a texter who wrote
    to another of our numbers is answered from it at once."""
    from sms_agent import jobs
    from sms_agent.extensions import db
    from sms_agent.models import Task
    from sms_agent.outbound import OUR_NUMBER
    from tests.factories import make_task

    stand_in, _arrived = paced
    ours, other = app.config["TWILIO_PHONE_NUMBER"], fresh_number()
    behind = make_task(metadata_={OUR_NUMBER: ours}).id
    ahead = make_task(metadata_={OUR_NUMBER: other}).id
    book_ahead(app, 3.0)  # a burst of answers from our number

    assert jobs.answer_task.apply(args=[str(behind)]).result == "deferred"
    began = time.monotonic()
    assert jobs.answer_task.apply(args=[str(ahead)]).result == "answered"
    assert time.monotonic() - began < 2.0  # not after the burst's 3 s

    [(_method, _path, sent)] = stand_in.requests
    assert sent["From"] == other
    db.session.rollback()
    assert db.session.get(Task, behind).metadata_["slots"]["number"] == ours


def test_sends_from_two_of_our_numbers_each_go_out_at_the_rate(app):
    """Two threads each send four messages from a number of ours: each number's go out
    one slot apart, and neither waits behind the other's."""
    arrived: list[tuple[float, str]] = []

    def answer(_method, _path, body):
        arrived.append((time.monotonic(), body["From"]))
        return 201, twilio_message(body), {}

    ours, other = fresh_number("+1500555"), fresh_number()
    with StandIn(answer) as stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_MPS=5,
            TWILIO_PHONE_NUMBER=ours,
        )

        def send(sender: str) -> None:
            with app.app_context():
                for number in range(4):
                    get_sms_backend().send(f"+1555123{number:04d}", "hi", sender=sender)

        with app.app_context():  # the SDK's first use imports its modules: not timed
            get_sms_backend().send("+15551230000", "warm-up", sender=fresh_number())
        arrived.clear()
        burst_started = time.monotonic()
        threads = [threading.Thread(target=send, args=(sender,)) for sender in (ours, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(arrived) == 8
    for sender in (ours, other):
        # A busy machine can only delay a send, never bring one before its slot.
        mine = [at - burst_started for at, sent_from in arrived if sent_from == sender]
        early = [(k, round(at, 3)) for k, at in enumerate(mine) if at < k * 0.2 - 0.01]
        assert len(mine) == 4 and not early, early
    # Four slots a number take 0.6 s; one pace for both numbers would take 1.4 s.
    assert max(at for at, _sender in arrived) - burst_started < 1.3


def test_a_booking_kept_from_before_bookings_named_a_number_is_twilio_phone_numbers(app):
    """A deferred task or job of the previous release kept {first, interval, count}: it was
    booked on TWILIO_PHONE_NUMBER, and a message from there still goes out in it; one
    that now goes out from another number books a slot of that number instead."""
    from sms_agent import outbound
    from tests.factories import make_user

    ours, other = fresh_number("+1500555"), fresh_number()
    app.config.update(SMS_BACKEND="twilio", TWILIO_MPS=2, TWILIO_PHONE_NUMBER=ours)
    user = make_user()
    kept = {"first": pacing.pacer_for(None).now() + 0.1, "interval": 0.5, "count": 1}

    slots = outbound.book(user, 1, kept)
    assert (slots.first, slots.number) == (kept["first"], ours)
    moved = outbound.book(user, 1, kept, sender=other)
    assert moved.number == other and moved.first != kept["first"] and moved.wait == 0.0


def _book_in_a_process(url: str, ours: str, sender: str, count: int, start, results) -> None:
    """A worker process of its own: books `count` slots one at a time on the number it
    sends from, as the answer job does, and waits for each."""
    from sms_agent import create_app

    app = create_app(
        TestingConfig,
        SMS_BACKEND="twilio",
        TWILIO_MPS=10,
        PACING_REDIS_URL=url,
        TWILIO_PHONE_NUMBER=ours,
    )
    with app.app_context():
        backend = get_sms_backend()
        start.wait(timeout=30)
        for _ in range(count):
            slots = backend.book(1, "sms", sender)
            time.sleep(max(slots.wait, 0.0))
            results.put((sender, slots.first))


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_each_numbers_pace_holds_across_worker_processes():
    """Two processes answer texters who wrote to our number, a third one texter who wrote
    to another: our number's ten sends share its pace, the other's do not wait for them."""
    url = TestingConfig.TEST_REDIS_URL
    ours, other = fresh_number("+1500555"), fresh_number()
    context = multiprocessing.get_context("spawn")
    senders = [ours, ours, other]
    results, start = context.Queue(), context.Barrier(len(senders))  # all apps built first
    processes = [
        context.Process(target=_book_in_a_process, args=(url, ours, sender, 5, start, results))
        for sender in senders
    ]
    for process in processes:
        process.start()
    booked = [results.get(timeout=60) for _ in range(15)]
    for process in processes:
        process.join(timeout=10)

    for sender, count in ((ours, 10), (other, 5)):
        slots = sorted(first for number, first in booked if number == sender)
        gaps = [later - earlier for earlier, later in zip(slots, slots[1:], strict=False)]
        assert len(slots) == count and min(gaps) >= 0.1 - 1e-5, gaps
    # One pace for all fifteen would span 1.4 s; ours alone spans 0.9 s.
    firsts = sorted(first for _number, first in booked)
    assert firsts[-1] - firsts[0] < 1.4 - 0.01, firsts
