"""Conversation context: the texter's recent exchanges, sent to the model before a new question."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

import sqlalchemy as sa

from ..current import app_config
from ..extensions import db
from ..models import OutboundMessage, RefusalReason, Task, TaskStatus, User, utcnow, written_in
from ..models.cache_keys import hashed_once

#: How recent a texter's earlier text still being answered must be to be context for the
#: next: texts sent in quick succession ("What is the capital of France?", then "And its
#: population?") are answered at once by different worker threads, so the second is asked
#: with the first's words, not its answer.
UNANSWERED_SECONDS = 60

_UNANSWERED = written_in((TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value))

#: How long before a RESET arrived an answer may have finished and still not have reached
#: the texter when they sent it: an SMS takes seconds to reach a phone, and reading an
#: answer, then texting RESET about it, takes longer than this.
CROSSED_RESET = timedelta(seconds=30)


def told_after_reset(reset, crossed) -> sa.ColumnElement[bool]:
    """Whether a task's answer reached the texter after their RESET (`reset`; `crossed`:
    CROSSED_RESET before it): asked after it, or asked just before it and answered after it
    or a moment before it, on its way to the phone. That answer came beside "I've forgotten
    our conversation", "(Reply MORE)" under it: MORE continues it, and a follow-up is asked
    with it."""
    return sa.or_(Task.created_at > reset, Task.completed_at > crossed)


#: Where a task's metadata keeps the message its text replies to (inbound/quoted.py).
QUOTED = "replying_to"
#: In a quoted picture of the texter's, what we answered about it (the model sees the
#: picture no more).
ANSWERED = "answered"

#: Outbound kinds staff write; every other kind but the model's is the service's own.
STAFF_KINDS = frozenset({"staff", "api"})

#: What a row of `recent_exchanges` is: an exchange with the model, a text held for staff,
#: or a staff member's SMS to the texter.
EXCHANGE, HELD, STAFF_REPLY = "exchange", "held", "staff"
#: How a staff member's SMS is put to the model: as said by a person, not by the model.
STAFF_SAID = "(A person from our team replied:)"


def _recent() -> sa.CompoundSelect:
    """The query of `recent_exchanges`, built once with bind parameters (a job runs it
    for every model call, and SQLAlchemy then reuses its cache key and compiled form):
    the last answered tasks and, apart, the last ones still being answered, each up to
    `turns`, so a burst of texts takes no answered exchange's place."""
    when = Task.created_at.type
    answered = sa.and_(Task.status == TaskStatus.COMPLETED.value, Task.ai_response.is_not(None))
    in_flight = sa.and_(
        Task.status.in_(_UNANSWERED), Task.created_at >= sa.bindparam("in_flight", type_=when)
    )
    held = sa.and_(
        Task.status == TaskStatus.REFUSED.value,
        Task.refusal_reason == RefusalReason.HELD_FOR_STAFF.value,
    )
    turns = sa.bindparam("turns", type_=sa.Integer)
    since_reset = Task.created_at >= sa.bindparam("since", type_=when)

    def latest(kind: str, since: sa.ColumnElement[bool] = since_reset) -> sa.Select:
        return (
            sa.select(
                Task.sms_content,
                Task.ai_response,
                Task.metadata_,
                Task.created_at,
                sa.literal(kind).label("kind"),
            )
            .where(
                Task.user_phone == sa.bindparam("phone"),
                Task.id != sa.bindparam("current", type_=Task.id.type),
                since,
                Task.created_at <= sa.bindparam("until", type_=when),
            )
            .order_by(Task.created_at.desc())
            .limit(turns)
        )

    staff = (
        sa.select(
            sa.cast(sa.null(), Task.sms_content.type).label("sms_content"),
            OutboundMessage.body.label("ai_response"),
            sa.cast(sa.null(), Task.metadata_.type).label("metadata"),
            OutboundMessage.created_at,
            sa.literal(STAFF_REPLY).label("kind"),
        )
        .where(
            OutboundMessage.to_number == sa.bindparam("phone"),
            OutboundMessage.kind.in_(written_in(sorted(STAFF_KINDS))),
            OutboundMessage.created_at >= sa.bindparam("since", type_=when),
            OutboundMessage.created_at <= sa.bindparam("until", type_=when),
        )
        .order_by(OutboundMessage.created_at.desc())
        .limit(turns)
    )
    told = sa.and_(
        Task.created_at >= sa.bindparam("window", type_=when),
        told_after_reset(sa.bindparam("since", type_=when), sa.bindparam("crossed", type_=when)),
    )
    # Each part in a subquery of its own: SQLite allows no ORDER BY or LIMIT on the parts
    # of a UNION otherwise.
    return sa.union_all(
        sa.select(latest(EXCHANGE, told).where(answered).subquery()),
        sa.select(latest(EXCHANGE).where(in_flight).subquery()),
        sa.select(latest(HELD).where(held).subquery()),
        sa.select(staff.subquery()),
    )


_RECENT = hashed_once(_recent())


