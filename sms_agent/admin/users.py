"""Texters in the admin: the design document's UserAdmin, with its bulk actions."""

from __future__ import annotations

from math import ceil

from flask import flash, g
from flask_admin.actions import action
from flask_admin.form import rules
from flask_admin.model.template import EndpointLinkRowAction
from wtforms import SelectField
from wtforms.validators import StopValidation, ValidationError

from .. import costs
from ..export import conversations
from ..export.download import csv_download
from ..extensions import db
from ..inbound.media import UnservedChannel, texter_phone
from ..jobs import BulkNotices, enqueue_tier_change_notices
from ..models import Tier, User, lock_texter, lock_texters, utcnow
from ..models.row_counts import rows_of
from ..phones import InvalidPhoneNumber
from ..plural import counted
from ..quota import change_tier, is_upgrade, reset_user, used, used_in_sql, window_end
from .base import (
    AdminModelView,
    KeptCount,
    ReadOnlyValue,
    email_field,
    format_datetime,
    gone_already,
    known_timezone,
    readable_name,
    sections,
    select_choices,
    trimmed,
    usd,
)
from .conversation import ConversationPages

#: The last active of a texter staff or the API added who has not texted yet.
NEVER = "never"


def _last_active(user: User, seconds: bool = False) -> str:
    return format_datetime(user.last_active, seconds) if user.last_active else NEVER


def _texted(told: BulkNotices) -> str:
    """Who is told of a change (the texts go out after the commit, from jobs, so the page
    says they will be sent) and, when the notices take a while (they leave most of the
    sending rate to conversation, BULK_NOTICE_SHARE), for how long they go out."""
    texted = f"{counted(told.count, 'user')} will be texted"
    if told.seconds < 60:
        return f"{texted}."
    return f"{texted} over the next {ceil(told.seconds / 60)} minutes, between answers."


_DETAIL_SECTIONS = (
    rules.FieldSet(["full_name", "email", "timezone"], "Personal information"),
    rules.FieldSet(["total_requests", "monthly_requests", "rate_limit_reset"], "Usage statistics"),
    rules.FieldSet(
        ["preferences", ReadOnlyValue("opted_out_at", "Opted out"), "context_reset_at"],
        "Preferences",
    ),
)


def new_phone_number(_form, field) -> None:
    """The number in E.164, read as the webhook reads a sender, and nobody's yet: the same
    number in another notation ("(555) 123-0002") is the same texter, and so is a WhatsApp
    sender pasted from Twilio ("whatsapp:+5215512345678" is the texter +525512345678, whom
    that WhatsApp's texts reach); another channel's address (messenger:...) is refused."""
    try:
        field.data = texter_phone(field.data or "")
    except (InvalidPhoneNumber, UnservedChannel) as exc:
        raise ValidationError(str(exc)) from None
    if db.session.get(User, field.data) is not None:
        # The last word: Flask-Admin's own check of the key would add "Already exists.".
        raise StopValidation("A user with this number exists.")


def reset_ahead(_form, field) -> None:
    """A quota reset staff type is after now: one in the past started a new window at the
    texter's next text, a reset nobody asked for (the action *Reset monthly requests* is
    that). One left as shown stays, though it has passed: the next text rolls it."""
    if field.data is not None and field.data != field.object_data and field.data <= utcnow():
        raise ValidationError(
            "Enter a time after now (UTC); to give the texter a new month now, use the "
            "action Reset monthly requests."
        )


def _spend(user: User, key: str) -> str:
    spent = getattr(g, "user_spend", {}).get(user.phone_number)
    return usd(spent[key]) if spent else "—"


