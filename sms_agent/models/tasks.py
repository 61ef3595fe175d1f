"""A texter's request: the SMS they sent, how it was answered, and what it cost."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..clean_text import is_blank
from ..extensions import db
from .choices import Category, RefusalReason, TaskStatus, check_choice
from .types import (
    JSONObject,
    Money,
    UTCDateTime,
    as_json_object,
    check_finite,
    check_json_object,
    utcnow,
)
from .users import take_sqlite_write_lock

if TYPE_CHECKING:
    from .media import TaskMedia
    from .messages import OutboundMessage
    from .users import User


#: The most seconds a task's processing_time may be set to, by staff in the admin or the API.
MAX_PROCESSING_SECONDS = 1e9

#: The metadata key marking a category chosen by an API caller (Task.give_category).
CATEGORY_GIVEN = "category_given"


def outcome_conflict(status: str, success: bool) -> str | None:
    """Why a task's `success` and `status` contradict each other, or None.

    Success means the task was answered: only a completed task has it (mark_completed sets
    both, mark_failed clears it). Success rates and the rollups count `success`, so a task
    both failed and successful would inflate them; staff edits (API, admin) are refused."""
    if success and status != TaskStatus.COMPLETED:
        return f"A {status} task cannot be successful: only a completed task can."
    return None


def answer_conflict(status: str, answer: str | None) -> str | None:
    """Why a task of `status` may not have `answer`, or None: a completed task was answered,
    so it counts as answered (success rates, the conversation) only with an answer that shows."""
    if status == TaskStatus.COMPLETED and is_blank(answer or ""):
        return (
            "A completed task needs an answer: give it an AI response (ai_response), or "
            "choose another status."
        )
    return None


def completed_outcome(now: datetime) -> dict[str, object]:
    """What a successful answer sets on its task, besides the answer and its figures: one
    home for Task.mark_completed and the worker's one-statement completion
    (answering/completion.py)."""
    return {
        "status": TaskStatus.COMPLETED.value,
        "success": True,
        "error_message": None,
        "completed_at": now,
    }


def refusal_conflict(stored: str, status: str) -> str | None:
    """Why staff may not move a task from status `stored` to `status`, or None.

    Refusing a text is the service's decision when it arrives (limits.py, a conversation
    held for staff): it was never admitted, counted or sent to the model, and its
    `refusal_reason` says why. Taken out of refused, it would keep that reason under another
    status (the list's and the analytics' counts of refused texts would disagree) and, queued,
    be answered by the sweeper outside the quota; so staff edits (API, admin) are refused."""
    refused = TaskStatus.REFUSED.value
    if status != stored and refused in (stored, status):
        return "Only the service refuses a text, and a refused text stays refused."
    return None


#: Of a WhatsApp message's kind (Twilio's MessageType), what a status label shows.
MESSAGE_TYPE_SHOWN = 40


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_user_phone_created_at", "user_phone", "created_at"),
        sa.Index("ix_tasks_category_success", "category", "success"),
        sa.Index("ix_tasks_status_lease_at", "status", "lease_at"),
        sa.Index("ix_tasks_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_phone: Mapped[str] = mapped_column(sa.ForeignKey("users.phone_number", ondelete="CASCADE"))
    sms_content: Mapped[str] = mapped_column(sa.Text)
    ai_response: Mapped[str | None] = mapped_column(sa.Text)
    category: Mapped[str] = mapped_column(sa.String(20), default=Category.GENERAL.value)
    status: Mapped[str] = mapped_column(sa.String(20), default=TaskStatus.QUEUED.value)
    message_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    processing_time: Mapped[float | None]
    tokens_used: Mapped[int | None]
    complexity_score: Mapped[float | None]
    # active_history: the old value is loaded first, so "became successful" is exact.
    success: Mapped[bool] = mapped_column(default=False, active_history=True)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SQLAlchemy reserves `metadata` on models; the column and the API keep the name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONObject, default=dict)
    #: The quota window this request was counted in, by its start (User.window_started_at,
    #: from quota.admit); None once a failure gave it back, or for a request never counted.
    quota_window: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why a request was refused (status refused): stored for staff, never answered nor
    #: counted against the quota.
    refusal_reason: Mapped[str | None] = mapped_column(sa.String(20))
    #: USD: its model calls plus the SMS sent for it, kept by the ledgers' triggers
    #: (models/spend_rollups.py).
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    #: USD: the SMS part of cost_usd (the rest is its model calls), kept the same way, so
    #: the task rollups can sum both per bucket.
    sms_cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    #: USD Twilio billed for receiving the text, at the prices when it came (None: not
    #: received from Twilio, or free); its charge is kept in the ledger inbound_charges
    #: (models/inbound_charges.py), which counts it in cost_usd and sms_cost_usd.
    inbound_price_usd: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The last change of what the API shows of the task (If-Unmodified-Since is checked
    #: against it, and its ETag hashes it): any column but lease_at, cost_usd included (the
    #: ledgers' triggers move it too). Set by `date_changes`, not by an onupdate.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The worker's clock, which the sweeper reads (ops/sweeper.py): moved by every write
    #: as updated_at once was, and by the service's own bookkeeping besides, which changes
    #: nothing a client reads (a claim taken over, a queued task's job sent again, a
    #: deferred answer's first sending slot, in the future). None: finished before
    #: migration 0031, which the sweeper never looks at.
    lease_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="tasks")
    outbound_messages: Mapped[list[OutboundMessage]] = relationship(
        back_populates="task", order_by="OutboundMessage.created_at"
    )
    media: Mapped[list[TaskMedia]] = relationship(
        back_populates="task",
        order_by="TaskMedia.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.status} from {self.user_phone}>"

    @validates("category")
    def _validate_category(self, _key: str, value: str) -> str:
        return check_choice(Category, "category", value)

    @validates("status")
    def _validate_status(self, _key: str, value: str) -> str:
        return check_choice(TaskStatus, "status", value)

    @validates("metadata_")
    def _validate_metadata(self, _key: str, value: dict[str, Any]) -> dict[str, Any]:
        return check_json_object("metadata", value)

    @validates("processing_time", "complexity_score")
    def _validate_finite(self, key: str, value: float | None) -> float | None:
        return check_finite(key, value)

    @validates("refusal_reason")
    def _validate_refusal_reason(self, _key: str, value: str | None) -> str | None:
        return None if value is None else check_choice(RefusalReason, "refusal_reason", value)

    def give_category(self, category: str) -> None:
        """A category an API caller chose (creating the task, or changing it before it is
        answered): the answer keeps it, and the model is asked as for it, rather than for
        the classifier's guess, which replaced it before."""
        self.category = category
        self.metadata_ = {**as_json_object(self.metadata_), CATEGORY_GIVEN: True}

    @property
    def category_given(self) -> bool:
        return as_json_object(self.metadata_).get(CATEGORY_GIVEN) is True

    @property
    def status_label(self) -> str:
        """The status as staff read it: "refused: over quota" rather than just "refused";
        for a message we cannot read, its kind as Twilio named it ("poll"), where the
        bubble has nothing else to show."""
        if self.status != TaskStatus.REFUSED or not self.refusal_reason:
            return self.status
        reason = RefusalReason(self.refusal_reason)
        kind = as_json_object(self.metadata_).get("message_type")
        named = isinstance(kind, str) and kind not in ("", RefusalReason.UNSUPPORTED.value)
        if reason is RefusalReason.UNSUPPORTED and named:
            return f"a kind of message we cannot read: {kind[:MESSAGE_TYPE_SHOWN]} (not answered)"
        return reason.label

    def mark_completed(
        self,
        response: str,
        tokens_used: int | None = None,
        processing_time: float | None = None,
    ) -> None:
        """Record a successful answer (its request was counted when it was admitted)."""
        self.ai_response = response
        if tokens_used is not None:
            self.tokens_used = tokens_used
        if processing_time is not None:
            self.processing_time = processing_time
        for name, value in completed_outcome(utcnow()).items():
            setattr(self, name, value)

    def date_the_outcome(self) -> None:
        """completed_at follows a status staff set (API, admin) as it follows the worker's:
        a task marked completed or failed was finished now, unless it already had a time;
        one put back in the queue has none. Marked completed by staff, it had none, so the
        API's completed_at stayed null and the conversation page never showed it finished."""
        finished = self.status in (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value)
        if finished and self.completed_at is None:
            self.completed_at = utcnow()
        elif self.status in (TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value):
            self.completed_at = None

    def mark_failed(self, error_message: str) -> None:
        self.success = False
        self.status = TaskStatus.FAILED.value
        self.error_message = error_message
        self.completed_at = utcnow()

    # The design document's TaskManager, as query builders.
    @classmethod
    def newest_first(cls) -> sa.Select:
        return sa.select(cls).order_by(cls.created_at.desc())

    @classmethod
    def successful(cls) -> sa.Select:
        return cls.newest_first().where(cls.success.is_(True))

    @classmethod
    def failed(cls) -> sa.Select:
        return cls.newest_first().where(cls.success.is_(False), cls.completed_at.is_not(None))

    @classmethod
    def by_category(cls, category: str) -> sa.Select:
        return cls.newest_first().where(cls.category == category)

    @classmethod
    def completed_today(cls, now: datetime | None = None) -> sa.Select:
        now = now or utcnow()
        midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
        return cls.newest_first().where(cls.completed_at >= midnight)

    @classmethod
    def processing_stats(cls) -> dict[str, float | int | None]:
        """Averages over completed tasks, in one query."""
        row = db.session.execute(
            sa.select(
                sa.func.count(cls.id),
                sa.func.avg(cls.processing_time),
                sa.func.avg(cls.tokens_used),
                sa.func.avg(cls.complexity_score),
            ).where(cls.completed_at.is_not(None))
        ).one()
        return {
            "count": row[0],
            "avg_processing_time": float(row[1]) if row[1] is not None else None,
            "avg_tokens_used": float(row[2]) if row[2] is not None else None,
            "avg_complexity": float(row[3]) if row[3] is not None else None,
        }