def recent_exchanges(user: User, current: Task) -> list[sa.Row]:
    """The question and answer of the last CONTEXT_TURNS answered tasks within
    CONTEXT_HOURS, oldest first (rows of a few columns, not whole tasks: a job reads them
    for every model call); among them, up to CONTEXT_TURNS more: the texter's texts of the
    last UNANSWERED_SECONDS still being answered (by another thread, or their answer
    waiting for its sending slot), whose `ai_response` may be None yet; and up to
    CONTEXT_TURNS each of the texts held for staff and of staff's SMS to the texter (its
    `ai_response`), so that after staff hand the conversation back the model knows what
    was said meanwhile. Each row's `kind` says which it is.

    RESET (user.context_reset_at) starts a new conversation, but for the answers that
    crossed it (told_after_reset), and offline notices are left out because they are not
    answers the model should build on.
    """
    config = app_config()
    turns = config["CONTEXT_TURNS"]
    if turns <= 0:
        return []
    window = since = utcnow() - timedelta(hours=config["CONTEXT_HOURS"])
    if user.context_reset_at and user.context_reset_at > since:
        since = user.context_reset_at
    rows = db.session.execute(
        _RECENT,
        {
            "phone": user.phone_number,
            "current": current.id,
            "since": since,
            "window": window,
            "crossed": since - CROSSED_RESET if since > window else since,
            "until": current.created_at,
            "in_flight": current.created_at - timedelta(seconds=UNANSWERED_SECONDS),
            "turns": turns,
        },
    )
    kept = [row for row in rows if not (row.metadata_ or {}).get("offline")]
    return sorted(kept, key=lambda row: row.created_at)


class Context(NamedTuple):
    """What the model is told before a question: the exchanges as chat messages, and the
    texter's texts just before it that have no answer yet."""

    messages: list[dict]
    unanswered: list[str]


def history_messages(user: User, current: Task) -> Context:
    """The exchanges as the texter saw them: an answer is the text actually sent (shaped,
    cut to the tier, with the parts MORE fetched), not the model's raw answer, so the model
    never builds on something the texter did not read. Answers from before that was
    recorded fall back to the raw answer."""
    messages, unanswered, previous = [], [], None
    for task in recent_exchanges(user, current):
        kind, after_staff, previous = task.kind, previous == STAFF_REPLY, task.kind
        if kind == STAFF_REPLY:
            # A reply sent in parts is said to be staff's once.
            said = "" if after_staff else f"{STAFF_SAID} "
            _add(messages, "assistant", said + task.ai_response)
            continue
        meta = task.metadata_ or {}
        # A voice note's question is its transcript; a picture's, the question asked about it.
        asked = meta.get("question") or task.sms_content
        sent = meta.get("sent") or task.ai_response
        if kind == HELD:
            if asked:
                _add(messages, "user", asked)
        elif sent is not None:
            _add(messages, "user", asked)
            _add(messages, "assistant", sent)
        elif asked:
            unanswered.append(asked)
    return Context(_alternating(messages), unanswered)


def _alternating(messages: list[dict]) -> list[dict]:
    """The turns starting with the texter's and ending with ours, as chat templates that
    want turns to alternate require (the question follows): a conversation staff began, or
    texts held for staff that got no reply."""
    if messages and messages[0]["role"] == "assistant":
        messages.insert(0, {"role": "user", "content": "(A person from our team texted me.)"})
    if messages and messages[-1]["role"] == "user":
        messages.append({"role": "assistant", "content": "(No reply was sent.)"})
    return messages


def _add(messages: list[dict], role: str, content: str) -> None:
    """A turn, or more of the last one when it is the same role's: texts held for staff in
    a row, or a staff reply sent in parts, are one turn (many servers' chat templates refuse
    two turns of one role in a row)."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"] += f"\n{content}"
    else:
        messages.append({"role": role, "content": content})


def with_quote(question: str, task: Task) -> str:
    """The question after the message of the thread it replies to (a WhatsApp reply), ours
    ("your message", as the texter says it to the model) or the texter's own."""
    return quote_of(task.metadata_ or {}) + question


def quote_of(metadata: dict) -> str:
    """What `with_quote` puts before the question of a task with this metadata ("" for a
    text that replies to none)."""
    quoted = metadata.get(QUOTED)
    if not quoted:
        return ""
    whose = "your" if quoted.get("ours") else "my"
    answered = f', which you answered: "{quoted[ANSWERED]}"' if quoted.get(ANSWERED) else ""
    return f'(In reply to {whose} message: "{quoted["text"]}"{answered})\n\n'


def with_unanswered(question: str, unanswered: list[str]) -> str:
    """The question as the model is asked it, after the texter's texts just before it that
    are being answered apart. They go in the same message, not as turns of their own: many
    servers' chat templates refuse two user turns in a row."""
    if not unanswered:
        return question
    earlier = "\n".join(f'"{text}"' for text in unanswered)
    return f"(Texted just before, answered separately:\n{earlier})\n\n{question}"
