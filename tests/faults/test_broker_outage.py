"""The broker stopped during ingest: no webhook fails, and every message is answered later."""

from __future__ import annotations

import time

import pytest

from bench.harness import inbound_form, phone, wait_until

pytestmark = pytest.mark.faults


def test_messages_stored_while_the_broker_is_down_are_answered_after_it_returns(stack):
    stack.start("web", "worker", "beat")
    before = [inbound_form(phone(index), f"Before the outage, {index}") for index in range(20)]
    during = [inbound_form(phone(index), f"During the outage, {index}") for index in range(30)]
    assert stack.post_many(before, concurrency=10) == [200] * 20

    stack.redis.stop()
    started = time.monotonic()
    assert stack.post_many(during, concurrency=10) == [200] * 30
    outage_ingest_seconds = time.monotonic() - started
    assert stack.scalar("SELECT count(*) FROM tasks") == 50
    stack.restart_redis()

    assert stack.wait_until_settled(50, timeout=90, supervised=True) == {"completed": 50}
    assert stack.replies_per_task() == [1] * 50
    assert len(stack.answers_to(phone(0))) == 2
    assert outage_ingest_seconds < 10, "webhooks must not wait on a dead broker"


def test_a_worker_reconnecting_to_a_restarted_broker_logs_no_deprecation_warning(stack):
    """Each reconnect logged Celery's CPendingDeprecationWarning about cancelling the jobs
    running at a connection loss, which Celery 6 will do unless told: the worker's setting
    is chosen (its jobs finish), so a Redis restart logs the lost connection and nothing
    more."""
    stack.start("worker")
    stack.redis.stop()
    stack.restart_redis()
    worker = stack.process("worker")
    wait_until(lambda: worker.log().count("Connected to") >= 2, 60, "the worker to reconnect")
    assert "Connection to broker lost" in worker.log()
    assert "DeprecationWarning" not in worker.log()
