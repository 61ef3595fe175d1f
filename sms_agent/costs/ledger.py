"""Pricing what the service does as it happens: each model call from the usage it reported,
each SMS from an estimate when it is stored, then Twilio's own price once it is final.

Twilio prices a message some time after it is final, so its price is fetched later, in
batches, by a periodic job (never in the status webhook, which must answer at once); until
then the message carries the estimate, marked as one. The caller commits."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import FINAL_DELIVERY_STATUSES, ModelCall, OutboundMessage, Task, utcnow
from ..vendors.openai import Completion
from ..vendors.twilio import SmsError, get_sms_backend
from .prices import model_cost

log = logging.getLogger("sms_agent.costs")

#: A message whose status never became final (no status callbacks configured) is priced
#: once it is this old: by then Twilio has long settled it.
SETTLED_AFTER = timedelta(hours=1)


def record_model_call(task: Task, completion: Completion) -> ModelCall | None:
    """Store one model call with its price; the offline notice is no call and costs nothing."""
    if completion.offline:
        return None
    cost = model_cost(completion.model, completion.prompt_tokens, completion.completion_tokens)
    if cost is None:
        log.warning("model %r has no price in MODEL_PRICES; counted as 0 USD", completion.model)
    call = ModelCall(
        id=uuid.uuid4(),  # known before the flush, for refresh_task_cost
        task_id=task.id,
        user_phone=task.user_phone,
        model=completion.model[:100],
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=cost if cost is not None else Decimal(0),
        priced=cost is not None,
    )
    db.session.add(call)
    return call


def _total(amount, task_id) -> sa.ColumnElement:
    """The sum of `amount` over the rows of the task that the enclosing UPDATE writes."""
    owned = sa.select(sa.func.sum(amount)).where(task_id == Task.id).scalar_subquery()
    return sa.func.coalesce(owned, 0)


#: Its model calls plus its SMS, summed by the database in the UPDATE that writes the task
#: (correlated to that row). Built once: a statement built for each task cost a twelfth of
#: a job's CPU, in building it and in SQLAlchemy's cache key for each UPDATE holding it.
TASK_COST = _total(ModelCall.cost_usd, ModelCall.task_id) + _total(
    OutboundMessage.price_usd, OutboundMessage.task_id
)


def refresh_task_cost(task: Task | None, new_call: ModelCall | None = None) -> None:
    """Task.cost_usd = its model calls + its SMS, computed in the UPDATE that next writes the
    task (no statement of its own), from what the database holds, so prices arriving from
    other processes never overwrite each other's share. A call not stored yet is added by
    value: the flush that stores it updates the task first (the call refers to it)."""
    if task is not None:
        task.cost_usd = TASK_COST if new_call is None else TASK_COST + new_call.cost_usd


def refresh_task_costs(task_ids) -> None:
    """The same for tasks not loaded (the price job), in one UPDATE."""
    task_ids = [task_id for task_id in task_ids if task_id is not None]
    if not task_ids:
        return
    db.session.execute(
        sa.update(Task)
        .where(Task.id.in_(task_ids))
        # Bookkeeping, not a change of the task: the sweeper's clock must not restart.
        .values(cost_usd=TASK_COST, updated_at=Task.updated_at)
        .execution_options(synchronize_session=False)
    )
    for task_id in task_ids:
        task = db.session.identity_map.get(db.session.identity_key(Task, task_id))
        if task is not None:
            db.session.expire(task, ["cost_usd"])


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
    asked again later, up to PRICE_FETCH_MAX_CHECKS times; Twilio unreachable ends the batch
    (the next run tries again)."""
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
        message.price_checks += 1
        message.price_checked_at = now
        try:
            price = backend.fetch_price(message.sid)
        except SmsError as exc:
            log.warning("price of %s not fetched: %s", message.sid, exc)
            if exc.retryable:
                break
            message.price_checks = current_app.config["PRICE_FETCH_MAX_CHECKS"]
            continue
        if _adopt(message, price.amount, price.unit):
            priced += 1
            tasks.add(message.task_id)
    refresh_task_costs(tasks)
    return priced


def _adopt(message: OutboundMessage, amount: Decimal | None, unit: str | None) -> bool:
    """Take Twilio's price (a debit, so negative) in place of the estimate."""
    if amount is None:
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
