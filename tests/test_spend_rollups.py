"""The spend rollups stay equal to a full recount of the two ledgers, whatever writes them.

Random SMS and model calls, on several days and months, for several texters, with and
without a task, go through what the service does to them (stored with an estimate, priced
by Twilio, a task deleted so its rows lose their task, a texter deleted so their rows lose
their number, a row deleted by hand); after every round the rollup tables, every spend
report and every task's cost are compared with sums computed in Python from every ledger row.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from config import TestingConfig
from sms_agent import create_app
from sms_agent.costs import report
from sms_agent.extensions import db
from sms_agent.models import (
    HandledMessage,
    InboundCharge,
    ModelCall,
    OutboundMessage,
    Task,
    Tier,
    User,
)
from sms_agent.models.spend_rollups import rebuild, recount_task_costs
from sms_agent.models.types import Money
from tests.conftest import fresh_database
from tests.factories import (
    make_row_of_an_older_revision,
    make_task,
    make_user,
    make_user_of_an_older_revision,
)

NOW = datetime(2027, 3, 15, 12, 0, tzinfo=UTC)
MICRO = Decimal("0.000001")


def _ledger_rows() -> list[tuple[str, datetime, bool, Decimal, Decimal, int]]:
    """(phone, created_at, on a task, sms, model, 1 for an SMS) for every row of the ledgers
    (what receiving a text cost counts with the SMS, but is no SMS of ours)."""
    rows = [
        (m.to_number, m.created_at, m.task_id is not None, m.price_usd or Decimal(0), Decimal(0), 1)
        for m in db.session.scalars(
            sa.select(OutboundMessage).execution_options(populate_existing=True)
        )
    ]
    rows += [
        (c.user_phone, c.created_at, c.task_id is not None, Decimal(0), c.cost_usd, 0)
        for c in db.session.scalars(sa.select(ModelCall).execution_options(populate_existing=True))
    ]
    charges = sa.select(InboundCharge).execution_options(populate_existing=True)
    rows += [
        (c.user_phone, c.created_at, c.task_id is not None, c.price_usd, Decimal(0), 0)
        for c in db.session.scalars(charges)
    ]
    return rows


def _recount() -> dict[str, dict]:
    daily: dict = defaultdict(lambda: [Decimal(0), Decimal(0), 0, 0])
    monthly: dict = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for phone, created, on_task, sms, model, is_sms in _ledger_rows():
        daily[(created.astimezone(UTC).date(), on_task)][3] += is_sms
        day = created.astimezone(UTC).date()
        buckets = [daily[(day, on_task)]]
        if phone is not None:  # a deleted texter's rows are in no texter's month
            buckets.append(monthly[(phone, day.replace(day=1))])
        for bucket in buckets:
            bucket[0] += sms
            bucket[1] += model
            bucket[2] += 1
    return {"spend_daily": dict(daily), "spend_monthly": dict(monthly)}


def _stored() -> dict[str, dict]:
    def rows(sql):
        return db.session.execute(sa.text(sql + " WHERE entries <> 0")).all()

    def usd(micro):
        return Decimal(int(micro)) * MICRO

    daily = {
        (_date(day), bool(on_task)): [usd(sms), usd(model), entries, sms_entries]
        for day, on_task, sms, model, entries, sms_entries in rows(
            "SELECT day, on_task, sms_micro, model_micro, entries, sms_entries FROM spend_daily"
        )
    }
    monthly = {
        (phone, _date(month)): [usd(sms), usd(model), entries]
        for phone, month, sms, model, entries in rows(
            "SELECT phone, month, sms_micro, model_micro, entries FROM spend_monthly"
        )
    }
    return {"spend_daily": daily, "spend_monthly": monthly}


def _date(value):
    return value if not isinstance(value, str) else datetime.fromisoformat(value).date()


def _task_costs_match_the_ledgers() -> None:
    """Each task's cost_usd is its model calls plus its SMS, as they stand."""
    expected: dict = defaultdict(Decimal)
    for message in db.session.scalars(sa.select(OutboundMessage)):
        if message.task_id is not None:
            expected[message.task_id] += message.price_usd or Decimal(0)
    for call in db.session.scalars(sa.select(ModelCall)):
        if call.task_id is not None:
            expected[call.task_id] += call.cost_usd
    for charge in db.session.scalars(sa.select(InboundCharge)):
        if charge.task_id is not None:
            expected[charge.task_id] += charge.price_usd
    stored = dict(db.session.execute(sa.select(Task.id, Task.cost_usd)).all())
    assert stored == {task_id: expected.get(task_id, Decimal(0)) for task_id in stored}


