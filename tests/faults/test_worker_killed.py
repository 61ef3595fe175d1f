"""A worker killed with SIGKILL in the middle of a task: the message is answered once."""

from __future__ import annotations

import pytest

from bench.harness import wait_until

pytestmark = pytest.mark.faults


def test_a_task_whose_worker_was_killed_is_answered_exactly_once_after_a_restart(stack):
    stack.stand_in.delay = 5.0  # the model is slow, so the kill lands mid-task
    stack.start("web", "worker", "beat")
    stack.text("+12025550101", "What is the tallest mountain?")
    wait_until(lambda: stack.stand_in.calls["openai"], 20, "the worker to ask the model")
    assert stack.statuses() == {"processing": 1}

    stack.process("worker").kill()
    stack.stand_in.delay = 0.0
    stack.start("worker")

    assert stack.wait_until_settled(1, timeout=60) == {"completed": 1}
    assert len(stack.answers_to("+12025550101")) == 1
    assert stack.replies_per_task() == [1]
