"""Spend figures: per task, per texter, per tier and per day, all adding up to what the
SMS and the model calls cost one by one, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from sms_agent import costs, jobs
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, utcnow
from tests.factories import make_staff, make_task, make_token, make_user
from tests.standins import chat_completion, signed_post

D = Decimal
report = costs.report


def sms(user, price: str, days_ago: int = 0, task=None) -> OutboundMessage:
    message = OutboundMessage(
        to_number=user.phone_number,
        body="hi",
        task=task,
        price_usd=D(price),
        created_at=utcnow() - timedelta(days=days_ago),
    )
    db.session.add(message)
    return message


def call(user, cost: str, days_ago: int = 0, task=None) -> ModelCall:
    row = ModelCall(
        user_phone=user.phone_number,
        task_id=task.id if task else None,
        model="gpt-4o-mini",
        cost_usd=D(cost),
        created_at=utcnow() - timedelta(days=days_ago),
    )
    db.session.add(row)
    return row


@pytest.fixture
def history(app, openai_server):
    """Three texters on three tiers over six weeks, odd amounts included, and one question
    answered end to end through the model and SMS stand-ins."""
    app.config["MODEL_PRICES"] = {"standin-model": {"input": D("0.37"), "output": D("1.13")}}
    free, premium, enterprise = (make_user(tier=tier) for tier in ("free", "premium", "enterprise"))
    task = make_task(premium)
    for days_ago in (0, 1, 13, 40):
        sms(free, "0.008300", days_ago)
        sms(premium, "0.052400", days_ago, task=task)
        call(premium, "0.000451", days_ago, task=task)
        call(enterprise, "0.123457", days_ago)
    sms(enterprise, "0.000001", 2)
    db.session.add(OutboundMessage(to_number=free.phone_number, body="unpriced", price_usd=None))
    db.session.commit()
    openai_server.then(200, chat_completion("Paris.", tokens=777, completion_tokens=77))
    pipeline.answer(make_task(free).id)
    return free, premium, enterprise


def ledger_total() -> Decimal:
    """Every SMS and every model call, one by one, added up in Python."""
    db.session.rollback()
    prices = db.session.scalars(sa.select(OutboundMessage.price_usd)).all()
    calls = db.session.scalars(sa.select(ModelCall.cost_usd)).all()
    return sum((p or D(0) for p in prices), D(0)) + sum(calls, D(0))


def test_texter_tier_and_day_totals_reconcile_with_each_sms_and_call(history):
    total = ledger_total()
    assert total > 0
    assert report.totals()["total_usd"] == total
    texters = report.by_texter(user.phone_number for user in history)
    assert sum(spent["all_time_usd"] for spent in texters.values()) == total
    assert sum(report.by_tier().values()) == total
    days = report.daily(days=60)
    assert sum(day["total_usd"] for day in days) == total
    assert sum(day["sms_usd"] + day["model_usd"] for day in days) == total
    assert sum(spent["spend_usd"] for spent in report.top_spenders(limit=10)) == total


def test_a_deleted_texters_spend_stays_in_the_per_tier_report_as_deleted(history):
    """Regression: a deleted texter's SMS and calls stay in the service's totals (they were
    paid for), but fell out of every tier, so the tiers no longer added up to the total
    and nothing said where the difference went."""
    _free, premium, _enterprise = history
    before = report.by_tier()
    assert before["deleted"] == 0
    db.session.delete(premium)
    db.session.commit()
    after = report.by_tier()
    assert after["premium"] == 0 and after["deleted"] == before["premium"] > 0
    assert sum(after.values()) == report.totals()["total_usd"] == ledger_total()
    this_month = report.by_tier(report.month_start())
    assert sum(this_month.values()) == report.totals(report.month_start())["total_usd"]


def test_by_tier_counts_a_texters_whole_spend_under_their_tier_now_and_says_so(history, client):
    """A texter's spend is kept per month, not per tier: an upgraded texter's spend on
    free moves to premium with them. The OpenAPI description said only "Each tier", so a
    client read a tier change as spend appearing on one tier and vanishing from another."""
    free, _premium, _enterprise = history
    before = report.by_tier()
    spent = report.spent_by(free.phone_number)
    free.tier = "premium"
    db.session.commit()

    after = report.by_tier()

    assert after["premium"] == before["premium"] + spent and after["free"] == 0
    document = client.get("/api/openapi.json").get_json()
    described = document["components"]["schemas"]["ServiceSpendOut"]["properties"]["by_tier"]
    assert "tier now" in described["description"]


def test_a_tasks_cost_is_its_calls_and_its_sms_whoever_writes_them(history):
    """The premium texter's ledger rows were added by hand, not by the pipeline: the
    database adds each to its task's cost as it is written, changes it with the row's
    price and takes it away with the row, raw SQL included."""
    _free, premium, _enterprise = history
    [task] = premium.tasks
    Task = type(task)

    def cost() -> Decimal:
        db.session.commit()
        return db.session.scalar(sa.select(Task.cost_usd).where(Task.id == task.id))

    assert cost() == 4 * (D("0.052400") + D("0.000451"))
    message = db.session.scalars(sa.select(OutboundMessage).filter_by(task_id=task.id)).first()
    message.price_usd = D("0.060000")  # Twilio's price replaces the estimate
    assert cost() == 3 * D("0.052400") + D("0.060000") + 4 * D("0.000451")
    raw_delete = sa.text("DELETE FROM model_calls WHERE task_id = :id").bindparams(
        sa.bindparam("id", type_=sa.Uuid)
    )
    db.session.execute(raw_delete, {"id": task.id})
    assert cost() == 3 * D("0.052400") + D("0.060000")
    assert report.of_tasks([Task.user_phone == premium.phone_number])["total_usd"] == cost()


def test_the_workers_updates_of_a_task_carry_no_sums(app, openai_server, count_queries):
    """The cost follows the ledgers by triggers: the answer's and the completion's UPDATEs
    of the task write only what changed (a sum in each cost SQLAlchemy a new statement to
    cache each time), and the task's cost is its call and its SMS."""
    app.config["MODEL_PRICES"] = {"standin-model": {"input": D("0.37"), "output": D("1.13")}}
    openai_server.then(200, chat_completion("Paris.", tokens=777, completion_tokens=77))
    task = make_task(make_user())
    with count_queries() as counter:
        assert pipeline.answer(task.id) == "answered"
    updates = [s for s in counter.statements if s.lstrip().startswith("UPDATE tasks")]
    assert updates and not [s for s in updates if "sum(" in s.lower()]
    db.session.rollback()
    [model_call] = db.session.scalars(sa.select(ModelCall).filter_by(task_id=task.id)).all()
    [reply] = db.session.scalars(sa.select(OutboundMessage).filter_by(task_id=task.id)).all()
    assert db.session.get(type(task), task.id).cost_usd == model_call.cost_usd + reply.price_usd > 0