def _reports_match_the_ledgers() -> None:
    rows = _ledger_rows()
    month = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    today = NOW.replace(hour=0, minute=0, second=0, microsecond=0)

    def total(keep):
        kept = [row for row in rows if keep(row)]
        sms, model = sum((r[3] for r in kept), Decimal(0)), sum((r[4] for r in kept), Decimal(0))
        return {"sms_usd": sms, "model_usd": model, "total_usd": sms + model}

    assert report.totals() == total(lambda row: True)
    assert report.totals(today) == total(lambda row: row[1] >= today)
    assert report.totals(month) == total(lambda row: row[1] >= month)
    assert report.of_tasks() == total(lambda row: row[2])

    spent: dict = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for phone, created, _on_task, sms, model, _is_sms in rows:
        if phone is None:
            continue
        spent[phone][0] += sms + model
        spent[phone][1] += (sms + model) if created >= month else 0
        spent[phone][2] += 1
    phones = sorted(spent)
    assert report.by_texter(phones, NOW) == {
        phone: {"all_time_usd": spent[phone][0], "this_month_usd": spent[phone][1]}
        for phone in phones
    }
    tiers = dict(db.session.execute(sa.select(User.phone_number, User.tier)).all())
    by_tier = {tier: Decimal(0) for tier in Tier.values()}
    by_tier["deleted"] = sum((sms + model for _p, _c, _t, sms, model, _s in rows), Decimal(0))
    for phone, (amount, _month, _entries) in spent.items():
        if phone in tiers:
            by_tier[tiers[phone]] += amount
            by_tier["deleted"] -= amount
    assert report.by_tier() == by_tier
    ranked = sorted(spent.items(), key=lambda item: (-item[1][0], item[0]))
    assert report.top_spenders(3) == [
        {"phone_number": phone, "spend_usd": amount} for phone, (amount, _m, _e) in ranked[:3]
    ]
    days = {}
    for _phone, created, _on_task, sms, model, _is_sms in rows:
        key = created.astimezone(UTC).date().isoformat()
        before = days.get(key, (Decimal(0), Decimal(0)))
        days[key] = (before[0] + sms, before[1] + model)
    for entry in report.daily(days=60, now=NOW):
        sms, model = days.get(entry["date"], (Decimal(0), Decimal(0)))
        assert (entry["sms_usd"], entry["model_usd"]) == (sms, model)


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 200_000)) * MICRO


def _add_rows(rng: random.Random, users: list[User], tasks: list[Task]) -> None:
    for _ in range(rng.randint(0, 3)):  # texts received, each with what Twilio billed
        created = NOW - timedelta(days=rng.choice([0, 1, 40]), hours=rng.randint(0, 11))
        user = rng.choice(users)
        price = rng.choice([None, _money(rng)])
        tasks.append(Task(user=user, sms_content="hi", inbound_price_usd=price, created_at=created))
        db.session.add(tasks[-1])
    for _ in range(rng.randint(0, 2)):  # keywords received, charged without a task
        created = NOW - timedelta(days=rng.choice([0, 1, 40]), hours=rng.randint(0, 11))
        db.session.add(
            HandledMessage(
                message_sid="SM" + uuid.UUID(int=rng.getrandbits(128)).hex,
                user_phone=rng.choice(users).phone_number,
                inbound_price_usd=_money(rng),
                created_at=created,
            )
        )
    for _ in range(rng.randint(5, 15)):
        user = rng.choice(users)
        task = rng.choice([None, *[t for t in tasks if t.user_phone == user.phone_number]])
        created = NOW - timedelta(days=rng.choice([0, 0, 1, 3, 20, 40]), hours=rng.randint(0, 11))
        if rng.random() < 0.5:
            db.session.add(
                OutboundMessage(
                    task=task,
                    to_number=user.phone_number,
                    body="hi",
                    kind="reply",
                    part=1,
                    parts=1,
                    price_usd=rng.choice([None, _money(rng)]),
                    price_estimated=True,
                    created_at=created,
                )
            )
        else:
            db.session.add(
                ModelCall(
                    task_id=task.id if task else None,
                    user_phone=user.phone_number,
                    model="gpt-4o-mini",
                    cost_usd=_money(rng),
                    created_at=created,
                )
            )