@functools.cache
def _shown() -> frozenset[str]:
    """The attributes whose change is a change of what the API shows of a task (see
    updated_at), known once the mappers are."""
    return frozenset(prop.key for prop in sa.inspect(Task).column_attrs) - {
        "lease_at",
        "updated_at",
    }


def date_changes(session: sa.orm.Session, _context, _instances) -> None:
    """Every write of a task that changes what a client reads of it moves its updated_at,
    whoever writes it (API, admin, worker); a write of the lease alone does not. A session
    rule (before_flush, registered by the factory), so the Core flush of the worker's
    commonest writes (plain_flush.py) gets it too."""
    for obj in session.dirty:
        if not isinstance(obj, Task):
            continue
        state = sa.inspect(obj)
        if state.attrs.updated_at.history.added:
            continue  # its writer set it (the sample data, a test); Core writes set their own
        if any(
            key in _shown() and state.attrs[key].history.has_changes()
            for key in state.committed_state
        ):
            obj.updated_at = utcnow()


def lock_task(task_id: uuid.UUID) -> Task | None:
    """The task, locked until the commit and read afresh, for a change checked against what
    it holds (status against success): two changes at once take turns, and the second is
    checked against the first's result rather than what both read before either wrote."""
    take_sqlite_write_lock()
    return db.session.scalars(_LOCKED_TASK, {"id": task_id}).first()


# FOR NO KEY UPDATE: rows referencing the task (its messages, media) may still be inserted.
_LOCKED_TASK = (
    sa.select(Task)
    .where(Task.id == sa.bindparam("id"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)
