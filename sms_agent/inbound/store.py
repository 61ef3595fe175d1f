"""Storing an SMS as a task, unless its MessageSid is stored already: queued when it was
admitted, refused (with the reason) when it was not."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import RefusalReason, Task, TaskStatus, User


def task_exists(sid: str) -> bool:
    return db.session.scalar(sa.select(Task.id).where(Task.message_sid == sid)) is not None


def _insert_unless_stored() -> sa.Insert:
    """INSERT INTO tasks ... SELECT ... WHERE NOT EXISTS (a task with this MessageSid)
    RETURNING id: the dedupe and the insert in one statement, in SQL both databases speak.
    (The dialects' ON CONFLICT constructs opt out of SQLAlchemy's statement cache and cost a
    fresh compile, about 2 ms, per webhook.) Two deliveries of one SMS that race past the
    NOT EXISTS meet the unique index instead, and the webhook's second pass sees the winner."""
    tasks = Task.__table__
    columns = [
        "user_phone",
        "sms_content",
        "message_sid",
        "status",
        "metadata",
        "quota_window",
        "refusal_reason",
    ]
    row = sa.select(*(sa.bindparam(name, type_=tasks.c[name].type) for name in columns))
    unseen = ~sa.exists().where(tasks.c.message_sid == sa.bindparam("message_sid"))
    return sa.insert(tasks).from_select(columns, row.where(unseen)).returning(tasks.c.id)


_INSERT_UNLESS_STORED = _insert_unless_stored()


def store_task(
    user: User,
    sid: str,
    body: str,
    media: dict,
    window: datetime | None,
    refusal: RefusalReason | None = None,
) -> str | None:
    """Store the task, or nothing when its MessageSid is stored already; its id. A refused
    one is stored for staff to see, with no quota window: it was never counted. `media` is
    the attachments' record (num_media and each item's type and URL) for the metadata."""
    task_id = db.session.scalar(
        _INSERT_UNLESS_STORED,
        {
            "user_phone": user.phone_number,
            "sms_content": body,
            "message_sid": sid,
            "status": (TaskStatus.REFUSED if refusal else TaskStatus.QUEUED).value,
            "metadata": media,
            "quota_window": None if refusal else window,
            "refusal_reason": refusal.value if refusal else None,
        },
    )
    return None if task_id is None else str(task_id)