def test_the_spend_of_every_task_reads_only_the_ledgers(history, count_queries):
    """Unfiltered (the staff's tasks analytics), the spend is the ledger rows that belong
    to a task: no scan of the tasks table, which SQLite would index whole for an IN."""
    in_a_task = D(0)
    for row in [
        *db.session.scalars(sa.select(ModelCall)),
        *db.session.scalars(sa.select(OutboundMessage)),
    ]:
        if row.task_id is not None:
            in_a_task += row.cost_usd if isinstance(row, ModelCall) else row.price_usd
    with count_queries() as counter:
        spend = report.of_tasks([])
    assert spend["total_usd"] == in_a_task > 0
    assert not [sql for sql in counter.statements if "FROM tasks" in sql], counter.statements


def test_this_month_counts_only_this_months_spend(history):
    free, _premium, enterprise = history
    now = utcnow()
    spent = report.by_texter([enterprise.phone_number], now=now)[enterprise.phone_number]
    start = report.month_start(now)
    calls = sum(1 for days in (0, 1, 13, 40) if now - timedelta(days=days) >= start)
    expected = calls * D("0.123457") + (D("0.000001") if now - timedelta(days=2) >= start else 0)
    assert spent["this_month_usd"] == expected
    assert spent["all_time_usd"] == 4 * D("0.123457") + D("0.000001")
    assert report.spent_by(enterprise.phone_number) == spent["all_time_usd"]


