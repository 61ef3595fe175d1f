"""The pictures texters sent, for staff's thumbnails in a conversation: served from the
stored bytes, behind the admin's login, never to anyone else."""

from __future__ import annotations

import uuid

from flask import Response, abort
from flask_admin import BaseView, expose

from ..extensions import db
from ..media.kinds import IMAGE, IMAGE_TYPES
from ..models import TaskMedia
from .access import StaffAccess

#: A picture opened on its own is shown by the browser's image viewer, which styles its
#: document inline; nothing but the picture itself may load or run there.
IMAGE_DOCUMENT_POLICY = {
    "default-src": "'none'",
    "img-src": "'self'",
    "style-src": "'unsafe-inline'",
    "frame-ancestors": "'none'",
}


class MediaView(StaffAccess, BaseView):
    """Not in the menu: the conversation links here."""

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        abort(404)  # no listing: pictures are reached from their conversation

    @expose("/<media_id>")
    def show(self, media_id: str):
        try:
            key = uuid.UUID(media_id)
        except ValueError:
            abort(404)
        media = db.session.get(TaskMedia, key)
        # Only a picture of a type we read is served, under that type: stored bytes are
        # never offered to a browser as HTML or script.
        if media is None or media.kind != IMAGE or media.content_type not in IMAGE_TYPES:
            abort(404)
        if not media.data:
            abort(404)
        # Kept by no cache, as every page staff see (security.kept_by_no_cache_for_staff):
        # a cached picture outlived the logout on a shared computer. A page shows each
        # picture once per load (the browser reuses it within the page), so this costs
        # a fetch per picture per visit.
        return Response(
            media.data,
            content_type=media.content_type,
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": "inline",
            },
        )

    # Read by Flask-Talisman (sms_agent/security.py) for this view's responses.
    show.talisman_view_options = {
        "content_security_policy": IMAGE_DOCUMENT_POLICY,
        "content_security_policy_nonce_in": [],
    }
