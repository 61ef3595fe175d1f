"""1,000 concurrent webhooks, a tenth of them Twilio's exact retries."""

from __future__ import annotations

import random

import pytest

from bench.harness import inbound_form, phone
from tests.faults.conftest import PROGRAM_NOTICE_START

pytestmark = pytest.mark.faults


def test_concurrent_webhooks_with_retries_make_one_task_and_one_reply_per_message(stack):
    stack.env["WORKER_CONCURRENCY"] = "8"
    stack.start("web", "worker")
    originals = [inbound_form(phone(index % 200), f"Question {index}") for index in range(900)]
    retries = random.Random(6).sample(originals, 100)
    webhooks = originals + [dict(form) for form in retries]
    random.Random(7).shuffle(webhooks)

    statuses = stack.post_many(webhooks, concurrency=100)

    assert statuses.count(200) == 1000, {code: statuses.count(code) for code in set(statuses)}
    assert stack.scalar("SELECT count(*) FROM tasks") == 900
    assert stack.wait_until_settled(900, timeout=240) == {"completed": 900}
    assert stack.replies_per_task() == [1] * 900
    sends = [call for call in stack.stand_in.calls["twilio"] if call["status"] == 201]
    notices = [call for call in sends if call["body"].startswith(PROGRAM_NOTICE_START)]
    assert len(sends) - len(notices) == 900
    assert sorted(call["to"] for call in notices) == sorted({call["to"] for call in sends})
