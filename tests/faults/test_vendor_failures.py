"""The model and Twilio failing in the ways they do: timeouts, 429, 500."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.faults


def call_gaps(calls: list[dict]) -> list[float]:
    times = [call["at"] for call in calls]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def test_a_model_that_times_out_then_429s_then_500s_gets_an_apology_and_an_error_log(stack):
    stack.stand_in.hang_seconds = 4.0  # longer than OPENAI_TIMEOUT=2
    stack.stand_in.script("openai", "hang", 429, 500)
    stack.start("web", "worker")
    stack.text("+12025550111", "Explain quantum tunnelling")

    assert stack.wait_until_settled(1, timeout=60) == {"failed": 1}
    calls = stack.stand_in.calls["openai"]
    assert len(calls) == 3  # the first try and OPENAI_MAX_RETRIES=2 retries
    gaps = call_gaps(calls)
    # timeout (2 s) + backoff 0.5 s, then the 429 + backoff 1 s: each wait grows
    assert gaps[0] >= 2.5 and gaps[1] >= 1.0
    sent = stack.answers_to("+12025550111")
    assert len(sent) == 1 and "sorry" in sent[0]["body"].lower()
    assert stack.rows("SELECT error_type FROM error_logs") == [("openai_error",)]
    assert stack.rows("SELECT kind FROM outbound_messages WHERE kind != 'program'") == [
        ("apology",)
    ]


def test_a_model_that_recovers_after_429_and_500_answers_once(stack):
    stack.stand_in.script("openai", 429, 500)
    stack.start("web", "worker")
    stack.text("+12025550112", "What is a haiku?")

    assert stack.wait_until_settled(1, timeout=60) == {"completed": 1}
    assert len(stack.stand_in.calls["openai"]) == 3
    assert len(stack.answers_to("+12025550112")) == 1
    assert stack.replies_per_task() == [1]
    assert stack.scalar("SELECT count(*) FROM error_logs") == 0


def test_twilio_answering_500_then_201_sends_the_reply_once(stack):
    stack.stand_in.script("twilio", 500)
    stack.start("web", "worker")
    stack.text("+12025550113", "Name a prime number")

    assert stack.wait_until_settled(1, timeout=60) == {"completed": 1}
    attempts = [c for c in stack.stand_in.calls["twilio"] if c["to"] == "+12025550113"]
    assert [attempt["status"] for attempt in attempts] == [500, 201]
    assert len(stack.stand_in.calls["openai"]) == 1  # the stored answer is not asked for again
    assert stack.replies_per_task() == [1]


def test_no_task_is_left_processing_after_a_burst_of_model_failures(stack):
    stack.stand_in.script("openai", *([500] * 12))
    stack.start("web", "worker")
    for index in range(4):
        stack.text(f"+1202555012{index}", f"Question number {index}")
        time.sleep(0.05)

    statuses = stack.wait_until_settled(4, timeout=60)
    assert "processing" not in statuses and "queued" not in statuses
    assert stack.scalar("SELECT count(*) FROM error_logs") == statuses.get("failed", 0)
