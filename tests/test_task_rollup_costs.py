"""The task rollups keep their tasks' costs, so a filtered spend is read from a few rows.

Each bucket's costs must equal the costs of the tasks counted in it, whatever moves the tasks
(claims, completions, failures, retries, edits, deletions) and whatever writes the ledgers
(SMS stored with an estimate and priced later, model calls, rows deleted), in either order
within one transaction: on PostgreSQL both kinds of trigger run at the commit
(models/at_commit.py), each with the rows as they were when it was queued.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from config import TestingConfig
from sms_agent import analytics, create_app
from sms_agent.answering.claim import claim
from sms_agent.costs import report
from sms_agent.extensions import db
from sms_agent.models import (
    Category,
    ModelCall,
    OutboundMessage,
    Task,
    TaskRollup,
    TaskStatus,
    utcnow,
)
from sms_agent.models.rollups import rebuild
from sms_agent.models.spend_rollups import recount_task_costs
from sms_agent.models.types import UTCDateTime
from tests.conftest import fresh_database
from tests.factories import (
    make_row_of_an_older_revision,
    make_staff,
    make_task,
    make_token,
    make_user,
    make_user_of_an_older_revision,
)

MICRO = Decimal("0.000001")

FILTERS = [
    {},
    {"category": "coding"},
    {"status": "completed"},
    {"success": False, "category": "general"},
    {"created_after": "days:-3", "created_before": "days:0"},
]


def _bounds(filters: dict) -> dict:
    """Relative whole-day bounds as the API parses a bare date."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    result = dict(filters)
    for name in ("created_after", "created_before"):
        if name in filters:
            days = int(filters[name].split(":")[1]) + (name == "created_before")
            moment = today + timedelta(days=days)
            result[name] = moment - timedelta(microseconds=int(name == "created_before"))
    return result


def _ledger_costs() -> dict:
    """Per task: (everything, SMS) from the ledgers' rows as they stand."""
    costs: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for message in db.session.scalars(sa.select(OutboundMessage)):
        if message.task_id is not None:
            costs[message.task_id][0] += message.price_usd or 0
            costs[message.task_id][1] += message.price_usd or 0
    for call in db.session.scalars(sa.select(ModelCall)):
        if call.task_id is not None:
            costs[call.task_id][0] += call.cost_usd
    return costs


def _assert_costs_add_up() -> None:
    db.session.expire_all()
    tasks = db.session.scalars(sa.select(Task)).all()
    ledgers = _ledger_costs()
    for task in tasks:
        assert [task.cost_usd, task.sms_cost_usd] == ledgers.get(task.id, [0, 0]), task.id
    expected: dict = defaultdict(lambda: [0, 0])
    for task in tasks:
        day = task.created_at.astimezone(UTC).date().isoformat()
        bucket = expected[(day, task.category, task.status, bool(task.success))]
        bucket[0] += int(task.cost_usd / MICRO)
        bucket[1] += int(task.sms_cost_usd / MICRO)
    stored = {
        (str(day), category, status, bool(success)): [int(cost), int(sms)]
        for day, category, status, success, cost, sms in db.session.execute(
            sa.text(
                "SELECT day, category, status, success, cost_micro, sms_micro FROM task_rollups"
            )
        )
    }
    # A bucket its tasks left keeps its row, with nothing in it.
    assert {key: value for key, value in stored.items() if value != [0, 0]} == {
        key: value for key, value in expected.items() if value != [0, 0]
    }
    for filters in map(_bounds, FILTERS):
        buckets = analytics.rollup_conditions(filters)
        assert buckets is not None, filters
        direct = report.of_tasks(analytics.task_conditions(filters) or [sa.true()])
        assert report.of_buckets(buckets) == direct, filters


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 90_000)) * MICRO


def _write_ledgers(rng: random.Random, tasks: list[Task]) -> None:
    for task in rng.sample(tasks, min(len(tasks), 4)):
        if rng.random() < 0.5:
            db.session.add(
                OutboundMessage(
                    task_id=task.id,
                    to_number=task.user_phone,
                    body="hi",
                    price_usd=rng.choice([None, _money(rng)]),
                    price_estimated=True,
                )
            )
        else:
            db.session.add(
                ModelCall(
                    task_id=task.id, user_phone=task.user_phone, model="m", cost_usd=_money(rng)
                )
            )
    db.session.flush()
    messages = db.session.scalars(sa.select(OutboundMessage)).all()
    for message in rng.sample(messages, min(2, len(messages))):
        message.price_usd, message.price_estimated = _money(rng), False  # Twilio's price
    if messages and rng.random() < 0.3:
        db.session.delete(rng.choice(messages))


def _move_tasks(rng: random.Random, tasks: list[Task]) -> None:
    for task in rng.sample(tasks, min(len(tasks), 4)):
        action = rng.choice(["complete", "fail", "retry", "edit", "queue"])
        if action == "complete":
            task.mark_completed("ok", tokens_used=rng.randint(1, 500), processing_time=1.5)
        elif action == "fail":
            task.mark_failed("boom")
        elif action == "retry":
            task.status, task.success = TaskStatus.QUEUED.value, False
        elif action == "edit":
            task.category = rng.choice(Category.values())
            task.created_at = task.created_at - timedelta(days=rng.randint(0, 2))
        else:
            task.status = TaskStatus.QUEUED.value