def test_the_api_shows_spend_for_users_tasks_and_the_service(history, client):
    admin_headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    free, premium, _enterprise = history
    url = f"/api/users/{premium.phone_number.replace('+', '%2B')}/"
    body = client.get(url, headers=admin_headers).get_json()
    assert body["cost_usd"] == str(4 * (D("0.052400") + D("0.000451")))
    analytics = client.get("/api/analytics/", headers=admin_headers).get_json()["spend"]
    assert D(analytics["total_usd"]) == ledger_total()
    assert set(analytics["by_tier"]) == {"free", "premium", "enterprise", "deleted"}
    filtered = client.get(
        f"/api/tasks/analytics/?user_phone={free.phone_number.replace('+', '%2B')}",
        headers=admin_headers,
    ).get_json()["spend"]
    answered = [t for t in free.tasks][0]
    db.session.refresh(answered)
    assert D(filtered["total_usd"]) == answered.cost_usd > 0
    [task] = (client.get(f"/api/tasks/{answered.id}/", headers=admin_headers).get_json(),)
    assert D(task["cost_usd"]) == answered.cost_usd


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_spend_is_counted_for_prometheus(app, client, twilio_server):
    estimated, final = sample("sms_spend_estimated_usd_total"), sample("sms_spend_usd_total")
    model = sample("model_spend_usd_total", model="offline")
    pipeline.answer(make_task().id)
    assert sample("sms_spend_estimated_usd_total") == pytest.approx(estimated + 0.0083)
    [message] = db.session.scalars(sa.select(OutboundMessage)).all()
    form = {"MessageSid": message.sid, "MessageStatus": "delivered"}
    signed_post(client, "/sms/status", form)
    jobs.fetch_sms_prices.apply()
    assert sample("sms_spend_usd_total") == pytest.approx(final + 0.0079)
    assert sample("model_spend_usd_total", model="offline") == model  # offline: no call


# -- a message Twilio reports failed -------------------------------------------------------
@pytest.mark.parametrize(
    "status,billed", [("failed", False), ("undelivered", True), ("delivered", True)]
)
def test_a_failed_sms_twilio_gave_no_price_for_counts_zero_in_every_figure(
    app, client, twilio_server, status, billed
):
    """Twilio bills no message that failed (it never left Twilio); an undelivered one reached
    a carrier and may be billed, so its estimate stays until Twilio's price replaces it."""
    task = make_task()
    pipeline.answer(task.id)
    [message] = db.session.scalars(sa.select(OutboundMessage)).all()
    estimate, phone = message.price_usd, task.user_phone
    assert estimate > 0
    form = {"MessageSid": message.sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    if status != "delivered":
        form["ErrorCode"] = "30007"
    assert signed_post(client, "/sms/status", form).status_code == 200
    db.session.rollback()

    expected = estimate if billed else D(0)
    assert report.totals()["sms_usd"] == report.totals()["total_usd"] == expected
    assert report.daily(1)[0]["sms_usd"] == expected
    assert report.spent_by(phone) == expected
    assert report.by_texter([phone])[phone]["all_time_usd"] == expected
    assert report.top_spenders()[0]["spend_usd"] == expected
    assert report.of_tasks([sa.true()])["sms_usd"] == expected
    assert db.session.get(type(task), task.id).cost_usd == expected == ledger_total()
    admin_headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    spend = client.get("/api/analytics/", headers=admin_headers).get_json()["spend"]
    assert D(spend["total_usd"]) == expected
