"""How long a texter's pictures are kept: their bytes serve staff's thumbnails for
MEDIA_RETENTION_DAYS, then go; the row keeps what the picture was (type, size, sha256), so
the conversation still says a picture came and the service's records stay whole. The
embedded mode's local media store (MEDIA_STORE_DIR) keeps its files as long."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import TaskMedia, utcnow
from ..vendors.twilio_media import LocalMediaStore
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


def prune_local_store(now: datetime | None = None) -> int:
    """Delete the files `flask sms simulate --media` and Try it saved in MEDIA_STORE_DIR
    more than MEDIA_RETENTION_DAYS ago (none when it is 0); how many. The worker copied
    each into its task's media row as it read it, so the folder kept every picture and
    voice note ever tried, growing for ever, with no row pointing at them."""
    days = current_app.config["MEDIA_RETENTION_DAYS"]
    if not days:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    return LocalMediaStore(current_app.config).prune(cutoff.timestamp())
