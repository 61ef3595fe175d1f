"""A texter: one phone number, its tier and its monthly quota window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import ObjectDeletedError

from ..clean_text import is_blank
from ..extensions import db
from ..phones import to_e164
from .cache_keys import hashed_once
from .choices import Channel, ConversationState, Tier, check_choice
from .types import (
    JSONObject,
    UTCDateTime,
    check_json_object,
    check_timezone,
    first_of_next_month,
    utcnow,
)

if TYPE_CHECKING:
    from .tasks import Task


#: How many recent MessageSids each list in User.service_state keeps.
REMEMBERED_SIDS = 20

#: The key in User.service_state of the MessageSid of the texter's latest STOP or START.
LATEST_OPT_CHANGE = "latest_opt_change"
#: When it was received (ISO 8601, UTC): a voice note's STOP, heard only once transcribed,
#: must not undo a STOP or START the texter typed after it.
LATEST_OPT_CHANGE_AT = "latest_opt_change_at"
#: The language of the words of that STOP or START, when not English (keywords.language).
OPT_CHANGE_LANGUAGE = "opt_change_language"
#: The language of the texter's latest HELP (AIDE, AYUDA), when not English.
HELP_LANGUAGE = "help_language"
#: The MORE texts admitted whose part is not taken yet, as [MessageSid, when (ISO 8601)].
MORE_ASKED = "more_asked"
#: How long a MORE's part counts as still to be sent (a job lost with the broker and never
#: swept frees the caps after this), as an answer under way counts (costs.report).
MORE_PART_PENDING_FOR = timedelta(days=1)

#: The row lock taken before a read-modify-write of User.service_state (with_for_update):
#: PostgreSQL's FOR NO KEY UPDATE, so writers of one texter take turns and none overwrites
#: another's sids, while other transactions may still insert rows that reference the texter.
BOOKKEEPING_LOCK = {"key_share": True}


def take_sqlite_write_lock() -> None:
    """SQLite has no row locks and reads outside a write transaction, so two webhooks could
    both read service_state before either writes. Starting the transaction with BEGIN
    IMMEDIATE takes SQLite's single write lock first: they take turns, as on PostgreSQL."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def lock_texter(phone: str) -> User | None:
    """The texter, locked until the commit, for a read-modify-write of its bookkeeping.
    (Like Session.get with_for_update, which builds its statement afresh on every call.)"""
    take_sqlite_write_lock()
    session = db.session()
    # With nothing in the session yet (a webhook's first read), nothing can be stale: the
    # ORM's populate_existing, which costs 29,000 instructions, has nothing to do.
    statement = _LOCKED_TEXTER if session.identity_map else _LOCKED_NEW_TEXTER
    return session.scalars(statement, {"phone": phone}).first()


def lock_texters(phones: list[str]) -> list[User]:
    """The texters, each locked until the commit as `lock_texter` locks one, in number
    order: two changes of the same texters (a bulk action clicked twice) take turns, never
    wait for each other in a deadlock, and the second reads what the first wrote."""
    take_sqlite_write_lock()
    statement = (
        sa.select(User)
        .where(User.phone_number.in_(phones))
        .order_by(User.phone_number)
        .with_for_update(**BOOKKEEPING_LOCK)
        .execution_options(populate_existing=True)
    )
    return list(db.session.scalars(statement))


def texter_of(task) -> User:
    """The texter a task is from, read with a statement built once: task.user's lazy load
    builds its own on every call, and a worker reads one for every job. The relationship
    then finds it in the session without a query."""
    user = db.session.identity_map.get(db.session.identity_key(User, task.user_phone))
    if user is None:
        user = db.session.scalars(_TEXTER, {"phone": task.user_phone}).one()
    return user


def relock_bookkeeping(user: User) -> None:
    """Read `user.service_state` again under the same lock `lock_texter` takes."""
    take_sqlite_write_lock()
    _reread(user, "service_state", _LOCKED_SERVICE_STATE)