def _change_rows(rng: random.Random) -> None:
    messages = db.session.scalars(sa.select(OutboundMessage)).all()
    for message in rng.sample(messages, min(3, len(messages))):
        message.price_usd, message.price_estimated = _money(rng), False  # Twilio's price
    calls = db.session.scalars(sa.select(ModelCall)).all()
    for call in rng.sample(calls, min(2, len(calls))):
        call.cost_usd = _money(rng)
    if messages and rng.random() < 0.5:
        db.session.delete(rng.choice(messages))
    # The price job's bulk UPDATE, as it writes Twilio's prices.
    db.session.execute(
        sa.update(OutboundMessage)
        .where(OutboundMessage.price_usd.is_(None))
        .values(price_usd=Decimal("0.0079"), price_estimated=False)
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_spend_rollups_equal_a_recount_of_the_ledgers(app, seed):
    rng = random.Random(seed)
    users = [make_user(tier=rng.choice(Tier.values())) for _ in range(5)]
    tasks = [make_task(rng.choice(users)) for _ in range(8)]
    db.session.commit()
    for round_number in range(6):
        _add_rows(rng, users, tasks)
        db.session.commit()
        _change_rows(rng)
        db.session.commit()
        if round_number == 2:  # a task's deletion leaves its rows without a task
            db.session.delete(tasks.pop())
            db.session.commit()
        if round_number == 4:  # a texter's deletion keeps their rows, without the number
            gone = users.pop()
            tasks = [task for task in tasks if task.user_phone != gone.phone_number]
            db.session.delete(gone)
            db.session.commit()
        if round_number == 3:
            gone = users[0]
            gone.tier = Tier.PREMIUM.value if gone.tier != Tier.PREMIUM.value else Tier.FREE.value
            db.session.commit()
        assert _stored() == _recount(), f"round {round_number}"
        _reports_match_the_ledgers()
        _task_costs_match_the_ledgers()
    # A recount from scratch finds nothing else.
    rebuild(db.session.connection())
    assert _stored() == _recount()


def test_service_wide_spend_reads_only_the_rollups(app, count_queries):
    user = make_user()
    db.session.add(ModelCall(user_phone=user.phone_number, model="m", cost_usd=Decimal("0.01")))
    db.session.commit()
    with count_queries() as counter:
        report.overview(NOW)
        report.daily(days=30, now=NOW)
        report.of_tasks()
    ledgers = [s for s in counter.statements if "outbound_messages" in s or "model_calls" in s]
    assert ledgers == []


def test_a_recount_mends_task_costs_written_around_the_triggers(app):
    """What migration 0014 runs: every task's cost summed again from the ledgers."""
    task = make_task()
    db.session.add_all(
        [
            ModelCall(
                task_id=task.id, user_phone=task.user_phone, model="m", cost_usd=Decimal("0.25")
            ),
            OutboundMessage(
                task_id=task.id, to_number=task.user_phone, body="hi", price_usd=Decimal("0.0079")
            ),
        ]
    )
    db.session.commit()
    db.session.execute(sa.update(Task).values(cost_usd=Decimal("9")))  # around the triggers
    recount_task_costs(db.session.connection())
    db.session.commit()
    assert db.session.scalar(sa.select(Task.cost_usd)) == Decimal("0.257900")


def test_spend_is_reported_from_a_midnight_only():
    with pytest.raises(ValueError, match="midnight"):
        report._day_of(NOW)


def test_the_migration_fills_the_rollups_from_the_ledgers_there_are(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0011_costs")
            now = datetime.now(UTC)
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO users (phone_number, tier, full_name, last_active,"
                        " total_requests, monthly_requests, rate_limit_reset, timezone,"
                        " preferences, service_state, is_active, created_at, updated_at) VALUES"
                        " ('+15551230000', 'free', '', :now, 0, 0, :now, 'UTC', '{}', '{}', true,"
                        " :now, :now)"
                    ),
                    {"now": now},
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO model_calls (id, user_phone, model, prompt_tokens,"
                        " completion_tokens, cost_usd, priced, created_at) VALUES (:id,"
                        " '+15551230000', 'm', 1, 1, :cost, true, :now)"
                    ).bindparams(
                        sa.bindparam("id", type_=sa.Uuid), sa.bindparam("cost", type_=Money)
                    ),
                    [
                        {"id": uuid.uuid4(), "cost": Decimal("0.000250"), "now": now},
                        {"id": uuid.uuid4(), "cost": Decimal("0.001000"), "now": now},
                    ],
                )

            upgrade()
            assert report.totals()["model_usd"] == Decimal("0.001250")
            db.session.add(
                ModelCall(user_phone="+15551230000", model="m", cost_usd=Decimal("0.000005"))
            )
            db.session.commit()
            assert report.totals()["model_usd"] == Decimal("0.001255")  # triggers in place
            db.session.remove()
            db.engine.dispose()


def test_migration_0021_counts_the_sms_already_sent_and_its_downgrade_keeps_the_spend(tmp_path):
    def sms_counted() -> int:
        return db.session.scalar(sa.text("SELECT coalesce(sum(sms_entries), 0) FROM spend_daily"))

    def entries() -> int:
        return db.session.scalar(sa.text("SELECT coalesce(sum(entries), 0) FROM spend_daily"))

    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0020_message_write_marks")
            make_user_of_an_older_revision("+15551230000")
            for body in ("one", "two"):
                make_row_of_an_older_revision(OutboundMessage, to_number="+15551230000", body=body)
            make_row_of_an_older_revision(ModelCall, user_phone="+15551230000", model="m")
            upgrade(revision="0021_count_of_sms_kept")
            assert (sms_counted(), entries()) == (2, 3)
            db.session.add(OutboundMessage(to_number="+15551230000", body="three"))
            db.session.commit()
            assert (sms_counted(), entries()) == (3, 4)
            db.session.rollback()  # the reads' transaction would hold the migration up
            downgrade(revision="0020_message_write_marks")
            make_row_of_an_older_revision(OutboundMessage, to_number="+15551230000", body="four")
            assert entries() == 5
            db.session.remove()
            db.engine.dispose()
