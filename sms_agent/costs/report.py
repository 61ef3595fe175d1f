"""Spend totals: per texter (this month, all time), per tier, per day split SMS / model, the
top spenders, and the spend of a filtered set of tasks. The three ledgers, the SMS we sent
(OutboundMessage.price_usd), the texts Twilio received for us (InboundCharge.price_usd,
counted with the SMS) and the model calls (ModelCall.cost_usd), are summed by the
database into rollups per day and per texter and month (models/spend_rollups.py), so the
service-wide figures read a few rows however long the ledgers grow, and every figure adds up
to the same grand total. What the rollups cannot answer (one texter since their local
midnight) is summed from the ledgers' indexed rows; each task and the task rollups keep
their tasks' costs too (models/rollups.py), so a set of tasks is summed from those."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..answering.history import STAFF_KINDS
from ..extensions import db
from ..media.kinds import AUDIO, IMAGE
from ..models import (
    InboundCharge,
    ModelCall,
    OutboundMessage,
    RefusalReason,
    SpendDaily,
    SpendMonthly,
    Task,
    TaskRollup,
    TaskStatus,
    Tier,
    User,
    utcnow,
)
from ..models.users import MORE_PART_PENDING_FOR
from .prices import money

ZERO = Decimal(0)
SMS_PRICE = OutboundMessage.price_usd
MODEL_COST = ModelCall.cost_usd
RECEIVED_PRICE = InboundCharge.price_usd


def month_start(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first of this month: where "this month" begins in reports."""
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _amount(value) -> Decimal:
    return money(value if value is not None else 0)


def usd(micro) -> Decimal:
    """A rollup's sum of millionths of a dollar (an int, or PostgreSQL's numeric) in USD."""
    return money(Decimal(micro or 0) / 1_000_000)


def _day_of(since: datetime) -> date:
    """The rollups count whole UTC days: `since` must be a midnight (day_start, month_start)."""
    if (since.hour, since.minute, since.second, since.microsecond) != (0, 0, 0, 0):
        raise ValueError(f"spend is reported from a midnight UTC, not from {since.isoformat()}")
    return since.date()


def totals(since: datetime | None = None) -> dict[str, Decimal]:
    """{"sms_usd", "model_usd", "total_usd"} across the service since the midnight `since`
    (or ever)."""
    query = sa.select(sa.func.sum(SpendDaily.sms_micro), sa.func.sum(SpendDaily.model_micro))
    if since is not None:
        query = query.where(SpendDaily.day >= _day_of(since))
    sms, model = db.session.execute(query).one()
    sms, model = usd(sms), usd(model)
    return {"sms_usd": sms, "model_usd": model, "total_usd": sms + model}


def _received_by(phone: str, since: datetime | None) -> sa.Select:
    """What Twilio billed for receiving the texter's texts since `since`: an indexed sum."""
    query = sa.select(sa.func.sum(RECEIVED_PRICE)).where(InboundCharge.user_phone == phone)
    return query if since is None else query.where(InboundCharge.created_at >= since)


def spent_by(phone: str, since: datetime | None = None) -> Decimal:
    """One texter's spend since `since` (any moment): three indexed sums over their ledger
    rows (phone, created_at), in one statement."""
    sms = sa.select(sa.func.sum(SMS_PRICE)).where(OutboundMessage.to_number == phone)
    calls = sa.select(sa.func.sum(MODEL_COST)).where(ModelCall.user_phone == phone)
    if since is not None:
        sms = sms.where(OutboundMessage.created_at >= since)
        calls = calls.where(ModelCall.created_at >= since)
    sums = (sms, calls, _received_by(phone, since))
    row = db.session.execute(sa.select(*(sum_.scalar_subquery() for sum_ in sums))).one()
    return sum((_amount(value) for value in row), ZERO)


#: A request admitted whose answer has not cost anything yet.
IN_FLIGHT = (TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value)
#: How long before a cap's day or month a request still under way may have been asked and
#: be paid for within it (one asked just before midnight is paid for after it).
ASKED_BEFORE = timedelta(days=1)


#: Texts kept for staff while they hold the conversation: never answered, so a model call
#: for one (a voice note transcribed for staff to read) is staff's doing, not the texter's.
_HELD = Task.refusal_reason == RefusalReason.HELD_FOR_STAFF.value
#: What staff texted a texter, or had the service text them (a tier change's notice, the
#: end of a handoff, notices.BULK): staff's doing too, not the texter's asking. Not the
#: program notice before one (a number's first SMS on a channel): due once whatever comes
#: first, it counts toward the texter's cap once, as before their first answer it would.
_STAFFS_SMS = sorted(STAFF_KINDS | {"tier_change", "handoff_ended"})