def relock_tier(user: User) -> None:
    """Read `user.tier` again under the same lock `lock_texter` takes, for a tier change:
    two at once take turns, and the second finds the tier the first committed."""
    take_sqlite_write_lock()
    _reread(user, "tier", _LOCKED_TIER)


def reread_opt_out(user: User) -> None:
    """Read `user.opted_out_at` again: a STOP may have been committed since it was loaded.
    Who answers (`conversation_state`) comes with it in the same statement, since staff may
    have taken the conversation over meanwhile."""
    row = db.session.execute(_OPTED_OUT_AT, {"phone": user.phone_number}).one()
    attributes = sa.inspect(user).attrs
    for name in ("opted_out_at", "conversation_state"):
        # A change this session made and has not flushed yet (the model asking for a person
        # sets the state) is newer than the row; a Core SELECT does not autoflush it.
        if not attributes[name].history.has_changes():
            set_committed_value(user, name, getattr(row, name))


def _reread(user: User, attribute: str, statement: sa.Select) -> None:
    """Session.refresh of one column, with a statement built once (see the end of this
    module) instead of on every call; the row's other attributes are left as they are.
    A texter deleted meanwhile raises ObjectDeletedError, as Session.refresh would (the API
    answers it with a 404)."""
    row = db.session.execute(statement, {"phone": user.phone_number}).one_or_none()
    if row is None:
        raise ObjectDeletedError(sa.inspect(user))
    set_committed_value(user, attribute, row[0])


