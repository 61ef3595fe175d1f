"""Every SMS we sent, read-only: the outbox is a record of what happened."""

from __future__ import annotations

from ..analytics.sums import sum_of
from ..extensions import db
from ..models import DeliveryStatus, SpendDaily
from .base import AdminModelView, KeptCount, task_link, user_link
from .forms import short


def price_label(message) -> str:
    """ "0.008300 (estimate)" until Twilio has priced it."""
    if message.price_usd is None:
        return "—"
    return f"{message.price_usd}" + (" (estimate)" if message.price_estimated else "")


class OutboundMessageView(KeptCount, AdminModelView):
    allow_create = allow_edit = allow_delete = False
    column_list = [
        "created_at",
        "to_number",
        "body",
        "kind",
        "status",
        "segments",
        "price_usd",
        "encoding",
        "error_code",
        "sid",
        "task_id",
    ]
    column_labels = {
        "to_number": "To",
        "created_at": "Sent",
        "error_code": "Error code",
        "sid": "SID",
        "task_id": "Task",
        "price_usd": "Price (USD)",
    }
    column_formatters = {
        "to_number": lambda _v, _c, message, _n: user_link(message.to_number),
        "body": lambda _v, _c, message, _n: short(message.body, 60),
        "task_id": lambda _v, _c, message, _n: task_link(message.task_id),
        "price_usd": lambda _v, _c, message, _n: price_label(message),
    }
    column_choices = {"status": DeliveryStatus.choices()}
    column_filters = ["status", "encoding", "kind", "price_estimated", "created_at"]
    column_searchable_list = ["to_number", "body", "sid"]
    exact_search = {"phone": "to_number", "sid": "sid"}
    column_default_sort = ("created_at", True)
    column_details_exclude_list = ["task"]

    def kept_count(self):
        """The spend rollups' count of SMS (models/spend_rollups.py), exact at all times."""
        return db.session.query(sum_of(SpendDaily.sms_entries))
