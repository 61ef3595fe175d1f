"""Deterministic sample data: users, tasks and errors spread over the last 60 days.

Rows go in with bulk INSERTs (no ORM objects), so 100,000 tasks take seconds, not minutes;
the tasks go in without the rollups' per-row triggers, recounted once at the end. Each
answered task comes with what answering it cost: its model call and the SMS of its answer,
priced as the service prices them (the spend rollups are recounted at the end too); and
each task with what receiving its text cost, at the inbound prices configured, which the
database copies to its charge as it does for the webhook's (models/inbound_charges.py).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from .costs.prices import inbound_price
from .extensions import db
from .models import (
    Category,
    ErrorLog,
    ErrorType,
    ModelCall,
    OutboundMessage,
    Task,
    TaskStatus,
    Tier,
    User,
    first_of_next_month,
    rollups,
    spend_rollups,
    utcnow,
)
from .outbound.gsm import segment_count
from .simulated_senders import TRY_IT_NUMBER, fictional_in_sql

DAYS = 60
CHUNK = 5_000

SAMPLE_MESSAGES = {
    Category.GENERAL: ["What's a good name for a golden retriever?", "How far is the moon?"],
    Category.CODING: ["Write a python function to reverse a list", "SQL query for top 5 sales"],
    Category.DEBUG: ["Why does my code throw KeyError: 'id'?", "TypeError: NoneType not iterable"],
    Category.DESIGN: ["Design a schema for a todo app", "Best architecture for a chat service?"],
    Category.DOCUMENTATION: ["Write a docstring for my sort function", "Draft a README intro"],
    Category.ANALYSIS: ["Compare Postgres and MySQL for analytics", "Summarise pros and cons"],
}
CATEGORY_WEIGHTS = [30, 25, 15, 10, 8, 12]
TIER_WEIGHTS = [80, 17, 3]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton"]
TIMEZONES = ["UTC", "America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo"]


#: US area codes whose 555-0100 to 555-0199 phonenumbers takes for valid numbers. Those are
#: set aside for fiction: they ring no phone, and Twilio, unlike with +1 555 (no area code),
#: sends to them, so a demo texter's answer goes out as a real texter's would.
DEMO_AREA_CODES = (
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 220 223 224 225 227 "
    "228 229 231 234 235 239 240 248 251 252 253 254 256 260 262 267 269 270 272 274 276 279 "
    "281 283 301 302 303 304 305 307 308 309 310 312 313 314 315 316 317 318 319 320 321 323 "
    "324 325 326 327 329 330 331 332 334 336 337 339 341 346 347 350 351 352 353 360 361 363 "
    "364 369 380 385 386 401 402 404 405 406 407 408"
).split()

#: How many numbers demo_phone makes: a hundred in each area code.
DEMO_NUMBERS = 100 * len(DEMO_AREA_CODES)


def demo_phone(index: int) -> str:
    return f"+1{DEMO_AREA_CODES[index // 100]}55501{index % 100:02d}"


#: Who made the demo's texters, as simulated_senders marks a test number's texter: staff
#: may write as them (`flask sms simulate --from`, Try it), no real person having their number.
SEEDED_BY = {TRY_IT_NUMBER: "flask demo seed"}


def real_texters() -> int:
    """Texters whose numbers ring a phone: a database with any is the service's own (or a
    copy), where made-up tasks and spend would mix with the real ones. One seeded before,
    with +1 555 numbers, is a demo's."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(sa.not_(fictional_in_sql(User.phone_number)))
    )


def seed(*, users: int, tasks: int, errors: int, random_seed: int = 42) -> dict[str, int]:
    """Insert the rows and return how many of each were added (the caller commits)."""
    rng = random.Random(random_seed)
    now = utcnow()
    phones = [demo_phone(i) for i in range(users)]
    existing = set(
        db.session.scalars(sa.select(User.phone_number).where(User.phone_number.in_(phones)))
    )
    user_rows = [_user_row(rng, phone, now) for phone in phones if phone not in existing]
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    activity: dict[str, list] = {phone: [0, 0, None] for phone in phones}
    task_ids: list[uuid.UUID] = []

    _insert(User, user_rows)
    connection = db.session.connection()
    received = _received_prices()
    with rollups.rebuilt_after(connection), spend_rollups.rebuilt_after(connection):
        for start in range(0, tasks, CHUNK):
            count = min(CHUNK, tasks - start)
            rows = [_task_row(rng, rng.choice(phones), now, received) for _ in range(count)]
            answered = [row for row in rows if row["success"]]
            for row in answered:
                _count(activity[row["user_phone"]], row["completed_at"], month_start)
            task_ids.extend(row["id"] for row in rows[:100])
            _insert(Task, rows)
            _insert(ModelCall, [_model_call_row(rng, row) for row in answered])
            _insert(OutboundMessage, [_answer_sms_row(rng, row) for row in answered])
    _insert(ErrorLog, [_error_row(rng, phones, task_ids, now) for _ in range(errors)])
    _record_activity(activity, now)
    return {"users": len(user_rows), "tasks": tasks, "errors": errors}


def _count(counted: list, completed_at: datetime, month_start: datetime) -> None:
    counted[0] += 1
    counted[1] += completed_at >= month_start
    counted[2] = max(counted[2], completed_at) if counted[2] else completed_at


def _insert(model, rows: list[dict]) -> None:
    """Every row names every column, so a None is a NULL: render_nulls keeps the rows alike,
    and alike rows go in multi-row batches (without it the ORM drops None values to let
    defaults fire, and each run of rows with other Nones becomes a statement of its own)."""
    if rows:
        db.session.execute(sa.insert(model).execution_options(render_nulls=True), rows)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _moment(rng: random.Random, now: datetime) -> datetime:
    return now - timedelta(seconds=rng.uniform(0, DAYS * 86400))


