"""The rollups stay equal to a full recount of the tasks, whoever writes them and however.

Random tasks go through what the service does to them (created by the ORM and in bulk,
claimed with the claim's UPDATE, completed, failed, retried, edited, deleted one by one and
with their texter) and through tier changes; after every round the rollup tables, the
analytics served from them and the users' stats are compared with a recount in Python of
every task row.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa

from sms_agent import analytics, quota
from sms_agent.answering.claim import claim
from sms_agent.extensions import db
from sms_agent.models import Category, Task, TaskStatus, Tier, User, utcnow
from sms_agent.models.rollups import rebuild, rebuilt_after
from sms_agent.user_stats import user_stats
from tests.factories import make_user

STATUSES = TaskStatus.values()


def _recount() -> dict[str, dict]:
    """The three rollups, computed in Python from every task row (zero buckets left out)."""
    tasks = db.session.scalars(sa.select(Task).execution_options(populate_existing=True)).all()
    by_day: dict = defaultdict(lambda: [0, 0.0, 0, 0, 0])
    by_user: dict = defaultdict(lambda: [0, 0, 0.0, 0])
    by_hour: Counter = Counter()
    for task in tasks:
        created = task.created_at.astimezone(UTC)
        day = by_day[(created.date(), task.category, task.status, task.success)]
        day[0] += 1
        if task.processing_time is not None:
            day[1] += task.processing_time
            day[2] += 1
        if task.tokens_used is not None:
            day[3] += task.tokens_used
            day[4] += 1
        taken_on = int(task.status != "refused")  # refused texts count only by status
        user = by_user[(task.user_phone, task.category)]
        user[0] += taken_on
        user[1] += int(task.success)
        if task.processing_time is not None:
            user[2] += task.processing_time
            user[3] += 1
        by_hour[int(created.timestamp()) // 3600] += taken_on
    by_user = {key: values for key, values in by_user.items() if values[0]}
    by_hour = Counter({hour: tasks for hour, tasks in by_hour.items() if tasks})
    return {"task_rollups": by_day, "user_task_rollups": by_user, "hours": by_hour}


def _stored() -> dict[str, dict]:
    rows = db.session.execute(
        sa.text(
            "SELECT day, category, status, success, tasks, processing_time_sum,"
            " processing_time_count, tokens_used_sum, tokens_used_count FROM task_rollups"
            " WHERE tasks <> 0"
        )
    ).all()
    by_day = {
        (_date(r[0]), r[1], r[2], bool(r[3])): [r[4], r[5], r[6], int(r[7]), r[8]] for r in rows
    }
    rows = db.session.execute(
        sa.text(
            "SELECT user_phone, category, tasks, successful, processing_time_sum,"
            " processing_time_count FROM user_task_rollups WHERE tasks <> 0"
        )
    ).all()
    by_user = {(r[0], r[1]): [r[2], r[3], r[4], r[5]] for r in rows}
    hours = dict(
        db.session.execute(
            sa.text("SELECT hour, tasks FROM task_hourly_counts WHERE tasks <> 0")
        ).all()
    )
    return {"task_rollups": by_day, "user_task_rollups": by_user, "hours": hours}


def _date(value):
    from datetime import date

    return value if isinstance(value, date) else date.fromisoformat(value)


def _assert_rollups_match_a_recount() -> None:
    expected, stored = _recount(), _stored()
    assert stored["hours"] == dict(expected["hours"])
    for name in ("task_rollups", "user_task_rollups"):
        assert set(stored[name]) == set(expected[name]), name
        for key, values in expected[name].items():
            # Counts exactly; float sums up to the rounding of adding and taking away.
            assert stored[name][key] == pytest.approx(values, rel=1e-9, abs=1e-9), (name, key)
    _assert_analytics_match_the_direct_queries()


FILTERS = [
    {},
    {"category": "coding"},
    {"status": "failed"},
    {"success": True, "category": "general"},
    # Whole days: answered by the rollups; a bound inside a day adds its part-day's tasks;
    # a range under two days is read from the tasks alone.
    {"created_after": "days:-10", "created_before": "days:-2"},
    {"created_after": "hours:-30"},
    {"created_after": "hours:-130", "created_before": "hours:-20"},
    {"created_before": "hours:-50", "success": True},
    {"created_after": "hours:-300", "status": "completed", "category": "coding"},
    {"created_after": "days:-9", "created_before": "hours:-60"},
    {"created_after": "hours:-40", "created_before": "hours:-10"},
]


def _bounds(filters: dict) -> dict:
    """FILTERS with their relative bounds turned into datetimes as the API would parse them."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    result = dict(filters)
    for name, value in filters.items():
        if isinstance(value, str) and ":" in value:
            unit, amount = value.split(":")
            if unit == "days":
                moment = today + timedelta(days=int(amount) + (name == "created_before"))
                result[name] = moment - timedelta(microseconds=int(name == "created_before"))
            else:
                result[name] = utcnow() + timedelta(hours=int(amount))
    return result


