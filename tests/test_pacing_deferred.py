"""Deferred sends: a job whose sending slot is far off gives its worker back, keeps its
booking and comes back for the slot; a reply from another of our numbers is not held back;
with the pacing Redis unreachable, each process paces alone instead of failing sends."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sms_agent.vendors import pacing
from tests.broker import drained
from tests.pacing_helpers import FakeClock, arrivals, fresh_number, use_pacer

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def published(app, job: str) -> list:
    """Drain the in-memory broker; the messages of `job` (headers and payload)."""
    return [message for message in drained(app) if message.headers["task"] == job]


@pytest.fixture
def paced(app, openai_server):
    """Twilio (a stand-in recording when each send arrives) paced at 2 messages a second for
    a number of this test's own; a worker sleeps at most 0.2 s for a slot."""
    stand_in, arrived = arrivals()
    with stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_MPS=2,
            PACING_MAX_SLEEP_SECONDS=0.2,
            TWILIO_PHONE_NUMBER=f"+1500555{uuid.uuid4().int % 10**4:04d}",
        )
        app.extensions["celery"].conf.task_eager_propagates = False
        published(app, "sms_agent.jobs.answer_task")
        yield stand_in, arrived


def book_ahead(app, seconds: float) -> float:
    """Book the number's slots for the next `seconds`, as a burst of other replies would;
    returns when the next free slot comes (time.monotonic)."""
    interval = 1 / app.config["TWILIO_MPS"]
    pacer = pacing.pacer_for(None)
    pacer.reserve_slot(app.config["TWILIO_PHONE_NUMBER"], interval, round(seconds / interval))
    return time.monotonic() + seconds


def test_an_answer_whose_slot_is_far_off_is_stored_and_its_job_comes_back_for_the_slot(
    app, paced, openai_server
):
    from sms_agent import jobs
    from sms_agent.extensions import db
    from sms_agent.models import OutboundMessage, Task, utcnow
    from sms_agent.ops import sweeper
    from tests.factories import make_task

    _stand_in, arrived = paced
    task_id = make_task().id
    booked_at = datetime.now(UTC)
    slot = book_ahead(app, 3.0)
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "deferred"
    ran_to = datetime.now(UTC)
    assert time.monotonic() < slot  # back before the slot came: the worker did not sleep in it

    db.session.rollback()
    task = db.session.get(Task, task_id)
    assert task.status == "queued" and task.ai_response  # answered once, not sent yet
    assert task.metadata_["slots"]["count"] == 1
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert arrived == [] and len(openai_server.requests) == 1
    # The sweeper leaves it alone until STALE_TASK_SECONDS after its slot.
    stale = app.config["STALE_TASK_SECONDS"]
    assert task_id not in sweeper.stale_task_ids(utcnow() + timedelta(seconds=stale - 1))
    assert task_id in sweeper.stale_task_ids(utcnow() + timedelta(seconds=stale + 4))
    [message] = published(app, "sms_agent.jobs.answer_task")
    assert message.payload[0] == [str(task_id)]
    eta = datetime.fromisoformat(message.headers["eta"])
    # The job comes back at the slot booked 3 s ahead, PACING_MAX_SLEEP_SECONDS / 2 before
    # it to sleep the rest; later only by as long as the job took between booking its slot
    # and queueing itself again, which a loaded machine stretches (so measured from the
    # booking and from the job's end, not with a fixed margin).
    back = timedelta(seconds=3.0 - 0.2 / 2)
    assert booked_at + back - timedelta(milliseconds=1) <= eta <= ran_to + back, eta

    time.sleep(max(0.0, (eta - datetime.now(UTC)).total_seconds()))  # the broker's part
    db.session.commit()
    assert jobs.answer_task.apply(args=[str(task_id)]).result == "answered"
    assert len(arrived) == 1 and arrived[0] >= slot - 0.05  # sent in its slot, not before
    assert len(openai_server.requests) == 1  # the stored answer was sent, not asked again
    db.session.rollback()
    task = db.session.get(Task, task_id)
    assert task.status == "completed" and "slots" not in task.metadata_