def _user_row(rng: random.Random, phone: str, now: datetime) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    timezone = rng.choice(TIMEZONES)
    return {
        "phone_number": phone,
        "tier": rng.choices(Tier.values(), TIER_WEIGHTS)[0],
        "email": f"{first}.{last}{phone[-4:]}@example.com".lower(),
        "full_name": f"{first} {last}",
        "timezone": timezone,
        "preferences": {},
        "service_state": SEEDED_BY,
        "is_active": rng.random() > 0.05,
        "total_requests": 0,
        "monthly_requests": 0,
        "rate_limit_reset": first_of_next_month(now, timezone),
        "last_active": now - timedelta(days=DAYS),
        "created_at": now - timedelta(days=DAYS, seconds=rng.uniform(0, 86400 * 30)),
        "updated_at": now,
    }


def _received_prices() -> dict[str, Decimal | None]:
    """What Twilio bills to receive each sample text as an SMS (None: free, no charge)."""
    return {
        text: inbound_price(False, 0, segment_count(text)) or None
        for texts in SAMPLE_MESSAGES.values()
        for text in texts
    }


def _task_row(
    rng: random.Random, phone: str, now: datetime, received: dict[str, Decimal | None]
) -> dict:
    category = rng.choices(Category.values(), CATEGORY_WEIGHTS)[0]
    created = _moment(rng, now)
    roll = rng.random()
    status = TaskStatus.COMPLETED if roll < 0.88 else TaskStatus.FAILED
    if created > now - timedelta(minutes=2) and roll > 0.5:
        status = TaskStatus.QUEUED
    processing = round(rng.uniform(0.4, 6.0), 3)
    done = status in (TaskStatus.COMPLETED, TaskStatus.FAILED)
    success = status == TaskStatus.COMPLETED
    row = {
        "id": _uuid(rng),
        "user_phone": phone,
        "sms_content": rng.choice(SAMPLE_MESSAGES[Category(category)]),
        "ai_response": "Here is a short answer that fits in an SMS." if success else None,
        "category": category,
        "status": status.value,
        "processing_time": processing if done else None,
        "tokens_used": rng.randint(40, 900) if success else None,
        "complexity_score": round(rng.random(), 3),
        "success": success,
        "error_message": "The AI provider timed out." if status == TaskStatus.FAILED else None,
        "completed_at": created + timedelta(seconds=processing) if done else None,
        "metadata": {"demo": True},
        "cost_usd": SAMPLE_CALL_USD + SAMPLE_SMS_USD if success else Decimal(0),
        "sms_cost_usd": SAMPLE_SMS_USD if success else Decimal(0),
        "created_at": created,
        "updated_at": created + timedelta(seconds=processing),
    }
    # Its cost counts receiving it too, written here: the ledgers' triggers that would add
    # the charge to it are off while loading.
    row["inbound_price_usd"] = price = received[row["sms_content"]]
    row["cost_usd"] += price or 0
    row["sms_cost_usd"] += price or 0
    return row


#: What the sample answers cost: a gpt-4o-mini call of a few hundred tokens, one US segment.
SAMPLE_CALL_USD = Decimal("0.000210")
SAMPLE_SMS_USD = Decimal("0.007900")


def _model_call_row(rng: random.Random, task: dict) -> dict:
    return {
        "id": _uuid(rng),
        "task_id": task["id"],
        "user_phone": task["user_phone"],
        "model": "gpt-4o-mini",
        "prompt_tokens": task["tokens_used"] // 2,
        "completion_tokens": task["tokens_used"] - task["tokens_used"] // 2,
        "cost_usd": SAMPLE_CALL_USD,
        "priced": True,
        "created_at": task["completed_at"],
    }


def _answer_sms_row(rng: random.Random, task: dict) -> dict:
    return {
        "id": _uuid(rng),
        "task_id": task["id"],
        "to_number": task["user_phone"],
        "body": task["ai_response"],
        "kind": "reply",
        "staff_user_id": None,
        "part": 1,
        "parts": 1,
        "sid": "SM" + _uuid(rng).hex,
        "channel": "sms",
        "encoding": "GSM-7",
        "segments": 1,
        "status": "delivered",
        "error_code": None,
        "error_message": None,
        "price_usd": SAMPLE_SMS_USD,
        "price_estimated": False,
        "price_unit": "USD",
        "price_checks": 1,
        "price_checked_at": task["completed_at"],
        "created_at": task["completed_at"],
        "updated_at": task["completed_at"],
    }


def _error_row(rng: random.Random, phones: list[str], task_ids: list, now: datetime) -> dict:
    error_type = rng.choice(ErrorType.values())
    resolved = rng.random() < 0.4
    return {
        "id": _uuid(rng),
        "user_phone": rng.choice(phones) if phones else None,
        "task_id": rng.choice(task_ids) if task_ids and rng.random() < 0.5 else None,
        "error_type": error_type,
        "error_message": f"Demo {error_type.replace('_', ' ')}",
        "stack_trace": "",
        "timestamp": _moment(rng, now),
        "resolved": resolved,
        "resolution_notes": "Handled in the demo." if resolved else "",
        "metadata": {"demo": True},
    }


def _record_activity(activity: dict[str, list], now: datetime) -> None:
    """Users' counters agree with the tasks just inserted, as if each had been answered."""
    rows = [
        {
            "phone_number": phone,
            "total_requests": total,
            "monthly_requests": monthly,
            "last_active": last,
            "updated_at": now,
        }
        for phone, (total, monthly, last) in activity.items()
        if total
    ]
    if rows:
        db.session.execute(sa.update(User), rows)