class UserView(ConversationPages, KeptCount, AdminModelView):
    column_list = [
        "phone_number",
        "tier",
        "full_name",
        "total_requests",
        "monthly_requests",
        "spend_this_month",
        "spend_all_time",
        "is_active",
        "last_active",
        "created_at",
    ]
    column_formatters = {
        # The running window's (the API's too): 0 once the texter's month has ended.
        "monthly_requests": lambda _v, _c, user, _n: used(user),
        # And the end of that window: an ended one's reset is a moment already past.
        "rate_limit_reset": lambda _v, _c, user, _n: window_end(user),
        "spend_this_month": lambda _v, _c, user, _n: _spend(user, "this_month_usd"),
        "spend_all_time": lambda _v, _c, user, _n: _spend(user, "all_time_usd"),
        "last_active": lambda _v, _c, user, _n: _last_active(user),
    }
    column_formatters_detail = {
        **column_formatters,
        "last_active": lambda _v, _c, user, _n: _last_active(user, seconds=True),
    }
    column_labels = {
        "spend_this_month": "Spend this month (USD)",
        "spend_all_time": "Spend (USD)",
        "phone_number": "Phone",
        "full_name": "Full name",
        "total_requests": "Total requests",
        "monthly_requests": "Monthly requests",
        "is_active": "Active",
        "last_active": "Last active",
        "created_at": "Created",
        "updated_at": "Updated",
        "rate_limit_reset": "Quota resets",
        "opted_out_at": "Opted out",
    }
    column_sortable_list = [
        *(c for c in column_list if not c.startswith("spend_") and c != "monthly_requests"),
        ("monthly_requests", used_in_sql()),  # as shown, not the stored count
        ("spend_this_month", costs.report.texter_spend(User.phone_number, this_month=True)),
        ("spend_all_time", costs.report.texter_spend(User.phone_number)),
    ]
    column_choices = {"tier": Tier.choices()}
    column_filters = ["tier", "is_active", "created_at", "last_active"]
    column_searchable_list = ["phone_number", "email", "full_name"]
    exact_search = {"phone": "phone_number"}
    column_default_sort = ("created_at", True)
    column_display_pk = True
    column_details_exclude_list = ["tasks", "service_state", "window_started_at"]
    column_extra_row_actions = [
        EndpointLinkRowAction("fa fa-comments", ".conversation_view", "Conversation")
    ]
    form_overrides = {"tier": SelectField}
    form_args = {
        "tier": {"choices": select_choices(Tier)},
        # Only on create (see get_edit_form). The column's 20 characters are checked after the
        # number is made E.164: the box takes a notation as long as Try it's, or a pasted
        # "+49 (0) 151 1234 5678" was cut to another number.
        "phone_number": {"validators": [new_phone_number], "render_kw": {"maxlength": 32}},
        "email": email_field(),
        "full_name": {"validators": [readable_name], **trimmed()},
        "timezone": {"validators": [known_timezone]},
        "rate_limit_reset": {"validators": [reset_ahead]},
    }
    form_columns = [
        "phone_number",
        "tier",
        "is_active",
        "full_name",
        "email",
        "timezone",
        "total_requests",
        "monthly_requests",
        "rate_limit_reset",
        "preferences",
        # Not opted_out_at: opting out is the texter's own STOP (and START its undoing), a
        # carrier rule staff may not override, so the forms show it but never save it.
        "context_reset_at",
    ]
    form_create_rules = sections(
        rules.FieldSet(["phone_number", "tier", "is_active"], "Main"),
        *_DETAIL_SECTIONS,
    )
    # The phone number is the key other rows point at, so it is fixed once created.
    form_edit_rules = sections(
        rules.FieldSet([ReadOnlyValue("phone_number", "Phone"), "tier", "is_active"], "Main"),
        *_DETAIL_SECTIONS,
        rules.FieldSet(
            [
                ReadOnlyValue("created_at", "Created"),
                ReadOnlyValue("updated_at", "Updated"),
                ReadOnlyValue("last_active", "Last active", empty=NEVER),
            ],
            "Timestamps",
        ),
    )
    details_template = "admin/user_details.html"
    edit_template = "admin/user_edit.html"

    def kept_count(self):
        return db.session.query(rows_of("users"))

    def get_list(self, *args, **kwargs):
        """The page's spend in one query for all its users, not one per row."""
        count, users = super().get_list(*args, **kwargs)
        g.user_spend = costs.report.by_texter(user.phone_number for user in users)
        return count, users

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            phone = kwargs["model"].phone_number
            kwargs["spend"] = costs.report.by_texter([phone])[phone]
        return super().render(template, **kwargs)

    def get_edit_form(self):
        form = super().get_edit_form()
        del form.phone_number
        return form

    def update_model(self, form, model) -> bool:
        """Remember the tier the texter had before the form changed it: they hear of a
        change once it is committed (after_model_change). Read under the texter's lock, so
        a second save at once (a double click, another admin) waits for the first and
        finds its tier, and the texter is told once."""
        texter = lock_texter(model.phone_number)  # None: deleted meanwhile, see the commit
        g.tier_before_edit = texter.tier if texter else None
        if texter:
            form.keep_stored(texter)  # what was counted while the texter's lock was awaited
        return super().update_model(form, model)

    def after_model_change(self, form, model, is_created) -> None:
        super().after_model_change(form, model, is_created)
        before = g.pop("tier_before_edit", None)
        if before and before != model.tier:
            enqueue_tier_change_notices([(model, before)])

    @action("reset_monthly_requests", "Reset monthly requests")
    def action_reset_monthly(self, ids) -> None:
        users = self.selected(ids)
        if not users:
            return gone_already()
        for user in users:
            reset_user(user)
        db.session.commit()
        flash(f"Reset monthly requests for {counted(len(users), 'user')}.", "success")

    # The tier changes ask first, as Delete does: they change what every texter selected may
    # ask, and text them (upgrades, by default).
    @action(
        "upgrade_to_premium",
        "Upgrade to premium",
        "Upgrade the selected texters to premium? Their monthly requests are reset, and "
        "they are texted about it if TIER_CHANGE_SMS says so (upgrades, by default).",
    )
    def action_upgrade(self, ids) -> None:
        """An upgrade: a texter on premium or above in the selection stays as they are (an
        enterprise one would otherwise be moved down, untold, by an action named upgrade)."""
        self._change_tier(ids, Tier.PREMIUM, "Upgraded {} to premium.", "on premium or above")

    @action(
        "downgrade_to_free",
        "Downgrade to free",
        "Downgrade the selected texters to free? They are texted about it if "
        "TIER_CHANGE_SMS says so (all changes).",
    )
    def action_downgrade(self, ids) -> None:
        self._change_tier(ids, Tier.FREE, "Downgraded {} to free.", "on free")

    @action("export_conversations", "Export conversations")
    def action_export(self, ids):
        """A CSV of the selected texters' conversations with their costs, streamed."""
        phones = [user.phone_number for user in self.selected(ids)]
        if not phones:
            return gone_already()
        filename = f"conversations-{utcnow():%Y%m%d-%H%M%S}.csv"
        return csv_download(conversations(phones), filename)

    def _change_tier(self, ids, tier: Tier, message: str, kept: str) -> None:
        """Move the selected texters that `tier` moves up (an upgrade) or down; the others
        are left as they were, counted apart. Read under their locks (lock_texters): a
        change made meanwhile is read, not told twice."""
        users = lock_texters(self.pks(ids))
        if not users:
            return gone_already()
        moving = [user for user in users if _moves(user.tier, tier)]
        changes = [(user, change_tier(user, tier.value)) for user in moving]
        db.session.commit()
        told = enqueue_tier_change_notices(changes)
        flash(f"{message.format(counted(len(moving), 'user'))} {_texted(told)}", "success")
        if len(moving) < len(users):
            left = counted(len(users) - len(moving), "user")
            flash(f"{left} already {kept}, left as they were.", "info")


def _moves(old_tier: str, tier: Tier) -> bool:
    """An upgrade to premium moves only lower tiers; a downgrade to free every other."""
    if tier == Tier.FREE:
        return old_tier != tier.value
    return is_upgrade(old_tier, tier.value)