def _assert_analytics_match_the_direct_queries() -> None:
    now = utcnow()
    for filters in map(_bounds, FILTERS):
        served = analytics.task_analytics(filters, now=now)
        direct = analytics.task_analytics(filters, scope=[sa.true()], now=now)
        # Averages are floats summed in another order: equal up to their last rounded digit.
        for name in ("avg_processing_time", "avg_tokens_used"):
            expected = direct.pop(name)
            near = expected if expected is None else pytest.approx(expected, abs=0.0011)
            assert served.pop(name) == near, filters
        assert served == direct, filters
        assert analytics.category_counts(filters) == direct["category_breakdown"]
        assert analytics.daily_stats(filters, now=now) == direct["daily_stats"]
        if analytics.task_count(filters) is not None:  # the list's count: refused included
            assert analytics.task_count(filters) == direct["total_tasks"] + direct["refused_tasks"]
    everything = db.session.scalars(sa.select(Task)).all()
    tasks = [t for t in everything if t.status != "refused"]
    overview = analytics.overview(now=now)
    assert overview["total_tasks"] == len(tasks)
    assert overview["refused_tasks"] == len(everything) - len(tasks)
    assert overview["tasks_24h"] == sum(t.created_at >= now - timedelta(hours=24) for t in tasks)
    times = [t.processing_time for t in tasks if t.processing_time is not None]
    assert overview["avg_response_time"] == (
        pytest.approx(round(sum(times) / len(times), 3), abs=0.0011) if times else None
    )
    users = db.session.scalars(sa.select(User)).all()
    assert overview["tier_distribution"] == {
        tier: sum(user.tier == tier for user in users) for tier in Tier.values()
    }
    stats = user_stats(user.phone_number for user in users)
    for user in users:
        own = [t for t in tasks if t.user_phone == user.phone_number]
        assert stats[user.phone_number]["success_rate"] == (
            round(100.0 * sum(t.success for t in own) / len(own), 2) if own else 0.0
        )
        counts = Counter(t.category for t in own)
        ranked = sorted(counts, key=lambda category: (-counts[category], category))
        assert stats[user.phone_number]["favorite_categories"] == ranked[:3]


def _random_task(rng: random.Random, phone: str) -> dict:
    status = rng.choice(STATUSES)
    done = status in ("completed", "failed")
    return {
        "id": uuid.uuid4(),
        "user_phone": phone,
        "sms_content": "hi",
        "category": rng.choice(Category.values()),
        "status": status,
        "success": status == "completed",
        "processing_time": round(rng.uniform(0.1, 9.0), 3) if done and rng.random() < 0.9 else None,
        "tokens_used": rng.randint(1, 900) if status == "completed" else None,
        "metadata_": {},
        "created_at": utcnow() - timedelta(seconds=rng.uniform(-3600, 40 * 86400)),
    }


def _round(rng: random.Random, users: list[User]) -> None:
    """One round of random writes, each committed the way the service commits it."""
    for _ in range(rng.randint(3, 8)):  # the ORM, one by one
        db.session.add(Task(**_random_task(rng, rng.choice(users).phone_number)))
    db.session.commit()
    bulk = [_random_task(rng, rng.choice(users).phone_number) for _ in range(rng.randint(0, 6))]
    if bulk:  # the demo seed's way: a Core executemany
        db.session.execute(sa.insert(Task), [{**row, "metadata": {}} for row in bulk])
        for row in bulk:
            row.pop("metadata_")
    db.session.commit()
    tasks = db.session.scalars(sa.select(Task)).all()
    for task in rng.sample(tasks, min(len(tasks), 12)):
        action = rng.choice(["claim", "complete", "fail", "retry", "edit", "delete", "keep"])
        if action == "claim":
            task.status = "queued"
            db.session.commit()
            claim(task.id)  # the claim's own bulk UPDATE ... RETURNING, committed
        elif action == "complete":
            task.mark_completed("ok", tokens_used=rng.randint(1, 500), processing_time=1.25)
        elif action == "fail":
            task.mark_failed("boom")
        elif action == "retry":
            task.status, task.success = "queued", False
        elif action == "edit":
            task.category = rng.choice(Category.values())
            task.created_at = task.created_at - timedelta(hours=rng.randint(1, 50))
            task.processing_time = None
        elif action == "delete":
            db.session.delete(task)
        db.session.commit()
    # Bulk UPDATEs outside the ORM, as the sweeper sends them.
    db.session.execute(
        sa.update(Task)
        .where(Task.status == "processing", Task.category == rng.choice(Category.values()))
        .values(status="queued")
    )
    db.session.commit()
    user = rng.choice(users)
    quota.change_tier(user, rng.choice(Tier.values()))
    db.session.commit()