def _next_reset(context) -> datetime:
    """The end of a new texter's first window: midnight on the first of next month in their
    timezone, when they are created with one (by staff or the API), as every later window
    ends; at UTC midnight, a New York texter's quota reset at 19:00 on the last day.
    Without a statement (the admin's Create form shows the default), in UTC."""
    timezone_name = context.get_current_parameters().get("timezone") if context else None
    return first_of_next_month(utcnow(), timezone_name or "UTC")


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        sa.Index("ix_users_tier_is_active", "tier", "is_active"),
        sa.Index("ix_users_last_active", "last_active"),
        sa.Index("ix_users_created_at", "created_at"),
        sa.Index("ix_users_conversation_state", "conversation_state"),
        sa.Index(
            "ix_users_more_asked_at",
            "more_asked_at",
            postgresql_where=sa.text("more_asked_at IS NOT NULL"),
            sqlite_where=sa.text("more_asked_at IS NOT NULL"),
        ),
    )

    phone_number: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    tier: Mapped[str] = mapped_column(sa.String(20), default=Tier.FREE.value, active_history=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    full_name: Mapped[str] = mapped_column(sa.String(100), default="")
    #: When the texter's latest request was taken up (their first text of any kind until
    #: then); None for one staff or the API added who has not texted yet, whom no count of
    #: active texters includes.
    last_active: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_requests: Mapped[int] = mapped_column(default=0)
    monthly_requests: Mapped[int] = mapped_column(default=0)
    rate_limit_reset: Mapped[datetime] = mapped_column(UTCDateTime, default=_next_reset)
    #: When the running quota window started (the admission that rolled it, a reset, an
    #: upgrade): what tells one window from the next, since a reset within the month starts
    #: one that ends when the old one did, and a new timezone moves the end (quota.py).
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    timezone: Mapped[str] = mapped_column(sa.String(50), default="UTC")
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONObject, default=dict)
    #: The service's own bookkeeping (handled keyword sids, notices sent, quota notice
    #: window), apart from `preferences` so no API client or admin edit can erase it and
    #: make a Twilio retry answer twice.
    service_state: Mapped[dict[str, Any]] = mapped_column(
        JSONObject, default=dict, server_default=sa.text("'{}'")
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    context_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Who answers this texter: the AI, nobody yet (a person was asked for), or staff. Kept
    #: on this row, which the webhook locks anyway; the details are in Conversation.
    conversation_state: Mapped[str] = mapped_column(
        sa.String(10),
        default=ConversationState.AI.value,
        server_default=ConversationState.AI.value,
        active_history=True,
    )
    #: The channel the texter last wrote on (sms or whatsapp); answers go back on it.
    channel: Mapped[str] = mapped_column(
        sa.String(10), default=Channel.SMS.value, server_default=Channel.SMS.value
    )
    #: When the texter last wrote on WhatsApp (any text, keywords too): WhatsApp lets a
    #: business write only within 24 hours of it (outbound/channels.py).
    last_whatsapp_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the texter's latest MORE whose part is still to be sent was admitted (NULL when
    #: none is; the MOREs themselves are in service_state): how the daily cap finds every
    #: texter's parts to be sent, not only those of the texter it admits.
    more_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tasks: Mapped[list[Task]] = relationship(
        back_populates="user",
        order_by="Task.created_at.desc()",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<User {self.phone_number} ({self.tier})>"

    @validates("phone_number")
    def _validate_phone(self, _key: str, value: str) -> str:
        return to_e164(value)

    @validates("tier")
    def _validate_tier(self, _key: str, value: str) -> str:
        return check_choice(Tier, "tier", value)

    @validates("preferences", "service_state")
    def _validate_json_object(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return check_json_object(key, value)

    @validates("conversation_state")
    def _validate_conversation_state(self, _key: str, value: str) -> str:
        return check_choice(ConversationState, "conversation_state", value)

    @validates("channel")
    def _validate_channel(self, _key: str, value: str) -> str:
        return check_choice(Channel, "channel", value)

    @validates("full_name")
    def _validate_full_name(self, _key: str, value: str | None) -> str:
        """A name without the spaces around it; one of only spaces or invisible characters
        is no name, whoever gives it (staff's form, the API): the lists showed a blank."""
        return "" if value is None or is_blank(value) else value.strip()

    @validates("timezone")
    def _validate_timezone(self, _key: str, value: str) -> str:
        return check_timezone(value)

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None

    def opt_out(self) -> None:
        """Opt the texter out, keeping the time of an opt-out already made: a second STOP,
        Twilio's 21610 or a voice note's STOP changes nothing an earlier one set."""
        self.opted_out_at = self.opted_out_at or utcnow()

    def has_seen(self, key: str, sid: str) -> bool:
        return sid in self.service_state.get(key, [])

    def remember_sid(self, key: str, sid: str) -> bool:
        """Add an id to the bounded list `key` of service_state, False when it was already
        there: the inbound MessageSids notices and MORE were sent for, so a job Celery
        delivers twice sends once (staff forms' keys are kept in sent_submissions)."""
        if self.has_seen(key, sid):
            return False
        kept = list(self.service_state.get(key, []))[-(REMEMBERED_SIDS - 1) :]
        self.service_state = {**self.service_state, key: [*kept, sid]}
        return True

    def note_more_asked(self, sid: str) -> None:
        """A MORE admitted: its part is to be sent, and may cost an answer's SMS until then
        (more_parts_pending)."""
        kept = list(self.service_state.get(MORE_ASKED, []))[-(REMEMBERED_SIDS - 1) :]
        now = utcnow()
        asked = [*kept, [sid, now.isoformat()]]
        self.service_state = {**self.service_state, MORE_ASKED: asked}
        self.more_asked_at = now

    def note_more_taken(self, sid: str) -> None:
        """The part a MORE asked for is taken to be sent: its price counts from now on."""
        asked = self.service_state.get(MORE_ASKED)
        if asked:
            left = [entry for entry in asked if entry[0] != sid]
            self.service_state = {**self.service_state, MORE_ASKED: left}
            latest = max((datetime.fromisoformat(at) for _sid, at in left), default=None)
            if self.more_asked_at != latest:
                self.more_asked_at = latest

    def more_parts_pending(self, now: datetime) -> int:
        """How many MOREs were admitted whose part no job has taken yet: what the spend
        caps count besides the ledgers, since several MOREs in quick succession each found
        room for one part before any was sent."""
        since = now - MORE_PART_PENDING_FOR
        asked = self.service_state.get(MORE_ASKED) or []
        return sum(1 for _sid, at in asked if datetime.fromisoformat(at) > since)

    def note_opt_change(self, sid: str, language: str | None = None) -> None:
        """Record a STOP or START (`sid`) as the texter's latest: of a burst of them, only
        the last is confirmed (is_latest_opt_change), in the `language` it was said in."""
        state = {k: v for k, v in self.service_state.items() if k != OPT_CHANGE_LANGUAGE}
        said_in = {OPT_CHANGE_LANGUAGE: language} if language else {}
        at = utcnow().isoformat()
        self.service_state = {**state, LATEST_OPT_CHANGE: sid, LATEST_OPT_CHANGE_AT: at, **said_in}

    def opt_changed_since(self, moment: datetime) -> bool:
        """Whether the texter's latest STOP or START came after `moment`: what they said
        last stands over anything older that is only now understood."""
        at = self.service_state.get(LATEST_OPT_CHANGE_AT)
        return at is not None and datetime.fromisoformat(at) > moment

    def note_help_language(self, language: str | None) -> None:
        """Record the language the texter writes in ("fr" for AIDE, or a question in
        French), which the notices that answer no text of theirs are written in; English,
        the default, is not recorded (nor the row written again)."""
        if self.service_state.get(HELP_LANGUAGE) == language:
            return
        state = {k: v for k, v in self.service_state.items() if k != HELP_LANGUAGE}
        self.service_state = {**state, **({HELP_LANGUAGE: language} if language else {})}

    @property
    def help_language(self) -> str | None:
        return self.service_state.get(HELP_LANGUAGE)

    @property
    def opt_change_language(self) -> str | None:
        """The language of the texter's latest STOP or START ("fr", "es"), None for English."""
        return self.service_state.get(OPT_CHANGE_LANGUAGE)

    def is_latest_opt_change(self, sid: str) -> bool:
        """Whether `sid` is the texter's latest STOP or START (any, before the first was
        recorded): a confirmation of an earlier one would say what is no longer true, or
        say twice what the latest one's says."""
        return self.service_state.get(LATEST_OPT_CHANGE, sid) == sid

    # The design document's UserManager, as query builders that callers can refine.
    @classmethod
    def active(cls) -> sa.Select:
        return sa.select(cls).where(cls.is_active.is_(True))

    @classmethod
    def by_tier(cls, tier: str) -> sa.Select:
        return cls.active().where(cls.tier == tier)

    @classmethod
    def active_recently(cls, days: int = 7) -> sa.Select:
        return cls.active().where(cls.last_active >= utcnow() - timedelta(days=days))

    @classmethod
    def premium(cls) -> sa.Select:
        return cls.active().where(cls.tier.in_([Tier.PREMIUM.value, Tier.ENTERPRISE.value]))


# Statements of the webhook's and the worker's hot paths, built once (their cache keys and
# compiled forms are then reused).
_users = User.__table__
_LOCKED_NEW_TEXTER = (
    sa.select(User)
    .where(User.phone_number == sa.bindparam("phone"))
    .with_for_update(**BOOKKEEPING_LOCK)
)
# A texter already in the session (a view read it before asking for the lock) is read again:
# what it held may have changed while this one waited for the lock.
_LOCKED_TEXTER = _LOCKED_NEW_TEXTER.execution_options(populate_existing=True)
_LOCKED_SERVICE_STATE = (
    sa.select(_users.c.service_state)
    .where(_users.c.phone_number == sa.bindparam("phone"))
    .with_for_update(**BOOKKEEPING_LOCK)
)
_LOCKED_TIER = (
    sa.select(_users.c.tier)
    .where(_users.c.phone_number == sa.bindparam("phone"))
    .with_for_update(**BOOKKEEPING_LOCK)
)
_OPTED_OUT_AT = hashed_once(
    sa.select(_users.c.opted_out_at, _users.c.conversation_state).where(
        _users.c.phone_number == sa.bindparam("phone")
    )
)
_TEXTER = sa.select(User).where(User.phone_number == sa.bindparam("phone"))