class InFlight(NamedTuple):
    """Requests still being answered, whose cost is not in the ledgers yet: how many, and
    the pictures and voice notes they came with, which reading them costs first."""

    answers: int = 0
    pictures: int = 0
    voice_notes: int = 0


def _attachments(kind: str) -> sa.ColumnElement[int]:
    """How many attachments of `kind` (media.kinds: image, audio) a task's text came with,
    as the webhook kept them in its metadata ("media": [{"kind": ...}, ...]), in SQL: read
    before they are fetched, so a request's reading can be counted while it waits."""
    if db.session.get_bind().dialect.name == "postgresql":
        path = f"'$.media[*] ? (@.kind == \"{kind}\")'::jsonpath"
        query = f"jsonb_array_length(jsonb_path_query_array(tasks.metadata, {path}))"
    else:
        query = (
            "(SELECT count(*) FROM json_each(tasks.metadata, '$.media')"
            f" WHERE json_extract(json_each.value, '$.kind') = '{kind}')"
        )
    return sa.literal_column(query, sa.Integer)


def request_of(metadata: dict | None) -> InFlight:
    """A text about to be admitted as a request, counted as _attachments counts a stored
    one's (from the metadata its task will keep): its answer and its attachments."""
    kinds = [item.get("kind") for item in (metadata or {}).get("media", [])]
    return InFlight(1, kinds.count(IMAGE), kinds.count(AUDIO))


def _in_flight_counts() -> list[sa.ColumnElement[int]]:
    """InFlight's sums, over tasks selected under way."""
    return [
        sa.func.count(Task.id).label("answers"),
        sa.func.coalesce(sa.func.sum(_attachments(IMAGE)), 0).label("pictures"),
        sa.func.coalesce(sa.func.sum(_attachments(AUDIO)), 0).label("voice_notes"),
    ]


def spent_and_in_flight(phone: str, since: datetime) -> tuple[Decimal, InFlight]:
    """What one texter cost since `since` by their own asking, their monthly cap's figure:
    spent_by but the transcriptions of voice notes held for staff (which staff asked for:
    a texter handed back to the AI was refused `over_spend` for them) and the SMS staff
    sent them (a texter staff wrote to at length was refused too), and how many of
    their requests since then are still being answered (queued or processing), whose cost
    is not in it yet, with their attachments (those asked since a day before it too:
    ASKED_BEFORE): in the same statement, one round trip. What Twilio billed for receiving
    their texts is their own asking too."""
    sms = sa.select(sa.func.sum(SMS_PRICE)).where(
        OutboundMessage.to_number == phone,
        OutboundMessage.created_at >= since,
        OutboundMessage.kind.not_in(_STAFFS_SMS),
    )
    calls = (
        sa.select(sa.func.sum(MODEL_COST))
        .select_from(ModelCall)
        .outerjoin(Task, Task.id == ModelCall.task_id)
        .where(ModelCall.user_phone == phone, ModelCall.created_at >= since)
        .where(sa.or_(Task.refusal_reason.is_(None), sa.not_(_HELD)))
    )
    in_flight = (
        sa.select(*_in_flight_counts())
        .where(Task.user_phone == phone, Task.created_at >= since - ASKED_BEFORE)
        .where(Task.status.in_(IN_FLIGHT))
        .subquery()
    )
    received = _received_by(phone, since).scalar_subquery()
    row = db.session.execute(
        sa.select(sms.scalar_subquery(), calls.scalar_subquery(), received, *in_flight.c)
    ).one()
    spent = _amount(row[0]) + _amount(row[1]) + _amount(row[2])
    return spent, InFlight(*(int(n or 0) for n in row[3:]))


class UnderWay(NamedTuple):
    """A texter with requests still being answered (InFlight) or the parts of MOREs still
    to be sent (in their service_state), and their row as far as pricing those needs (tier,
    channel, number, service_state, whether opted out): a User of its own, in no session."""

    texter: User
    in_flight: InFlight