def test_a_new_numbers_program_notice_and_reply_go_out_in_consecutive_slots(
    app, paced, monkeypatch
):
    from sms_agent.answering import pipeline
    from sms_agent.models import OutboundMessage
    from tests.factories import make_task, make_user

    _stand_in, arrived = paced
    # The pacer's clock stands still at 1000.0: the slots booked are exact, however long a
    # loaded machine takes to send (the waits are still slept on the real clock).
    pacer = use_pacer(monkeypatch, pacing.LocalPacer(FakeClock()))
    task = make_task(make_user(service_state={}))
    began = time.monotonic()
    assert pipeline.answer(task.id) == "answered"
    kinds = [m.kind for m in OutboundMessage.query.order_by(OutboundMessage.created_at)]
    assert kinds == ["program", "reply"]
    # The reply's slot is one interval after the notice's, booked after `began`; a busy
    # machine may delay either send, never bring the reply forward.
    assert arrived[1] - began >= 0.5 - 0.01
    # Both were booked at once, 1000.0 and 1000.5: the next booking comes after them.
    assert pacer.reserve_slot(app.config["TWILIO_PHONE_NUMBER"], 0.5) == (1001.0, 1.0)


def test_a_notice_whose_slot_is_far_off_comes_back_with_its_booking(app, paced):
    from sms_agent import jobs
    from sms_agent.models import OutboundMessage
    from tests.factories import make_user

    _stand_in, arrived = paced
    published(app, "sms_agent.jobs.send_notice")
    user = make_user()
    slot = book_ahead(app, 1.5)
    args = [user.phone_number, "help", "SM" + "2" * 32]
    assert jobs.send_notice.apply(args=args).result is False
    assert arrived == [] and OutboundMessage.query.count() == 0
    [message] = published(app, "sms_agent.jobs.send_notice")
    again = message.payload[0]
    assert again[:3] == args and again[3]["count"] == 1  # the booking comes back

    time.sleep(max(0.0, slot - time.monotonic() - 0.1))
    assert jobs.send_notice.apply(args=again).result is True
    assert len(arrived) == 1 and arrived[0] >= slot - 0.05
    assert [m.kind for m in OutboundMessage.query] == ["help"]


def test_a_reply_from_another_number_is_not_held_back_by_a_burst_from_ours(app, paced, monkeypatch):
    """Texters who wrote to TWILIO_PHONE_NUMBER queue behind its burst; a texter who wrote
    to another of our numbers is answered from it at once."""
    from sms_agent import jobs
    from sms_agent.extensions import db
    from sms_agent.models import Task
    from sms_agent.outbound import OUR_NUMBER
    from tests.factories import make_task

    stand_in, _arrived = paced
    # The pacer's clock stands still at 1000.0: which slot each reply took is exact, however
    # long a loaded machine takes over the two answers.
    pacer = use_pacer(monkeypatch, pacing.LocalPacer(FakeClock()))
    ours, other = app.config["TWILIO_PHONE_NUMBER"], fresh_number()
    behind = make_task(metadata_={OUR_NUMBER: ours}).id
    ahead = make_task(metadata_={OUR_NUMBER: other}).id
    book_ahead(app, 3.0)  # a burst of answers from our number: its slots until 1003.0

    assert jobs.answer_task.apply(args=[str(behind)]).result == "deferred"
    assert jobs.answer_task.apply(args=[str(ahead)]).result == "answered"
    # Not after the burst's 3 s: the other number's reply took its first slot, at once
    # (1000.0, so its next is 1000.5), while ours' next comes after the burst and `behind`.
    assert pacer.reserve_slot(other, 0.5) == (1000.5, 0.5)
    assert pacer.reserve_slot(ours, 0.5) == (1003.5, 3.5)

    [(_method, _path, sent)] = stand_in.requests
    assert sent["From"] == other
    db.session.rollback()
    assert db.session.get(Task, behind).metadata_["slots"]["number"] == ours


