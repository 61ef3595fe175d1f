"""The batching bound of `make bench-ingest --group-commit` measures an honest ingest: every
webhook it answers 200 is stored once and published, and a forged one is refused."""

from __future__ import annotations

import base64
import json
import random

import pytest
import redis

from bench import harness
from bench.group_commit import QUEUE

pytestmark = pytest.mark.faults

BOUND_APP = "bench.group_commit:create_app()"


def published_batches(stack) -> list[list[str]]:
    """The task ids of each Celery message the bound published (one per flush)."""
    client = redis.Redis(port=stack.redis_port)
    batches = []
    for raw in client.lrange(QUEUE, 0, -1):
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        batches.append(args[0])
    client.close()
    return batches


def test_group_commit_bound_stores_and_publishes_every_webhook_it_accepts_once(stack):
    bound = harness.start_web(stack.env, stack.work_dir, app=BOUND_APP, name="bound")
    stack.processes.append(bound)
    originals = [harness.inbound_form(harness.phone(i % 40), f"Question {i}") for i in range(360)]
    retries = [dict(form) for form in random.Random(4).sample(originals, 40)]
    webhooks = originals + retries
    random.Random(5).shuffle(webhooks)

    statuses = stack.post_many(webhooks, concurrency=32)
    forged = stack.http.post(
        stack.inbound_url,
        data=harness.inbound_form(harness.phone(1), "forged"),
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        timeout=10,
    )

    assert statuses == [200] * 400, stack.logs()
    assert forged.status_code == 403
    stored = stack.rows("SELECT id, message_sid FROM tasks")
    assert sorted(sid for _id, sid in stored) == sorted(form["MessageSid"] for form in originals)
    batches = published_batches(stack)
    published = [task_id for batch in batches for task_id in batch]
    assert sorted(published) == sorted(str(task_id) for task_id, _sid in stored)
    assert len(batches) < len(stored)  # webhooks arriving together shared a flush
    assert stack.scalar("SELECT count(*) FROM users") == 40
