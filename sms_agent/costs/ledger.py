"""Pricing what the service does as it happens: each model call from the usage it reported,
each SMS from an estimate when it is stored, then Twilio's own price once it is final.

Twilio prices a message some time after it is final, so its price is fetched later, in
batches, by a periodic job (never in the status webhook, which must answer at once); until
then the message carries the estimate, marked as one. The caller commits."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import (
    FINAL_DELIVERY_STATUSES,
    DeliveryStatus,
    ModelCall,
    OutboundMessage,
    Task,
    User,
    utcnow,
)
from ..models.types import Money
from ..vendors.openai import Completion
from ..vendors.twilio import Price, SmsError, get_sms_backend
from .prices import model_cost, money

log = logging.getLogger("sms_agent.costs")

#: A message whose status never became final (no status callbacks configured) is priced
#: once it is this old: by then Twilio has long settled it.
SETTLED_AFTER = timedelta(hours=1)

#: Twilio's answer for a message it does not have (any more): its price will never come.
MESSAGE_GONE = 404

#: Where the session keeps the model calls it recorded, for keep_paid_calls: a rollback
#: drops a call that was never stored, and with it the only record that it was paid for.
_RECORDED_CALLS = "recorded_model_calls"


def record_model_call(task: Task, completion: Completion) -> ModelCall | None:
    """Store one model call with its price; the offline notice is no call and costs nothing."""
    if completion.offline:
        return None
    cost = model_cost(
        completion.model,
        completion.prompt_tokens,
        completion.completion_tokens,
        completion.audio_seconds,
        asked=completion.asked,
        cached_tokens=completion.cached_tokens,
    )
    if cost is None:
        log.warning("model %r has no price in MODEL_PRICES; counted as 0 USD", completion.model)
    call = ModelCall(
        task_id=task.id,
        user_phone=task.user_phone,
        model=completion.model[:100],
        prompt_tokens=completion.prompt_tokens,
        cached_tokens=completion.cached_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=cost if cost is not None else Decimal(0),
        priced=cost is not None,
        # When it answered, not when it is flushed: the flush writes the reply's first
        # part before it (both follow their task), and a conversation reads in time order.
        created_at=utcnow(),
    )
    db.session.add(call)
    db.session.info.setdefault(_RECORDED_CALLS, []).append(call)
    refresh_task_cost(task)
    return call


def keep_paid_calls() -> None:
    """After a rollback: the model calls this session recorded that the rollback dropped
    (their task was deleted while the model answered it, the database refused the job after
    the answer came). They were paid for, so they stay in the spend, for their task while
    it is there, else detached from it (and from the texter, if they are gone too), as
    models/forgetting.py leaves a deleted texter's. The caller commits."""
    for call in db.session.info.pop(_RECORDED_CALLS, []):
        if not sa.inspect(call).transient:
            continue  # stored by an earlier commit: the database detached it already
        if call.task_id is not None and db.session.get(Task, call.task_id) is None:
            call.task_id = None
        if db.session.get(User, call.user_phone) is None:
            call.user_phone = None
        db.session.add(call)


def refresh_task_cost(task: Task | None) -> None:
    """Task.cost_usd (its model calls plus its SMS) is kept by the database: the ledgers'
    triggers add each row's amount to its task as it is written (models/spend_rollups.py),
    so prices arriving from other processes never overwrite each other's share. A loaded
    task forgets its value, so that a read after the commit sees the database's (on
    PostgreSQL the triggers run at the commit, models/at_commit.py; on SQLite at the flush)."""
    if task is not None and sa.inspect(task).persistent:
        db.session.expire(task, ["cost_usd", "sms_cost_usd"])


def refresh_task_costs(task_ids) -> None:
    """The same for tasks whose messages the price job priced, where they are loaded."""
    for task_id in task_ids:
        if task_id is None:
            continue
        task = db.session.identity_map.get(db.session.identity_key(Task, task_id))
        refresh_task_cost(task)


