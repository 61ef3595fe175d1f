"""Receiving an SMS: normalise the number, dedupe by MessageSid, route keywords and commands,
apply the quota, and store the Task the worker will answer. The caller commits, then enqueues."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from . import keywords
from .extensions import db
from .keywords import Keyword
from .models import BOOKKEEPING_LOCK, Task, TaskStatus, User, utcnow
from .phones import InvalidPhoneNumber, mask, to_e164

log = logging.getLogger("sms_agent.inbound")

#: Twilio's own limit on one (concatenated) SMS body.
MAX_BODY_CHARS = 1600


_SID = re.compile(r"[A-Za-z0-9]{2,64}")


def is_message_sid(value: str) -> bool:
    """Twilio's sids are two letters and 32 hex digits; 2 to 64 letters and digits are let
    through (test credentials and mocks vary), anything else is not from Twilio."""
    return _SID.fullmatch(value) is not None


class BadInbound(ValueError):
    """The webhook form lacks what every Twilio SMS webhook carries."""


@dataclass
class Received:
    """What the caller does after committing: enqueue `task_id`, or send notice `notice`."""

    outcome: str
    phone: str | None = None
    notice: str | None = None
    sid: str | None = None
    task_id: str | None = None


def receive_sms(form: Mapping[str, str]) -> Received:
    """Twilio retries a webhook it got no answer to, so a MessageSid seen before is a
    duplicate: a stored task says so (the insert skips it in the same statement), and so do
    the sids of handled keywords kept on the texter."""
    sid, phone, body, media = _parse(form)
    user = _load_and_lock(phone)
    if user is not None and user.has_seen("handled_sids", sid):
        return Received("duplicate", phone)
    if user is None:
        user = User(phone_number=phone)
        db.session.add(user)
        db.session.flush()  # fills in the column defaults (tier, quota window, active)
    received = _route(user, body, media)
    received.sid = sid
    if received.outcome == "task":
        received.task_id = _store_task(user, sid, body, media)
        if received.task_id is None:
            return Received("duplicate", phone)
    elif _task_exists(sid):
        # A retry of an SMS stored as a task, now routed otherwise (the quota ran out or
        # the texter opted out since): it must change nothing.
        db.session.rollback()
        return Received("duplicate", phone)
    else:
        user.remember_sid("handled_sids", sid)
    log.info("inbound %s from %s: %s", sid, mask(phone), received.outcome)
    return received


def _load_and_lock(phone: str) -> User | None:
    """The texter, locked until the commit: webhooks of one texter take turns, so two of
    them cannot both read service_state and one overwrite the other's handled sid or
    quota notice."""
    return db.session.get(User, phone, with_for_update=BOOKKEEPING_LOCK)


def _parse(form: Mapping[str, str]) -> tuple[str, str, str, int]:
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    if not is_message_sid(sid):
        raise BadInbound("MessageSid is missing or malformed")
    try:
        phone = to_e164(form.get("From") or "", current_app.config["DEFAULT_PHONE_REGION"])
    except InvalidPhoneNumber as exc:
        raise BadInbound(f"From: {exc}") from exc
    # PostgreSQL text cannot hold NUL; keep the rest exactly as received.
    body = (form.get("Body") or "").replace("\x00", "\ufffd")
    if len(body) > MAX_BODY_CHARS:
        raise BadInbound(f"Body is longer than {MAX_BODY_CHARS} characters")
    try:
        media = int(form.get("NumMedia") or 0)
    except ValueError:
        media = 0
    return sid, phone, body, media


def _task_exists(sid: str) -> bool:
    return db.session.scalar(sa.select(Task.id).where(Task.message_sid == sid)) is not None


def _insert_unless_stored() -> sa.Insert:
    """INSERT INTO tasks ... SELECT ... WHERE NOT EXISTS (a task with this MessageSid)
    RETURNING id: the dedupe and the insert in one statement, in SQL both databases speak.
    (The dialects' ON CONFLICT constructs opt out of SQLAlchemy's statement cache and cost a
    fresh compile, about 2 ms, per webhook.) Two deliveries of one SMS that race past the
    NOT EXISTS meet the unique index instead, and the webhook's second pass sees the winner."""
    tasks = Task.__table__
    columns = ["user_phone", "sms_content", "message_sid", "status", "metadata"]
    row = sa.select(*(sa.bindparam(name, type_=tasks.c[name].type) for name in columns))
    unseen = ~sa.exists().where(tasks.c.message_sid == sa.bindparam("message_sid"))
    return sa.insert(tasks).from_select(columns, row.where(unseen)).returning(tasks.c.id)


_INSERT_UNLESS_STORED = _insert_unless_stored()


def _store_task(user: User, sid: str, body: str, media: int) -> str | None:
    """Store the queued task, or nothing when its MessageSid is stored already; its id."""
    task_id = db.session.scalar(
        _INSERT_UNLESS_STORED,
        {
            "user_phone": user.phone_number,
            "sms_content": body,
            "message_sid": sid,
            "status": TaskStatus.QUEUED.value,
            "metadata": {"num_media": media} if media else {},
        },
    )
    return None if task_id is None else str(task_id)


def _route(user: User, body: str, media: int) -> Received:
    phone = user.phone_number
    keyword = keywords.parse(body)
    if keyword is not None:
        return _keyword(user, keyword)
    if not user.is_active:
        return Received("inactive", phone)
    if user.is_opted_out:
        return Received("opted_out", phone)
    if not body.strip():
        return Received("media", phone, notice="media") if media else Received("empty", phone)
    if not user.can_make_request():
        return _over_quota(user)
    return Received("task", phone)


def _keyword(user: User, keyword: Keyword) -> Received:
    """STOP is recorded silently (Twilio answers it itself); the others may get a notice."""
    phone = user.phone_number
    if keyword is Keyword.STOP:
        user.opted_out_at = user.opted_out_at or utcnow()
        return Received("stop", phone)
    if keyword is Keyword.START:
        user.opted_out_at = None
    elif keyword is Keyword.RESET:
        user.context_reset_at = utcnow()
    notice = {Keyword.START: "opt_in", Keyword.HELP: "help", Keyword.RESET: "reset"}.get(
        keyword, "usage"
    )
    if keyword is Keyword.HELP and not current_app.config["HELP_REPLY_ENABLED"]:
        notice = None
    if not user.is_active or user.is_opted_out:
        notice = None
    return Received(str(keyword), phone, notice=notice)


def _over_quota(user: User) -> Received:
    """One quota notice per monthly window, however many messages follow it."""
    window = user.rate_limit_reset.isoformat()
    if user.service_state.get("quota_notice_window") == window:
        return Received("over_quota", user.phone_number)
    user.service_state = {**user.service_state, "quota_notice_window": window}
    return Received("over_quota", user.phone_number, notice="quota")
