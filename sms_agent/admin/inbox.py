"""The staff inbox: every texter's conversation by latest activity, with its state (ai,
waiting, staff), who holds it and what staff have not read; the menu shows how many wait."""

from __future__ import annotations

import math

from flask import request
from flask_admin import BaseView, expose
from markupsafe import Markup

from .. import handoff, inbox
from ..extensions import db
from ..models import ConversationState
from .access import StaffAccess, is_staff
from .base import plain_integer

PAGE_SIZE = 50
STATES = list(ConversationState)
#: The list's filters: ?show=<one of these>.
FILTERS = {
    "all": ("All", {}),
    "needs_staff": ("Needs staff", {"needs_staff": True}),
    **{
        state.value: (state.value.capitalize(), {"state": state.value})
        for state in ConversationState
    },
}


class MenuLabel(str):
    """The Inbox menu entry: "Inbox" and, in HTML, a badge with the conversations waiting
    (one COUNT per admin page). Plain text (the page title) reads just "Inbox"."""

    def __html__(self) -> Markup:
        waiting = handoff.waiting_count() if is_staff() else 0
        if not waiting:
            return Markup.escape(str(self))
        badge = '{} <span class="badge badge-warning" data-testid="inbox-badge">{}</span>'
        return Markup(badge).format(str(self), waiting)


class InboxView(StaffAccess, BaseView):
    @expose("/")
    def index(self):
        show = request.args.get("show", "all")
        if show not in FILTERS:
            show = "all"
        statement = inbox.listing(**FILTERS[show][1])
        count = db.session.scalar(
            db.select(db.func.count()).select_from(statement.order_by(None).subquery())
        )
        pages = max(1, math.ceil(count / PAGE_SIZE))
        page = min(max(plain_integer(request.args.get("page")) or 1, 1), pages)
        users = db.session.scalars(statement.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
        return self.render(
            "admin/inbox.html",
            entries=inbox.entries(users.all()),
            filters=FILTERS,
            show=show,
            count=count,
            page=page,
            pages=pages,
        )
