"""A burst of answers from two worker processes goes out at TWILIO_MPS, in the order the
answers were made, while the model calls behind it go on."""

from __future__ import annotations

import pytest

from bench.harness import phone
from tests.faults.conftest import PROGRAM_NOTICE_START

pytestmark = pytest.mark.faults

MPS = 2
MODEL_SECONDS = 1.0


def test_a_burst_is_sent_in_order_at_the_rate_across_workers_without_holding_model_calls(stack):
    """Four worker slots (two processes of two threads) and eight new numbers: each answer
    is a program notice and a reply booked together, 16 sends at 2 a second, 8 s of
    sending. A worker slot that slept for its sends would start the second round of model
    calls up to 3.5 s late; a deferred send gives the slot back at once."""
    stack.env.update(TWILIO_MPS=str(MPS), PACING_MAX_SLEEP_SECONDS="0.2", WORKER_CONCURRENCY="2")
    stack.stand_in.delay = MODEL_SECONDS
    stack.start("web", "worker", "worker")
    numbers = [phone(300 + n) for n in range(8)]
    for number in numbers:
        stack.text(number, f"Question from {number}")

    assert stack.wait_until_settled(8, timeout=120) == {"completed": 8}
    assert stack.replies_per_task() == [1] * 8
    calls = sorted(stack.stand_in.calls["openai"], key=lambda call: call["at"])
    sends = sorted(
        (call for call in stack.stand_in.calls["twilio"] if call["status"] == 201),
        key=lambda call: call["at"],
    )
    assert len(calls) == 8 and len(sends) == 16

    # Both processes at work from the start: four slots, four model calls at once.
    assert calls[3]["at"] - calls[0]["at"] < MODEL_SECONDS / 2, stack.logs()
    # Not held back: the last model call began within two model latencies of the first.
    assert calls[-1]["at"] - calls[0]["at"] < 3 * MODEL_SECONDS, stack.logs()
    # At the rate, across both processes: the k-th send never before its slot.
    start = sends[0]["at"]
    early = [
        (k, round(call["at"] - start, 2))
        for k, call in enumerate(sends)
        if call["at"] - start < k / MPS - 0.25
    ]
    assert not early, early
    # In order: each number's notice before its reply, and the answers of the first round of
    # model calls sent before those of the second (their notices are a second apart or more;
    # a busy machine may delay a send by a little, never bring one forward).
    for number in numbers:
        mine = [call["body"] for call in sends if call["to"] == number]
        assert len(mine) == 2 and mine[0].startswith(PROGRAM_NOTICE_START), mine
    first_round = {_asker(call) for call in calls[:4]}
    notices = [call for call in sends if call["body"].startswith(PROGRAM_NOTICE_START)]
    first = [call["at"] for call in notices if call["to"] in first_round]
    second = [call["at"] for call in notices if call["to"] not in first_round]
    assert max(first) < min(second), [(round(c["at"] - start, 2), c["to"]) for c in notices]
    workers = [process for process in stack.processes if process.name == "worker"]
    assert all("succeeded" in worker.log() for worker in workers)


def _asker(call: dict) -> str:
    """The number whose question a model call carries ("Question from +1...")."""
    question = call["messages"][-1]["content"]
    return question.rsplit(" ", 1)[-1]
