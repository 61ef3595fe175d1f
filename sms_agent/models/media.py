"""A picture or voice note a texter sent with a task: what it was, and what we read from it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .tasks import Task


class TaskMedia(db.Model):
    __tablename__ = "task_media"
    __table_args__ = (sa.UniqueConstraint("task_id", "position", name="uq_task_media_position"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    #: Twilio's N in MediaUrl{N}.
    position: Mapped[int] = mapped_column(default=0)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    #: image, audio, text or other (refused); see sms_agent/media/kinds.py.
    kind: Mapped[str] = mapped_column(sa.String(10))
    size: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: read, refused (a kind we do not read), failed (the fetch or transcription failed),
    #: expired (a picture whose bytes were dropped after MEDIA_RETENTION_DAYS) or reading
    #: (a worker is fetching or transcribing it now; media/read.py).
    status: Mapped[str] = mapped_column(sa.String(10), default="read")
    #: A picture's bytes, for staff's thumbnail (voice notes are not kept: the transcript is).
    #: Deferred: the conversation lists media without loading the bytes.
    data: Mapped[bytes | None] = deferred(mapped_column(sa.LargeBinary))
    #: What a voice note said, or the words of a text part.
    transcript: Mapped[str | None] = mapped_column(sa.Text)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[Task] = relationship(back_populates="media")

    def __repr__(self) -> str:
        return f"<TaskMedia {self.position} {self.content_type} of task {self.task_id}>"