def today_and_under_way(now: datetime | None = None) -> tuple[Decimal, list[UnderWay]]:
    """The service's spend today (totals since day_start) and what is still to be paid for,
    whose cost is not in it yet, per texter: the requests being answered, with their
    attachments, of those created today or yesterday (one created just before midnight is
    paid for today), and the texters with a MORE's part still to be sent (User.more_asked_at,
    within MORE_PART_PENDING_FOR); each is priced as its texter's (their tier, country and
    channel, and the program notice when theirs is due). In the same statement, one round
    trip, reading the tasks under way (the status index) and the texters with MOREs (a
    partial index), a row per texter with any."""
    now = now or utcnow()
    today = day_start(now)
    spend = sa.select(sa.func.sum(SpendDaily.sms_micro + SpendDaily.model_micro)).where(
        SpendDaily.day >= today.date()
    )
    tasks = (
        sa.select(Task.user_phone.label("phone"), *_in_flight_counts())
        .where(Task.status.in_(IN_FLIGHT), Task.created_at >= today - ASKED_BEFORE)
        .group_by(Task.user_phone)
    )
    none = [sa.literal(0).label(name) for name in InFlight._fields]
    mores = sa.select(User.phone_number.label("phone"), *none).where(
        User.more_asked_at > now - MORE_PART_PENDING_FOR
    )
    both = sa.union_all(tasks, mores).subquery()
    texters = (
        sa.select(
            both.c.phone, *(sa.func.sum(both.c[name]).label(name) for name in InFlight._fields)
        )
        .group_by(both.c.phone)
        .subquery()
    )
    under_way = (
        sa.select(*_PRICED_BY, *(texters.c[name] for name in InFlight._fields))
        .join(texters, texters.c.phone == User.phone_number)
        .subquery()
    )
    day = sa.select(spend.scalar_subquery().label("spent")).subquery()
    rows = db.session.execute(
        sa.select(day.c.spent, *under_way.c).select_from(day.outerjoin(under_way, sa.true()))
    ).all()
    priced_by = len(_PRICED_BY)
    found = [
        UnderWay(
            User(**dict(zip(_PRICED_AS, row[1 : 1 + priced_by], strict=True))),
            InFlight(*(int(n) for n in row[1 + priced_by :])),
        )
        for row in rows
        if row[1] is not None  # the outer join's row when nothing is under way
    ]
    return usd(rows[0][0]), found


#: What prices a texter's answers under way and the program notice before them.
_PRICED_BY = (
    User.phone_number,
    User.tier,
    User.channel,
    User.service_state,
    User.opted_out_at,
)
_PRICED_AS = [column.key for column in _PRICED_BY]


_SPENT = SpendMonthly.sms_micro + SpendMonthly.model_micro


def by_texter(phones: Iterable[str], now: datetime | None = None) -> dict[str, dict]:
    """{phone: {"this_month_usd", "all_time_usd"}} for the given texters, in one query."""
    phones = list(phones)
    result = {phone: {"this_month_usd": ZERO, "all_time_usd": ZERO} for phone in phones}
    if not phones:
        return result
    this_month = SpendMonthly.month == month_start(now).date()
    rows = db.session.execute(
        sa.select(
            SpendMonthly.phone,
            sa.func.sum(_SPENT),
            sa.func.sum(sa.case((this_month, _SPENT), else_=0)),
        )
        .where(SpendMonthly.phone.in_(phones))
        .group_by(SpendMonthly.phone)
    ).all()
    for phone, all_time, month in rows:
        result[phone] = {"this_month_usd": usd(month), "all_time_usd": usd(all_time)}
    return result


def texter_spend(phone: sa.ColumnElement[str], this_month: bool = False) -> sa.ScalarSelect:
    """A texter's spend in millionths of a dollar, all time or this month (0 when none), as
    SQL for the row whose number is `phone`: lists sort by it. The month is read when the
    statement runs, not when it was built."""
    query = sa.select(sa.func.coalesce(sa.func.sum(_SPENT), 0)).where(SpendMonthly.phone == phone)
    if this_month:
        month = sa.bindparam("this_month", callable_=lambda: month_start().date(), type_=sa.Date)
        query = query.where(SpendMonthly.month == month)
    return query.scalar_subquery()


def _months_since(query: sa.Select, since: datetime | None) -> sa.Select:
    if since is None:
        return query
    if _day_of(since).day != 1:
        raise ValueError(f"spend per texter is kept per month, not from {since.isoformat()}")
    return query.where(SpendMonthly.month >= since.date())


#: by_tier's entry for the spend of texters deleted since (models/forgetting.py).
DELETED = "deleted"


