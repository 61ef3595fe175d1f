"""The pace of each of our numbers holds across worker processes sharing Redis."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest
import redis

from config import TestingConfig
from sms_agent.vendors import pacing
from sms_agent.vendors.twilio import get_sms_backend
from tests.pacing_helpers import fresh_number


def _reserve_in_a_process(url: str, number: str, count: int, results) -> None:
    pacer = pacing.RedisPacer(url)
    for _ in range(count):
        slot, wait = pacer.reserve_slot(number, 0.1)
        time.sleep(wait)
        results.put((slot, pacer.now()))  # on Redis's clock, as the slot is


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
    # And the sends wait for them: each goes no earlier than its own slot, however late a
    # loaded machine wakes them.
    early = [(slot, at) for slot, at in zip(slots, times, strict=True) if at < slot - 1e-3]
    assert not early, early


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
    # One pace for all fifteen would keep every slot an interval or more from the next; the
    # other number's slots fall among ours instead. (Their span is no measure of it: a
    # loaded machine stretches each number's slots, which leaves them interleaved.)
    firsts = sorted(first for _number, first in booked)
    gaps = [later - earlier for earlier, later in zip(firsts, firsts[1:], strict=False)]
    assert min(gaps) < 0.1 - 1e-3, firsts
