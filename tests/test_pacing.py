"""Sends are paced per sending number at TWILIO_MPS, in order: the slots a pacer books, in
one process and on Redis, and the rate sends reach Twilio at."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from config import TestingConfig
from sms_agent.vendors import pacing
from sms_agent.vendors.twilio import get_sms_backend
from tests.pacing_helpers import FakeClock, arrivals

NUMBER = "+15005550006"


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
    for _ in range(3):
        assert pacing.time_to_slot(NUMBER, 0, None) == 0.0


def test_twilio_sends_from_many_threads_reach_twilio_at_the_configured_rate(app):
    stand_in, arrived = arrivals()
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
    # The waits are to the slot from Redis's now, read between `before` and `after` (on a
    # loaded machine, well after `first`).
    before = pacer.now()
    second, wait = pacer.reserve_slot(number, 0.5)
    after = pacer.now()
    assert second == pytest.approx(first + 2.0, abs=1e-5)
    assert second - after - 1e-5 <= wait <= second - before + 1e-5
    before = pacer.now()
    looked_up = pacing.look_up({"first": second, "interval": 0.5, "count": 1}, url)
    after = pacer.now()
    assert second - after <= looked_up.wait <= second - before <= 2.0
    redis.Redis.from_url(url).delete(f"sms_agent:pacing:{number}")