def test_answers_are_sent_paced_when_the_pacing_redis_cannot_be_reached(app, paced, caplog):
    """Regression: every paced send raised redis-py's ConnectionError; the task failed with
    an apology instead of its answer (before that, the job crashed and the task hung)."""
    from sms_agent import jobs
    from sms_agent.extensions import db
    from sms_agent.models import OutboundMessage, Task
    from tests.factories import make_task

    _stand_in, arrived = paced
    app.config.update(PACING_REDIS_URL=UNREACHABLE_REDIS, PACING_MAX_SLEEP_SECONDS=1.0)
    ids = [make_task().id for _ in range(2)]
    assert [jobs.answer_task.apply(args=[str(i)]).result for i in ids] == ["answered"] * 2
    db.session.rollback()
    assert [db.session.get(Task, i).status for i in ids] == ["completed"] * 2
    assert len(db.session.scalars(sa.select(OutboundMessage)).all()) == 2
    # Still paced, in this process: slots 0.5 s apart (the first send's trip to Twilio
    # came after its slot, so arrivals are a little closer).
    assert arrived[1] - arrived[0] >= 0.3
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


class WorkerKilled(BaseException):
    """The worker's process killed where it stood (SIGKILL): nothing after it runs."""


def test_a_reply_whose_worker_was_killed_waiting_for_its_slot_is_sent_when_run_again(
    app, paced, openai_server, monkeypatch
):
    """Regression: the part was committed as about to be sent and then slept on for its
    slot; the worker killed in that wait, the job run again took it for one Twilio may have
    and never sent it, and the texter got the program notice and no answer. The slot is
    now waited for before the part is stored, the answer committed first."""
    from sms_agent.answering import pipeline
    from sms_agent.extensions import db
    from sms_agent.models import OutboundMessage, Task, utcnow
    from tests.factories import make_task, make_user

    _stand_in, arrived = paced
    use_pacer(monkeypatch, pacing.LocalPacer(FakeClock()))
    task = make_task(make_user(service_state={}))
    asleep = time.sleep

    def killed_in_its_sleep(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            raise WorkerKilled
        asleep(seconds)

    monkeypatch.setattr(time, "sleep", killed_in_its_sleep)
    with pytest.raises(WorkerKilled):
        pipeline.answer(task.id)  # the notice went out; the reply waits for the next slot
    monkeypatch.setattr(time, "sleep", asleep)
    assert len(arrived) == 1
    db.session.rollback()  # what the process had not committed died with it
    # The sweeper runs the job again once the claim is stale (its slot long past).
    stale = utcnow() - timedelta(hours=1)
    db.session.execute(sa.update(Task).where(Task.id == task.id).values(lease_at=stale))
    db.session.commit()
    use_pacer(monkeypatch, pacing.LocalPacer(FakeClock()))

    assert pipeline.answer(task.id) == "answered"
    sent = OutboundMessage.query.order_by(OutboundMessage.created_at).all()
    assert [(m.kind, bool(m.sid)) for m in sent] == [("program", True), ("reply", True)]
    assert len(arrived) == 2
    assert len(openai_server.requests) == 1  # the stored answer was sent, not asked again


def test_a_more_waiting_for_its_answer_keeps_the_sending_slot_it_booked(app, paced):
    """A MORE that came while its answer was being made looks again every few seconds: each
    look booked a new sending slot and left it unused, a slot taken from other texters'
    answers every few seconds for as long as the model took. The next look sends in the
    slot the first one booked."""
    from sms_agent import jobs
    from tests.factories import make_task, make_user

    user = make_user("+15551230000")
    make_task(user=user, status="processing", sms_content="How do I deploy safely?")
    assert jobs.send_notice(user.phone_number, "more", "SM" + "1" * 32) is False
    [again] = published(app, "sms_agent.jobs.send_notice")
    booking = again.payload[1]["booking"]
    assert booking is not None and booking["count"] >= 1
    assert jobs.send_notice(*again.payload[0], **again.payload[1]) is False
    [once_more] = published(app, "sms_agent.jobs.send_notice")
    assert once_more.payload[1]["booking"] == booking
