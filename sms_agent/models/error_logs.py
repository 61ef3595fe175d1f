"""Something that went wrong while serving a texter, kept for staff to triage."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from .choices import ErrorType, check_choice
from .types import JSONObject, UTCDateTime, check_json_object, utcnow

if TYPE_CHECKING:
    from .tasks import Task
    from .users import User


class ErrorLog(db.Model):
    __tablename__ = "error_logs"
    __table_args__ = (
        sa.Index("ix_error_logs_type_resolved", "error_type", "resolved"),
        sa.Index("ix_error_logs_timestamp", "timestamp"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_phone: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.phone_number", ondelete="SET NULL"), index=True
    )
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
    error_type: Mapped[str] = mapped_column(sa.String(30))
    error_message: Mapped[str] = mapped_column(sa.Text)
    stack_trace: Mapped[str] = mapped_column(sa.Text, default="")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved: Mapped[bool] = mapped_column(default=False)
    resolution_notes: Mapped[str] = mapped_column(sa.Text, default="")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONObject, default=dict)

    user: Mapped[User | None] = relationship()
    task: Mapped[Task | None] = relationship()

    def __repr__(self) -> str:
        return f"<ErrorLog {self.error_type} {self.id}>"

    @validates("error_type")
    def _validate_type(self, _key: str, value: str) -> str:
        return check_choice(ErrorType, "error_type", value)

    @validates("metadata_")
    def _validate_metadata(self, _key: str, value: dict[str, Any]) -> dict[str, Any]:
        return check_json_object("metadata", value)

    def resolve(self, notes: str | None = None) -> None:
        """Resolved, with `notes` on what was done; without them, the notes written before
        stay (resolving again, a retry, wiped them)."""
        self.resolved = True
        if notes is not None:
            self.resolution_notes = notes

    # The design document's ErrorLogManager, as query builders.
    @classmethod
    def newest_first(cls) -> sa.Select:
        return sa.select(cls).order_by(cls.timestamp.desc())

    @classmethod
    def unresolved(cls) -> sa.Select:
        return cls.newest_first().where(cls.resolved.is_(False))

    @classmethod
    def by_type(cls, error_type: str) -> sa.Select:
        return cls.newest_first().where(cls.error_type == error_type)

    @classmethod
    def recent(cls, hours: int = 24) -> sa.Select:
        return cls.newest_first().where(cls.timestamp >= utcnow() - timedelta(hours=hours))
