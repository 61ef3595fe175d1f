"""Conversation context: the texter's recent exchanges, sent to the model before a new question."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import Task, TaskStatus, User, utcnow


def _recent() -> sa.Select:
    """The query of `recent_exchanges`, built once with bind parameters (a job runs it
    for every model call, and SQLAlchemy then reuses its cache key and compiled form)."""
    when = Task.created_at.type
    return (
        sa.select(Task.sms_content, Task.ai_response, Task.metadata_)
        .where(
            Task.user_phone == sa.bindparam("phone"),
            Task.id != sa.bindparam("current", type_=Task.id.type),
            Task.status == TaskStatus.COMPLETED.value,
            Task.created_at >= sa.bindparam("since", type_=when),
            Task.created_at <= sa.bindparam("until", type_=when),
            Task.ai_response.is_not(None),
        )
        .order_by(Task.created_at.desc())
        .limit(sa.bindparam("turns", type_=sa.Integer))
    )


_RECENT = _recent()


def recent_exchanges(user: User, current: Task) -> list[sa.Row]:
    """The question and answer of the last CONTEXT_TURNS answered tasks within
    CONTEXT_HOURS, oldest first (rows of three columns, not whole tasks: a job reads them
    for every model call).

    RESET (user.context_reset_at) starts a new conversation, and offline notices are left
    out because they are not answers the model should build on.
    """
    turns = current_app.config["CONTEXT_TURNS"]
    if turns <= 0:
        return []
    since = utcnow() - timedelta(hours=current_app.config["CONTEXT_HOURS"])
    if user.context_reset_at and user.context_reset_at > since:
        since = user.context_reset_at
    rows = db.session.execute(
        _RECENT,
        {
            "phone": user.phone_number,
            "current": current.id,
            "since": since,
            "until": current.created_at,
            "turns": turns,
        },
    )
    return list(reversed([row for row in rows if not (row.metadata_ or {}).get("offline")]))


def history_messages(user: User, current: Task) -> list[dict]:
    """The exchanges as the texter saw them: an answer is the text actually sent (shaped,
    cut to the tier, with the parts MORE fetched), not the model's raw answer, so the model
    never builds on something the texter did not read. Answers from before that was
    recorded fall back to the raw answer."""
    messages = []
    for task in recent_exchanges(user, current):
        meta = task.metadata_ or {}
        sent = meta.get("sent") or task.ai_response
        # A voice note's question is its transcript; a picture's, the question asked about it.
        messages.append({"role": "user", "content": meta.get("question") or task.sms_content})
        messages.append({"role": "assistant", "content": sent})
    return messages
