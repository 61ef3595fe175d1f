"""PostgreSQL away under gunicorn, the worker and beat: no webhook fails or loses its text
(each goes to the broker, jobs.receive_later), and every text is stored and answered once
the database is back (jobs.receive_inbound)."""

from __future__ import annotations

import time

import pytest

from bench.harness import inbound_form, phone
from tests.relay import DatabaseRelay

pytestmark = pytest.mark.faults


def test_texts_taken_while_the_database_is_down_are_stored_and_answered_once_it_is_back(stack):
    url = stack.engine.url
    relay = DatabaseRelay(url.host or "127.0.0.1", url.port or 5432)
    stack.env["DATABASE_URL"] = relay.url_for(url)  # the processes reach it through the relay
    try:
        stack.start("web", "worker", "beat")
        stack.text(phone(0), "Before the outage")
        assert stack.wait_until_settled(1, timeout=60) == {"completed": 1}

        relay.cut()
        during = [inbound_form(phone(index), f"During the outage, {index}") for index in range(10)]
        started = time.monotonic()
        assert stack.post_many(during, concurrency=5) == [200] * 10
        assert stack.post(during[3]).status_code == 200  # Twilio's retry of one of them
        outage_seconds = time.monotonic() - started
        assert stack.scalar("SELECT count(*) FROM tasks") == 1  # they wait in the broker
        relay.restore()

        assert stack.wait_until_settled(11, timeout=120, supervised=True) == {"completed": 11}
    finally:
        relay.close()
    assert stack.replies_per_task() == [1] * 11
    assert len(stack.answers_to(phone(3))) == 1
    assert len(stack.answers_to(phone(0))) == 2  # before the outage and during it
    assert outage_seconds < 20, "webhooks must not wait long on a dead database"
    kept = stack.logs(tail=200_000)
    assert "kept for a worker, the database unavailable" in kept
    assert "During the outage" not in kept, "the texts stay out of the logs"
    assert phone(3) not in kept and phone(3)[-4:] in kept, "numbers show their last four only"
    sms = stack.scalar("SELECT count(DISTINCT message_sid) FROM tasks")
    assert sms == 11 == len({form["MessageSid"] for form in during}) + 1