def test_rollups_equal_a_full_recount_after_every_kind_of_write(app):
    rng = random.Random(1717)
    users = [make_user() for _ in range(4)]
    _assert_rollups_match_a_recount()
    for number in range(6):
        _round(rng, users)
        if number == 3:  # a texter deleted: their tasks go with them, by the FK's cascade
            doomed = users.pop()
            db.session.delete(doomed)
            db.session.commit()
            users.append(make_user())
        _assert_rollups_match_a_recount()


def _row_writes(connection) -> object:
    """Something that changes whenever the hourly or the per-user rollup rows are written:
    their row versions on PostgreSQL, the rows any statement or trigger changed on SQLite."""
    if connection.dialect.name == "postgresql":
        query = (
            "SELECT xmin::text FROM task_hourly_counts"
            " UNION ALL SELECT xmin::text FROM user_task_rollups"
        )
        return sorted(connection.exec_driver_sql(query).scalars())
    return connection.connection.driver_connection.total_changes


def test_a_claim_moves_only_the_task_rollup_bucket(app):
    """A claim changes the status from queued to processing, which the hourly and per-user
    counts do not see (they count tasks taken on): rewriting their rows anyway would take
    the hour's row lock, which every webhook of that hour takes too."""
    task = Task(user_phone=make_user().phone_number, sms_content="hi", status="queued")
    db.session.add(task)
    db.session.commit()
    before = _row_writes(db.session.connection())
    if db.engine.dialect.name == "sqlite":
        before += 3  # the task's row, and the two task_rollups buckets it moves between
    assert claim(task.id) is not None
    assert _row_writes(db.session.connection()) == before
    _assert_rollups_match_a_recount()


def test_a_rebuild_recounts_rollups_that_went_wrong(app):
    rng = random.Random(7)
    user = make_user()
    db.session.add_all(Task(**_random_task(rng, user.phone_number)) for _ in range(20))
    db.session.commit()
    db.session.execute(sa.text("UPDATE task_rollups SET tasks = tasks + 5"))
    db.session.execute(sa.text("DELETE FROM user_task_rollups"))
    rebuild(db.session.connection())
    db.session.commit()
    _assert_rollups_match_a_recount()


def test_a_bulk_load_without_triggers_is_recounted_and_the_triggers_come_back(app):
    rng = random.Random(3)
    user = make_user()
    connection = db.session.connection()
    with rebuilt_after(connection):
        rows = [_random_task(rng, user.phone_number) for _ in range(50)]
        db.session.execute(sa.insert(Task), [{**row, "metadata": {}} for row in rows])
    db.session.commit()
    _assert_rollups_match_a_recount()
    db.session.add(Task(**_random_task(rng, user.phone_number)))
    db.session.commit()
    _assert_rollups_match_a_recount()


def test_the_migration_fills_the_rollups_from_existing_tasks(tmp_path):
    from flask_migrate import downgrade, upgrade

    from config import TestingConfig
    from sms_agent import create_app
    from tests.conftest import fresh_database

    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0005_task_quota_window")
            rng = random.Random(5)
            now = utcnow()
            db.session.execute(
                sa.text(
                    "INSERT INTO users (phone_number, tier, full_name, last_active, total_requests,"
                    " monthly_requests, rate_limit_reset, timezone, preferences, service_state,"
                    " is_active, created_at, updated_at) VALUES ('+15550009999', 'free', '', :now,"
                    " 0, 0, :now, 'UTC', '{}', '{}', true, :now, :now)"
                ),
                {"now": now},
            )
            rows = [_random_task(rng, "+15550009999") for _ in range(40)]
            rows = [
                {**{k: v for k, v in row.items() if k != "metadata_"}, "metadata": {}}
                | {"updated_at": now}
                for row in rows
            ]
            # Only the columns this revision has (later ones add more, with defaults).
            tasks = sa.table(
                "tasks", *(sa.column(c.name, c.type) for c in Task.__table__.c if c.name in rows[0])
            )
            db.session.execute(sa.insert(tasks), rows)
            db.session.commit()

            upgrade()
            _assert_rollups_match_a_recount()
            db.session.add(Task(**_random_task(rng, "+15550009999")))
            db.session.commit()
            _assert_rollups_match_a_recount()

            db.session.remove()
            downgrade(revision="0005_task_quota_window")
            db.session.execute(sa.delete(Task))  # no trigger is left to fail on the gone tables
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