def by_tier(since: datetime | None = None) -> dict[str, Decimal]:
    """Spend per tier (the texter's tier now), every tier present, and DELETED: what the
    texters deleted since cost, which stays in the service's totals (their rows leave
    every texter's month), so the entries and own_numbers add up to the total; `since`: a
    month's start."""
    return _by_payer(since)[0]


def _by_payer(since: datetime | None) -> tuple[dict[str, Decimal], Decimal]:
    """(by_tier, own_numbers) in one query: a month of spend under a number no texter has
    is one of our own numbers' (inbound.receive keeps a text from one so), as a deleted
    texter's months are deleted with them."""
    query = (
        sa.select(User.tier, sa.func.sum(_SPENT))
        .outerjoin(User, User.phone_number == SpendMonthly.phone)
        .group_by(User.tier)
    )
    found = dict(db.session.execute(_months_since(query, since)).all())
    tiers = {tier: usd(found.get(tier)) for tier in Tier.values()}
    own = usd(found.get(None))
    return {**tiers, DELETED: totals(since)["total_usd"] - sum(tiers.values(), own)}, own


def daily(days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per UTC day for the last `days` days, oldest first: SMS, model, total."""
    now = now or utcnow()
    first = now.date() - timedelta(days=days - 1)
    rows = db.session.execute(
        sa.select(
            SpendDaily.day, sa.func.sum(SpendDaily.sms_micro), sa.func.sum(SpendDaily.model_micro)
        )
        .where(SpendDaily.day >= first)
        .group_by(SpendDaily.day)
    ).all()
    found = {row[0]: row for row in rows}
    series = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        row = found.get(current)
        sms, model = (usd(row[1]), usd(row[2])) if row else (ZERO, ZERO)
        total = sms + model
        series.append(
            {"date": current.isoformat(), "sms_usd": sms, "model_usd": model, "total_usd": total}
        )
    return series


def top_spenders(limit: int = 10, since: datetime | None = None) -> list[dict[str, Any]]:
    """The texters who cost the most since the month start `since` (or ever), most first."""
    amount = sa.func.sum(_SPENT)
    query = (
        sa.select(SpendMonthly.phone, amount)
        .join(User, User.phone_number == SpendMonthly.phone)  # our own numbers spend too
        .group_by(SpendMonthly.phone)
        .having(sa.func.sum(SpendMonthly.entries) > 0)  # emptied by deletions: no spender
        .order_by(amount.desc(), SpendMonthly.phone)
        .limit(limit)
    )
    rows = db.session.execute(_months_since(query, since)).all()
    return [{"phone_number": phone, "spend_usd": usd(total)} for phone, total in rows]


def of_tasks(conditions: Iterable = ()) -> dict[str, Decimal]:
    """The spend of the tasks matching `conditions` (the API's task filters): their model
    calls and the SMS sent for them, as each task keeps them (`cost_usd`, `sms_cost_usd`,
    which the ledgers' triggers keep equal to its rows there): one pass over the tasks, not a
    join of them with both ledgers. Notices sent without a task are in no task's spend. No
    condition at all is every bucket."""
    conditions = list(conditions)
    if not conditions:
        return of_buckets([])
    sums = sa.select(sa.func.sum(Task.sms_cost_usd), sa.func.sum(Task.cost_usd))
    sms, total = (_amount(value) for value in db.session.execute(sums.where(*conditions)).one())
    return {"sms_usd": sms, "model_usd": total - sms, "total_usd": total}


def of_buckets(buckets: Iterable) -> dict[str, Decimal]:
    """The same, for the tasks of the task rollups' buckets matching `buckets` (conditions
    on TaskRollup, analytics.ranges.day_split): the buckets keep their tasks' costs
    (models/rollups.py), a few hundred rows however many tasks they hold."""
    sums = sa.select(sa.func.sum(TaskRollup.sms_micro), sa.func.sum(TaskRollup.cost_micro))
    sms, total = (usd(value) for value in db.session.execute(sums.where(*buckets)).one())
    return {"sms_usd": sms, "model_usd": total - sms, "total_usd": total}


def overview(now: datetime | None = None) -> dict[str, Any]:
    """The service's spend at a glance, for /api/analytics/ and the dashboard."""
    now = now or utcnow()
    tiers, own_numbers = _by_payer(None)
    return {
        **totals(),
        "today_usd": totals(day_start(now))["total_usd"],
        "this_month_usd": totals(month_start(now))["total_usd"],
        "by_tier": tiers,
        "own_numbers_usd": own_numbers,
        "top_spenders": top_spenders(5, month_start(now)),
    }
