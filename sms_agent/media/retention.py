"""How long a texter's pictures are kept: their bytes serve staff's thumbnails for
MEDIA_RETENTION_DAYS, then go; the row keeps what the picture was (type, size, sha256), so
the conversation still says a picture came and the service's records stay whole."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import TaskMedia, utcnow
from .kinds import IMAGE

#: The status of a picture whose bytes were dropped after MEDIA_RETENTION_DAYS.
EXPIRED = "expired"


def forget_old_pictures(now: datetime | None = None) -> int:
    """Drop the bytes of pictures older than MEDIA_RETENTION_DAYS (none when it is 0), in
    one statement; how many. The caller commits."""
    days = current_app.config["MEDIA_RETENTION_DAYS"]
    if not days:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = db.session.execute(
        sa.update(TaskMedia)
        .where(
            TaskMedia.kind == IMAGE,
            TaskMedia.data.is_not(None),
            TaskMedia.created_at < cutoff,
        )
        .values(data=None, status=EXPIRED),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount
