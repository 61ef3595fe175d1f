"""Texters' requests and the errors they raised: TaskAdmin and ErrorLogAdmin."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash
from flask_admin.actions import action
from flask_admin.form import rules
from wtforms import SelectField
from wtforms.validators import NumberRange, Optional, ValidationError

from ..analytics.sums import sum_of
from ..clean_text import BLANK_REFUSED, is_blank
from ..extensions import db
from ..models import Category, ErrorType, RefusalReason, TaskRollup, TaskStatus, Tier
from ..models.row_counts import rows_of
from ..models.tasks import (
    MAX_PROCESSING_SECONDS,
    answer_conflict,
    outcome_conflict,
    refusal_conflict,
)
from ..plural import counted
from ..service_metadata import (
    KEPT_BY_THE_SERVICE,
    changed_service_keys,
    with_service_metadata,
)
from .base import (
    AdminModelView,
    KeptCount,
    ReadOnlyValue,
    gone_already,
    readable_prose,
    sections,
    select_choices,
    task_link,
    user_link,
)
from .forms import short

_TIMESTAMPS = rules.FieldSet(
    [
        ReadOnlyValue("id", "ID"),
        ReadOnlyValue("created_at", "Created"),
        ReadOnlyValue("updated_at", "Updated"),
        ReadOnlyValue("completed_at", "Completed"),
    ],
    "Timestamps",
)


def _shows_something(_form, field) -> None:
    """The texter's text, changed, as someone could have sent it: what the API takes
    (SmsText). A picture or voice note may have come with no text, kept as it came."""
    if field.data != field.object_data and is_blank(field.data or ""):
        raise ValidationError(BLANK_REFUSED)


class TaskView(KeptCount, AdminModelView):
    # Tasks arrive by SMS (or the Try it page); one typed in here would never be answered.
    allow_create = False
    column_list = [
        "id",
        "user_phone",
        "category",
        "success",
        "status",
        "processing_time",
        "tokens_used",
        "cost_usd",
        "created_at",
    ]
    column_display_pk = True
    column_labels = {
        "id": "ID",
        "user_phone": "Texter",
        "user.tier": "User tier",
        "processing_time": "Processing time (s)",
        "tokens_used": "Tokens",
        "cost_usd": "Cost (USD)",
        "created_at": "Created",
        "sms_content": "SMS content",
        "ai_response": "AI response",
        "metadata_": "Metadata",
        "refusal_reason": "Refusal reason",
    }
    column_formatters = {
        "user_phone": lambda _v, _c, task, _n: user_link(task.user_phone),
        "id": lambda _v, _c, task, _n: str(task.id)[:8],
        # "refused: over quota", so a refused text never reads like one waiting for an answer
        "status": lambda _v, _c, task, _n: task.status_label,
    }
    column_formatters_detail = {
        "user_phone": lambda _v, _c, task, _n: user_link(task.user_phone),
        "status": lambda _v, _c, task, _n: task.status_label,
    }
    column_choices = {
        "category": Category.choices(),
        "status": TaskStatus.choices(),
        "refusal_reason": RefusalReason.choices(),
        "user.tier": Tier.choices(),
    }
    column_filters = ["category", "success", "status", "refusal_reason", "created_at", "user.tier"]
    column_searchable_list = ["user_phone", "sms_content", "ai_response"]
    exact_search = {"phone": "user_phone", "sid": "message_sid"}
    column_default_sort = ("created_at", True)
    column_details_exclude_list = ["user", "outbound_messages", "media"]
    form_overrides = {"category": SelectField, "status": SelectField}
    # Texts are not required as such: a picture or voice note may come without one, and its
    # task must still save (Flask-Admin requires every non-null column); `_shows_something`
    # refuses a text staff empty.
    form_optional_types = (sa.Boolean, sa.Text)
    form_args = {
        "category": {"choices": select_choices(Category)},
        "status": {"choices": select_choices(TaskStatus)},
        # The API's range: a time it set (above a day, say) must not refuse every later save.
        "processing_time": {
            "validators": [Optional(), NumberRange(min=0, max=MAX_PROCESSING_SECONDS)]
        },
        "complexity_score": {"validators": [Optional(), NumberRange(min=0, max=1)]},
        "sms_content": {"validators": [_shows_something]},
        "ai_response": {"validators": [readable_prose]},
        "error_message": {"validators": [readable_prose]},
    }
    form_excluded_columns = [
        "user",
        "outbound_messages",
        "media",  # pictures and voice notes the texter sent: shown in the conversation
        "created_at",
        "updated_at",
        "completed_at",
        "quota_window",  # the quota's own bookkeeping (quota.give_back), not for editing
        "lease_at",  # the worker's clock (the sweeper's), not for editing
        "refusal_reason",  # why the service refused the text: a fact, not for editing
        # Twilio's id of the text, the record that it was received (inbound/store.py):
        # changed or emptied, the same text posted again would be taken and answered anew.
        "message_sid",
    ]
    form_rules = sections(
        rules.FieldSet(
            [ReadOnlyValue("user_phone", "Texter"), "sms_content", "ai_response", "category"],
            "Content",
        ),
        rules.FieldSet(
            ["processing_time", "tokens_used", "complexity_score"], "Performance metrics"
        ),
        rules.FieldSet(
            [
                "success",
                "status",
                ReadOnlyValue("refusal_reason", "Refusal reason"),
                "error_message",
            ],
            "Error information",
        ),
        rules.FieldSet([ReadOnlyValue("message_sid", "Message SID"), "metadata_"], "Metadata"),
        _TIMESTAMPS,
    )

    def kept_count(self):
        """The task rollups' (models/rollups.py), exact at all times: a COUNT over 1,000,000
        tasks took 120-160 ms of every page."""
        return db.session.query(sum_of(TaskRollup.tasks))

    def on_model_change(self, form, model, is_created) -> None:
        """Refuse a task both successful and not completed, and a task moved into or out of
        refused, as the API does, and a completed task without an answer, and keep the metadata
        the service reads back as it stored it (service_metadata.py); a new status dates the
        outcome (Task.date_the_outcome)."""
        super().on_model_change(form, model, is_created)
        if conflict := refusal_conflict(form.status.object_data, model.status):
            raise ValidationError(conflict)
        if conflict := outcome_conflict(model.status, model.success):
            raise ValidationError(conflict)
        answered = (form.status.object_data, form.ai_response.object_data)
        if answered != (model.status, model.ai_response) and (
            conflict := answer_conflict(model.status, model.ai_response)
        ):
            raise ValidationError(conflict)
        stored = form.metadata_.object_data
        if changed := changed_service_keys(stored, model.metadata_ or {}):
            raise ValidationError(f"Metadata {', '.join(changed)}: {KEPT_BY_THE_SERVICE}")
        kept = with_service_metadata(stored, model.metadata_ or {})
        if kept != model.metadata_:
            model.metadata_ = kept
        if form.status.object_data != model.status:
            model.date_the_outcome()


_PROSE_OF_AN_ERROR = ("error_message", "stack_trace", "resolution_notes")


class ErrorLogView(KeptCount, AdminModelView):
    # Errors are recorded by the service itself; staff triage them, they do not invent them.
    allow_create = False
    column_list = ["timestamp", "error_type", "error_message", "user_phone", "task_id", "resolved"]
    column_labels = {
        "error_type": "Type",
        "error_message": "Message",
        "user_phone": "Texter",
        "task_id": "Task",
        "metadata_": "Metadata",
    }
    column_formatters = {
        "user_phone": lambda _v, _c, error, _n: user_link(error.user_phone),
        "error_message": lambda _v, _c, error, _n: short(error.error_message),
        "task_id": lambda _v, _c, error, _n: task_link(error.task_id),
    }
    column_choices = {"error_type": ErrorType.choices()}
    column_filters = ["error_type", "resolved", "timestamp"]
    column_searchable_list = ["error_message", "user_phone"]
    exact_search = {"phone": "user_phone"}
    column_default_sort = ("timestamp", True)
    column_details_exclude_list = ["user", "task"]
    form_overrides = {"error_type": SelectField}
    form_args = {
        "error_type": {"choices": select_choices(ErrorType)},
        **{name: {"validators": [readable_prose]} for name in _PROSE_OF_AN_ERROR},
    }
    form_excluded_columns = ["timestamp", "task", "user"]
    form_rules = sections(
        rules.FieldSet(["error_type", "error_message", "stack_trace"], "Error"),
        rules.FieldSet(["resolved", "resolution_notes"], "Resolution"),
        rules.FieldSet(
            ["metadata_", ReadOnlyValue("user_phone", "User"), ReadOnlyValue("timestamp", "Time")],
            "Context",
        ),
    )

    def kept_count(self):
        return db.session.query(rows_of("error_logs"))

    @action("mark_resolved", "Mark as resolved")
    def action_resolve(self, ids) -> None:
        errors = self.selected(ids)
        if not errors:
            return gone_already()
        for error in errors:
            error.resolve()
        db.session.commit()
        flash(f"Marked {counted(len(errors), 'error')} as resolved.", "success")

    @action("mark_unresolved", "Mark as unresolved")
    def action_unresolve(self, ids) -> None:
        errors = self.selected(ids)
        if not errors:
            return gone_already()
        for error in errors:
            error.resolved = False
        db.session.commit()
        flash(f"Marked {counted(len(errors), 'error')} as unresolved.", "success")