@pytest.mark.any_write_order
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_each_bucket_keeps_the_costs_of_its_tasks_whatever_moves_them(app, seed):
    rng = random.Random(seed)
    users = [make_user() for _ in range(3)]
    tasks = [make_task(rng.choice(users), category=rng.choice(Category.values())) for _ in range(9)]
    _assert_costs_add_up()
    for round_number in range(8):
        # Both orders within one transaction, and each alone.
        steps = rng.choice([[_write_ledgers, _move_tasks], [_move_tasks, _write_ledgers]])
        for step in steps[: rng.choice([1, 2])]:
            step(rng, tasks)
        db.session.commit()
        if round_number % 3 == 1:
            queued = [task.id for task in tasks if task.status == TaskStatus.QUEUED.value]
            if queued:
                claim(rng.choice(queued))  # the claim's own UPDATE, committed
        if round_number == 4:  # its ledger rows lose their task, its costs leave its bucket
            db.session.delete(tasks.pop())
            db.session.commit()
        if round_number == 6:  # a texter's tasks go with them
            gone = users.pop()
            tasks = [task for task in tasks if task.user_phone != gone.phone_number]
            db.session.delete(gone)
            db.session.commit()
        _assert_costs_add_up()
    # Counted again from scratch, as migration 0018 does: the same.
    recount_task_costs(db.session.connection())
    rebuild(db.session.connection())
    db.session.commit()
    _assert_costs_add_up()


def test_a_filtered_spend_reads_the_rollups_not_the_tasks(client, count_queries):
    """At 1,000,000 tasks the sums over the matching tasks' ledger rows took 0.6-1.7 s."""
    key = make_token(make_staff("boss", is_admin=True))
    task = make_task(category="coding", status="completed", success=True)
    db.session.add(ModelCall(task_id=task.id, user_phone=task.user_phone, model="m", cost_usd=1))
    db.session.add(OutboundMessage(task_id=task.id, to_number=task.user_phone, body="hi"))
    db.session.commit()
    with count_queries() as counter:
        response = client.get(
            "/api/tasks/analytics/?category=coding&status=completed",
            headers={"Authorization": f"Token {key}"},
        )
    assert response.status_code == 200
    spend = {"sms_usd": "0.000000", "model_usd": "1.000000", "total_usd": "1.000000"}
    assert response.json["spend"] == spend
    read = [sql for sql in counter.statements if "model_calls" in sql or "FROM tasks" in sql]
    assert read == []


def test_the_migration_counts_the_costs_of_tasks_there_are(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0017_rollups_at_commit")
            phone, task_id = make_user_of_an_older_revision(), uuid.uuid4()
            db.session.execute(  # a task as 0017 stored it (the model has a column since)
                sa.text(
                    "INSERT INTO tasks (id, user_phone, sms_content, category, status, success,"
                    " metadata, cost_usd, created_at, updated_at) VALUES (:id, :phone, 'hi',"
                    " 'general', 'completed', true, '{}', 0, :now, :now)"
                ).bindparams(
                    sa.bindparam("id", type_=sa.Uuid), sa.bindparam("now", type_=UTCDateTime)
                ),
                {"id": task_id, "phone": phone, "now": utcnow()},
            )
            make_row_of_an_older_revision(
                OutboundMessage, task_id=task_id, to_number=phone, body="hi", price_usd=SMS
            )

            upgrade()
            assert _costs() == [(SMS, SMS, 7900, 7900)]
            db.session.add(ModelCall(task_id=task_id, user_phone=phone, model="m", cost_usd=CALL))
            db.session.commit()  # the triggers count it
            assert _costs() == [(SMS + CALL, SMS, 8000, 7900)]

            db.session.rollback()  # the migration locks the tables this session read
            downgrade(revision="0017_rollups_at_commit")
            make_row_of_an_older_revision(  # 0017's triggers, without the new columns, count it
                ModelCall, task_id=task_id, user_phone=phone, model="m", cost_usd=CALL
            )
            cost = db.session.execute(sa.text("SELECT cost_usd FROM tasks")).scalar_one()
            assert Decimal(str(cost)) == SMS + 2 * CALL
            db.session.remove()
            db.engine.dispose()


SMS, CALL = Decimal("0.007900"), Decimal("0.000100")


def _costs() -> list[tuple]:
    """The task's costs, and its bucket's."""
    db.session.expire_all()
    costs = sa.select(Task.cost_usd, Task.sms_cost_usd)
    bucket = sa.select(TaskRollup.cost_micro, TaskRollup.sms_micro).where(TaskRollup.tasks > 0)
    return [(*db.session.execute(costs).one(), *db.session.execute(bucket).one())]
