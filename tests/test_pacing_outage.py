"""A PACING_REDIS_URL that cannot be reached: replies go out, paced in each process alone,
instead of failing, and Redis is used again once it answers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent.vendors import pacing
from tests.pacing_helpers import FakeClock, arrivals, fresh_number

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def paced_without_redis(app, openai_server):
    stand_in, arrived = arrivals()
    with stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_MPS=2,
            PACING_MAX_SLEEP_SECONDS=1.0,
            PACING_REDIS_URL=UNREACHABLE_REDIS,
            TWILIO_PHONE_NUMBER=fresh_number(),
        )
        app.extensions["celery"].conf.task_eager_propagates = False
        yield arrived


def test_answers_are_sent_paced_when_the_pacing_redis_cannot_be_reached(
    app, paced_without_redis, caplog
):
    """Regression: every paced send raised redis-py's ConnectionError; the task failed with
    an apology instead of its answer (before that, the job crashed and the task hung)."""
    from sms_agent import jobs
    from sms_agent.extensions import db
    from sms_agent.models import OutboundMessage, Task
    from tests.factories import make_task

    ids = [make_task().id for _ in range(2)]
    assert [jobs.answer_task.apply(args=[str(i)]).result for i in ids] == ["answered"] * 2
    db.session.rollback()
    assert [db.session.get(Task, i).status for i in ids] == ["completed"] * 2
    assert len(db.session.scalars(sa.select(OutboundMessage)).all()) == 2
    first, second = paced_without_redis
    # Still paced, in this process: slots 0.5 s apart (the first send's trip to Twilio
    # came after its slot, so arrivals are a little closer).
    assert second - first >= 0.3
    assert "PACING_REDIS_URL unreachable" in caplog.text


def test_the_pacer_uses_redis_again_once_it_answers(monkeypatch):
    clock = FakeClock()
    pacer = pacing.RedisPacer(UNREACHABLE_REDIS, clock=clock)
    number = fresh_number()
    assert pacer.reserve_slot(number, 1.0) == (1000.0, 0.0)  # in this process
    assert pacer.reserve_slot(number, 1.0) == (1001.0, 1.0)
    tried = []
    monkeypatch.setattr(pacer, "_book_in_redis", lambda *args: tried.append(args) or (5.0, 0.0))
    clock.now += pacing.REDIS_RETRY_SECONDS - 1
    assert pacer.reserve_slot(number, 1.0) == (1004.0, 0.0)  # not asked again yet
    clock.now += 1
    assert pacer.reserve_slot(number, 1.0) == (5.0, 0.0) and len(tried) == 1