def failed_sms_pricing() -> dict[str, sa.ColumnElement | bool]:
    """The price columns of a message Twilio reports failed, for the UPDATE that records
    it: Twilio bills no failed message (it never left Twilio; an undelivered one reached a
    carrier and may be billed), so our estimate becomes 0 while a price Twilio reported
    stays. Either is final: Twilio prices no failed message later, so the price job does
    not ask about it (see _due). Both columns are set from the row as it was."""
    estimated = OutboundMessage.price_estimated.is_(True)
    return {
        "price_usd": sa.case(
            (estimated, sa.literal(money(0), Money)), else_=OutboundMessage.price_usd
        ),
        "price_estimated": False,
    }


def _due(now: datetime) -> sa.ColumnElement[bool]:
    config = current_app.config
    retry_gap = timedelta(seconds=config["PRICE_FETCH_INTERVAL_SECONDS"] * 5)
    return sa.and_(
        OutboundMessage.sid.is_not(None),
        OutboundMessage.price_estimated.is_(True),
        OutboundMessage.price_checks < config["PRICE_FETCH_MAX_CHECKS"],
        sa.or_(
            OutboundMessage.status.in_([str(s) for s in FINAL_DELIVERY_STATUSES]),
            OutboundMessage.created_at < now - SETTLED_AFTER,
        ),
        sa.or_(
            OutboundMessage.price_checked_at.is_(None),
            OutboundMessage.price_checked_at < now - retry_gap,
        ),
    )


def fetch_prices(now: datetime | None = None) -> int:
    """Ask Twilio for the price of up to PRICE_FETCH_BATCH final messages still carrying an
    estimate; returns how many got their real price. A message Twilio has not priced yet is
    asked again later, up to PRICE_FETCH_MAX_CHECKS times, and one it does not have is not
    asked again; Twilio unreachable or refusing us ends the batch (the next run tries again).
    Each price is committed as it is taken (_commit_alone)."""
    now = now or utcnow()
    batch = db.session.scalars(
        sa.select(OutboundMessage)
        .where(_due(now))
        .order_by(OutboundMessage.created_at)
        .limit(current_app.config["PRICE_FETCH_BATCH"])
    ).all()
    backend = get_sms_backend()
    priced, tasks = 0, set()
    for message in batch:
        try:
            price = backend.fetch_price(message.sid)
        except SmsError as exc:
            log.warning("price of %s not fetched: %s", message.sid, exc)
            if exc.status != MESSAGE_GONE:
                # Twilio unreachable, or refusing us rather than this message (credentials
                # rotated, the account suspended: 401, 403): each message of the batch
                # given up on would keep its estimate for good. Asked again next run, and
                # none of its checks used: counted, a long outage used them all up.
                break
            message.price_checks = current_app.config["PRICE_FETCH_MAX_CHECKS"]
            continue
        message.price_checks += 1
        message.price_checked_at = now
        tasks.add(message.task_id)  # its price may have changed without being adopted
        if _adopt(message, price):
            priced += 1
        _commit_alone()
    refresh_task_costs(tasks)
    return priced


def _commit_alone() -> None:
    """Each price is committed on its own, unlike the rest of the domain, which leaves the
    commit to its caller. Its triggers lock the message's task, then the task's rollup
    bucket, then the day's spend rows, the order every writer takes them in; a batch in one
    transaction would hold the buckets and spend rows of the tasks priced first while it
    waits for a later task that a worker is completing, and the worker waits at its commit
    for those same rows: a deadlock, which PostgreSQL ends by failing one of the two."""
    db.session.commit()


def _adopt(message: OutboundMessage, price: Price) -> bool:
    """Take Twilio's price (a debit, so negative) in place of the estimate. Without one, a
    message Twilio says failed costs 0, finally (see failed_sms_pricing): its status
    callback may never have come."""
    amount, unit = price.amount, price.unit
    if amount is None:
        if price.status == DeliveryStatus.FAILED:
            message.price_usd, message.price_estimated = money(0), False
        return False
    message.price_unit = unit
    if unit != "USD":
        # Prices are kept in USD only: keep the estimate rather than mix currencies.
        log.warning("%s priced in %s, not USD; the estimate stays", message.sid, unit)
        message.price_checks = current_app.config["PRICE_FETCH_MAX_CHECKS"]
        return False
    message.price_usd = abs(amount)
    message.price_estimated = False
    return True
