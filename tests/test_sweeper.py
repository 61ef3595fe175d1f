"""The sweeper and the beat schedule: stranded tasks are answered, once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.jobs import sweep_stale_tasks as sweep
from sms_agent.models import OutboundMessage, Task, TaskStatus, User, utcnow
from sms_agent.ops.sweeper import stale_task_ids
from sms_agent.quota import roll_expired_windows as roll_expired_quota_windows
from sms_agent.simulator import jobs_inline
from sms_agent.worker import celery_settings
from tests.factories import make_task, make_user

LONG_AGO = timedelta(hours=1)


def replies_to(task: Task) -> list[OutboundMessage]:
    query = sa.select(OutboundMessage).where(
        OutboundMessage.task_id == task.id, OutboundMessage.kind == "reply"
    )
    return list(db.session.scalars(query))


def stranded(status: str, age: timedelta = LONG_AGO) -> Task:
    then = utcnow() - age
    return make_task(status=status, created_at=then, updated_at=then, lease_at=then)


def test_a_task_stranded_in_queued_is_answered_by_the_sweep(app):
    task = stranded(TaskStatus.QUEUED.value)
    with jobs_inline():
        assert sweep() == 1
    db.session.refresh(task)
    assert task.status == TaskStatus.COMPLETED.value
    assert len(replies_to(task)) == 1


def test_a_task_held_by_a_dead_worker_is_finished(app):
    task = stranded(TaskStatus.PROCESSING.value)
    with jobs_inline():
        sweep()
    db.session.refresh(task)
    assert task.status == TaskStatus.COMPLETED.value
    assert len(replies_to(task)) == 1


def test_sweeping_twice_still_answers_once(app):
    task = stranded(TaskStatus.QUEUED.value)
    with jobs_inline():
        sweep()
        sweep()
    assert len(replies_to(task)) == 1


def test_fresh_and_finished_tasks_are_left_alone(app):
    stranded(TaskStatus.QUEUED.value, age=timedelta(seconds=5))
    stranded(TaskStatus.PROCESSING.value, age=timedelta(seconds=5))
    stranded(TaskStatus.COMPLETED.value)
    stranded(TaskStatus.FAILED.value)
    assert stale_task_ids(utcnow()) == []


def test_the_oldest_stranded_task_comes_first(app):
    newer = stranded(TaskStatus.QUEUED.value)
    older = stranded(TaskStatus.PROCESSING.value, age=LONG_AGO * 2)
    assert stale_task_ids(utcnow()) == [older.id, newer.id]


def test_a_queued_task_is_not_enqueued_again_every_sweep(app):
    stranded(TaskStatus.QUEUED.value)
    app.extensions["celery"].conf.task_always_eager = False
    assert sweep() == 1
    assert sweep() == 0


def test_nothing_is_swept_while_the_broker_is_down(database_url):
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    with app.app_context():
        task = stranded(TaskStatus.QUEUED.value)
        before = task.lease_at
        assert sweep() == 0
        db.session.refresh(task)
        assert (task.status, task.lease_at) == (TaskStatus.QUEUED.value, before)
        db.session.delete(task.user)
        db.session.commit()
        db.engine.dispose()


def test_expired_quota_windows_roll_and_current_ones_do_not(app):
    now = utcnow()
    expired = make_user(monthly_requests=7, rate_limit_reset=now - timedelta(days=1))
    tokyo = make_user(
        monthly_requests=3, timezone="Asia/Tokyo", rate_limit_reset=now - timedelta(hours=1)
    )
    current = make_user(monthly_requests=5, rate_limit_reset=now + timedelta(days=3))
    assert roll_expired_quota_windows(now) == 2
    db.session.commit()
    for user in (expired, tokyo, current):
        db.session.refresh(user)
    assert (expired.monthly_requests, tokyo.monthly_requests) == (0, 0)
    assert expired.rate_limit_reset > now and tokyo.rate_limit_reset > now
    assert tokyo.rate_limit_reset != expired.rate_limit_reset  # local midnight differs
    assert current.monthly_requests == 5


def test_beat_runs_the_sweeper_and_the_quota_safety_net(app):
    settings = celery_settings(app.config)
    schedule = {entry["task"]: entry for entry in settings["beat_schedule"].values()}
    celery_app = app.extensions["celery"]
    celery_app.loader.import_default_modules()
    assert set(schedule) <= set(celery_app.tasks)
    sweeper = schedule["sms_agent.jobs.sweep_stale_tasks"]
    assert sweeper["schedule"] == app.config["SWEEP_INTERVAL_SECONDS"]


def test_users_are_left_untouched_when_nothing_expired(app):
    make_user(rate_limit_reset=utcnow() + timedelta(days=1))
    assert roll_expired_quota_windows() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_a_notice_the_broker_could_not_take_is_sent_by_the_first_sweep_after_it(app):
    """Regression: a STOP texted during a broker outage was obeyed, but its confirmation
    (which carriers require), like a HELP reply or a quota notice, was never sent: no row
    was left for the sweeper, and Twilio, answered 200, does not send the text again."""
    from sms_agent.models import PendingNotice
    from tests.standins import inbound_form, signed_post

    down = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    with down.app_context():
        response = signed_post(down.test_client(), "/sms/inbound", inbound_form("STOP"))
        assert response.status_code == 200
        assert sweep() == 0  # the broker is still down: the notice waits
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].set_current()  # jobs run in the test's app again
    db.session.expire_all()
    assert db.session.get(User, "+15551230000").is_opted_out

    with jobs_inline():  # the broker is back
        sweep()
        sweep()
    sent = db.session.scalars(sa.select(OutboundMessage.kind)).all()
    assert sent == ["opt_out"]
    assert db.session.scalars(sa.select(PendingNotice)).all() == []


def test_the_pictures_of_a_text_held_during_a_broker_outage_are_fetched_by_a_later_sweep(
    app, twilio_server
):
    """The webhook could not queue the job that fetches a held text's pictures, and nothing
    queued it again: staff never saw the picture they were asked about, nor that one came."""
    from sms_agent import handoff
    from sms_agent.models import TaskMedia
    from tests.standins import PNG, inbound_form, media_path, signed_post

    handoff.request_human(make_user("+15551230000"), "keyword")
    db.session.commit()
    url = twilio_server.serve(media_path(), "image/png", PNG)
    down = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
        SMS_BACKEND="twilio",
        TWILIO_API_BASE_URL=twilio_server.url,
    )
    form = inbound_form("The screen says this", NumMedia="1", MediaUrl0=url)
    form["MediaContentType0"] = "image/png"
    with down.app_context():
        assert signed_post(down.test_client(), "/sms/inbound", form).status_code == 200
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].set_current()  # jobs run in the test's app again
    db.session.expire_all()
    [held] = db.session.scalars(sa.select(Task)).all()
    assert held.refusal_reason == "held_for_staff" and held.media == []

    with jobs_inline():  # the broker is back
        sweep()  # too soon: the job may still be on its way
        assert db.session.scalars(sa.select(TaskMedia)).all() == []
        held.created_at = utcnow() - LONG_AGO
        db.session.commit()
        sweep()
        sweep()
    db.session.expire_all()
    [picture] = db.session.scalars(sa.select(TaskMedia)).all()
    assert (picture.status, picture.data) == ("read", PNG)
    assert [m for m, _p, _b in twilio_server.requests] == ["GET"]
