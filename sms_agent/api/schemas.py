"""Request and response bodies, named by direction: *Out is what we send, *In what we accept.

Input schemas reject unknown fields, so a typo in a field name is a 400 rather than a silent
no-op. Lengths and ranges mirror the columns, so nothing valid here can fail in the database.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from marshmallow import RAISE, Schema, fields, missing, validate

from ..inbound.form import MAX_WHATSAPP_BODY_CHARS
from ..models import (
    Category,
    Channel,
    ConversationState,
    ErrorType,
    RefusalReason,
    TaskStatus,
    Tier,
)
from ..models.tasks import MAX_PROCESSING_SECONDS
from ..models.types import unsigned_zero
from ..outbound.channels import WHATSAPP_ENCODING
from ..outbound.gsm import GSM_7, UCS_2
from .fields import (
    Choice,
    Email,
    FiniteFloat,
    Id,
    JSONBoolean,
    JSONNumber,
    JSONObject,
    JSONObjectOut,
    Name,
    Phone,
    Prose,
    SmsText,
    Text,
    TimeZone,
)

INT32 = validate.Range(min=0, max=2**31 - 1)


@functools.cache
def kept(schema_class: type[Schema], many: bool = False) -> Schema:
    """One instance of a schema for every request: building one deep-copies its declared
    fields, about 8% of a list request's CPU, and dumping or loading keeps no state on it
    (these schemas hold none of their own)."""
    return schema_class(many=many)


class OutSchema(Schema):
    """A response body: every field is read-only and always present (null where it says
    it may be), which the OpenAPI document says too, so a generated client need not treat
    each one as optional."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.dump_only = True
        field_obj.required = True

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:
        """marshmallow's dump, each value read directly and handed to its field's own
        conversion: list pages dump hundreds of values, and marshmallow's general path for
        each (lookup, default, conversion) was a fifth of a users page's instructions.
        Values their field would return unchanged (text, a whole number, a boolean, null;
        a datetime's `isoformat()`, a nested object, a list of text, a finite float) are
        taken as they are. A field that reads elsewhere (`attribute`, a method), a value
        that is missing (its default), and any object read by item take marshmallow's path."""
        if many or obj is None:
            return super()._serialize(obj, many=many)
        if type(obj) is dict:
            read = obj.get
        elif hasattr(obj, "__getitem__"):
            return super()._serialize(obj)
        else:
            read = functools.partial(getattr, obj)
        dumped = {}
        for name, key, field, kind, convert in self._direct_plan():
            value = read(name, missing) if field is not None else missing
            if value is missing:
                value = self.dump_fields[name].serialize(name, obj, accessor=self.get_attribute)
                if value is not missing:
                    dumped[key] = value
            elif type(value) is kind:
                dumped[key] = value if convert is None else convert(value)
            elif value is None and kind in _NONE_IS_NULL:
                dumped[key] = None
            else:
                dumped[key] = field._serialize(value, name, obj)
        return dumped

    def _direct_plan(self) -> list[tuple]:
        """(name, key, the field if the value is read by name else None, the value type
        taken directly or None, its conversion)."""
        if (plan := self.__dict__.get("_plan")) is None:
            plan = self.__dict__["_plan"] = [
                (name, name if field.data_key is None else field.data_key, *_direct(name, field))
                for name, field in self.dump_fields.items()
            ]
        return plan

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        """A dict's entry read directly, as marshmallow's general lookup (an item, else an
        attribute, dotted paths) does for the keys a dump asks of a dict."""
        if type(obj) is dict and "." not in attr:
            return obj.get(attr, default)
        return super().get_attribute(obj, attr, default)


def _iso_text(moment: datetime) -> str:
    """`moment.isoformat()`, written by orjson when the moment is UTC's or naive (the same
    text, a quarter of the cost: a users page writes a hundred of them)."""
    if moment.tzinfo is UTC or moment.tzinfo is None:
        return orjson.dumps(moment)[1:-1].decode()
    return moment.isoformat()


#: The fields whose dump of a value of exactly this type is the value (or its isoformat()),
#: and of None is null.
_DIRECT = {
    fields.String: (str, None),
    fields.Integer: (int, None),
    fields.Boolean: (bool, None),
    fields.DateTime: (datetime, _iso_text),
}
_NONE_IS_NULL = frozenset(kind for kind, _ in _DIRECT.values())


def _direct(name: str, field: fields.Field) -> tuple[fields.Field | None, type | None, Any]:
    """How `_serialize` dumps this field's value (field, type taken directly, conversion)."""
    if field.attribute is not None or "." in name or not field._CHECK_ATTRIBUTE:
        return None, None, None
    if type(field) in _DIRECT and not getattr(field, "as_string", False):
        if type(field) is not fields.DateTime or field.format in (None, "iso", "iso8601"):
            return (field, *_DIRECT[type(field)])
    if type(field) is FiniteFloat and not field.as_string:
        return field, float, _finite_or_null
    if type(field) is fields.Decimal and field.as_string and field.places is not None:
        return field, Decimal, functools.partial(_decimal_text, field)
    if type(field) is fields.List and type(field.inner) is fields.String:
        return field, list, functools.partial(_texts, field)
    if type(field) is fields.Nested and _plainly_nested(field):
        return field, dict, field.schema._serialize
    return field, None, None


def _decimal_text(field: fields.Decimal, number: Decimal) -> str:
    """What `field` writes for a Decimal: quantized to its places, in fixed point (the
    field's own way, for amounts that are not finite)."""
    if not number.is_finite():
        return field._serialize(number, None, None)
    return format(number.quantize(field.places, rounding=field.rounding), "f")


def _finite_or_null(number: float) -> float | None:
    """FiniteFloat's rule, taken directly."""
    return unsigned_zero(number) if math.isfinite(number) else None


def _texts(field: fields.List, items: list) -> list:
    """A list of text as it is; a list with anything else in it, as its field writes it."""
    if all(type(item) is str for item in items):
        return items.copy()
    return field._serialize(items, None, None)


def _plainly_nested(field: fields.Nested) -> bool:
    """A nested object whose schema is an OutSchema with nothing but its fields: its dump
    is its own `_serialize`."""
    schema = field.schema
    return (
        isinstance(schema, OutSchema)
        and not (schema.many or field.many or field.only or field.exclude)
        and not (schema._hooks["pre_dump"] or schema._hooks["post_dump"])
    )


class InSchema(Schema):
    class Meta:
        unknown = RAISE


class ErrorOut(OutSchema):
    error = fields.String(required=True, metadata={"description": "What went wrong."})
    details = fields.Dict(
        required=True, metadata={"description": "Per-field messages or other specifics."}
    )


class UserStatsOut(OutSchema):
    success_rate = FiniteFloat(metadata={"description": "Percentage of successful tasks."})
    avg_response_time = FiniteFloat(allow_none=True, metadata={"description": "Seconds."})
    favorite_categories = fields.List(fields.String(), metadata={"description": "Top three."})


def Money(**kwargs) -> fields.Decimal:  # noqa: N802 (a field factory, named like one)
    """US dollars as a string with six decimals ("0.009360"), so no float rounds them."""
    metadata = kwargs.setdefault("metadata", {})
    metadata.setdefault("description", "USD, as a decimal string.")
    metadata.update(type="string", format="decimal", pattern=r"^\d+\.\d{6}$")
    return fields.Decimal(places=6, as_string=True, **kwargs)


class SpendOut(OutSchema):
    sms_usd = Money()
    model_usd = Money()
    total_usd = Money()


class TopSpenderOut(OutSchema):
    phone_number = fields.String()
    spend_usd = Money()


class ServiceSpendOut(SpendOut):
    today_usd = Money()
    this_month_usd = Money()
    by_tier = fields.Dict(
        keys=fields.String(),
        values=Money(),
        metadata={
            "description": "Each tier, and `deleted`: what texters deleted since cost. A "
            "texter's whole spend counts under their tier now, whatever tier they were on "
            "when they spent it: a texter upgraded from free moves their spend to premium."
        },
    )
    own_numbers_usd = Money(
        metadata={
            "description": "What receiving texts from our own numbers cost (no texter's):"
            " with `by_tier`, the total."
        }
    )
    top_spenders = fields.List(
        fields.Nested(TopSpenderOut), metadata={"description": "This month's, most first."}
    )


class UserCostOut(OutSchema):
    cost_usd = Money(metadata={"description": "USD spent on this texter, all time."})
    cost_this_month_usd = Money(metadata={"description": "USD spent this month (UTC)."})


class UserOut(UserCostOut):
    phone_number = fields.String()
    tier = fields.String(validate=Choice(Tier.values()))
    email = fields.String(allow_none=True)
    full_name = fields.String()
    last_active = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When the texter's latest request was taken up (their first "
            "text, until then); null for one staff or the API added who has not texted. "
            "Ordered by it, nulls come where the database puts them: last downward and "
            "first upward on SQLite, the other way round on PostgreSQL."
        },
    )
    total_requests = fields.Integer()
    monthly_requests = fields.Integer()
    rate_limit_reset = fields.DateTime()
    timezone = fields.String()
    preferences = JSONObjectOut()
    is_active = fields.Boolean()
    opted_out_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When the texter opted out (STOP), null while they may be texted. "
            "Only their own STOP and START change it."
        },
    )
    channel = fields.String(
        validate=Choice(Channel.values()),
        metadata={"description": "Where the texter last wrote from; answers go back there."},
    )
    last_whatsapp_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "Their last WhatsApp message: WhatsApp lets us write to them "
            "until WHATSAPP_WINDOW_HOURS after it."
        },
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    stats = fields.Nested(UserStatsOut)


class UserUpdateIn(InSchema):
    tier = Text(validate=Choice(Tier.values()), load_only=True)
    email = Email(allow_none=True, validate=validate.Length(max=254), load_only=True)
    full_name = Name(validate=validate.Length(max=100), load_only=True)
    timezone = TimeZone(load_only=True)
    preferences = JSONObject(load_only=True)
    is_active = JSONBoolean(load_only=True)


class UserCreateIn(UserUpdateIn):
    phone_number = Phone(required=True, load_only=True)


class SendMessageIn(InSchema):
    message = Text(
        required=True,
        validate=validate.Length(min=1, max=1600),
        load_only=True,
        metadata={
            "description": "Shaped for SMS before it is sent: one of which nothing is left "
            "(only spaces or invisible characters) is a 400; emoji alone are sent as written."
        },
    )


class SendMessageOut(OutSchema):
    message_sid = fields.String(allow_none=True)
    messages = fields.Integer(metadata={"description": "SMS messages the text was split into."})
    shortened = fields.Boolean(
        metadata={
            "description": "Whether the text was too long for the texter's plan (its "
            "SEGMENTS_<TIER>) and was cut to fit, as the admin's composer warns."
        }
    )


class UpdateTierIn(InSchema):
    tier = Text(required=True, validate=Choice(Tier.values()), load_only=True)
    reason = Prose(validate=validate.Length(max=500), load_only=True)


class UpdateTierOut(OutSchema):
    message = fields.String()
    old_tier = fields.String()
    new_tier = fields.String()


class TaskOut(OutSchema):
    id = fields.UUID()
    user_phone = fields.String()
    sms_content = fields.String()
    ai_response = fields.String(
        allow_none=True,
        metadata={
            "description": "The model's answer; an answer held for staff (refusal_reason "
            "held_for_staff) is null for a texter's token."
        },
    )
    category = fields.String(validate=Choice(Category.values()))
    status = fields.String(validate=Choice(TaskStatus.values()))
    refusal_reason = fields.String(
        allow_none=True,
        validate=Choice(RefusalReason.values()),
        metadata={"description": "Why a refused task (status refused) was not answered."},
    )
    message_sid = fields.String(allow_none=True)
    processing_time = FiniteFloat(allow_none=True)
    tokens_used = fields.Integer(allow_none=True)
    complexity_score = FiniteFloat(allow_none=True)
    success = fields.Boolean()
    error_message = fields.String(
        allow_none=True,
        metadata={"description": "Why it failed, for staff: null for a texter's token."},
    )
    completed_at = fields.DateTime(allow_none=True)
    metadata = JSONObjectOut(
        attribute="metadata_",
        metadata={
            "description": "The service's record of the answer; a texter's token reads only "
            "`sent`, `more`, `replying_to` and `category_given`."
        },
    )
    cost_usd = Money(metadata={"description": "USD: its model calls and its SMS."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TaskCreateIn(InSchema):
    user_phone = Phone(
        load_only=True, metadata={"description": "Required for staff; a texter's own number."}
    )
    sms_content = SmsText(
        required=True,
        validate=validate.Length(min=1, max=MAX_WHATSAPP_BODY_CHARS),
        load_only=True,
        metadata={
            "description": f"{SmsText.description} As long as a text on the texter's "
            "channel may be: 1,600 characters for an SMS texter, 4,096 for a WhatsApp one."
        },
    )
    category = Text(validate=Choice(Category.values()), load_only=True)


#: Refusing a text is the service's decision, made when it arrives; staff cannot set it.
_SETTABLE_STATUSES = [status for status in TaskStatus.values() if status != TaskStatus.REFUSED]


class TaskUpdateIn(InSchema):
    category = Text(validate=Choice(Category.values()), load_only=True)
    status = Text(validate=Choice(_SETTABLE_STATUSES), load_only=True)
    ai_response = Prose(allow_none=True, load_only=True)
    success = JSONBoolean(load_only=True)
    error_message = Prose(allow_none=True, load_only=True)
    processing_time = JSONNumber(
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_PROCESSING_SECONDS),
        load_only=True,
    )
    tokens_used = fields.Integer(allow_none=True, strict=True, validate=INT32, load_only=True)
    complexity_score = JSONNumber(
        allow_none=True, validate=validate.Range(min=0, max=1), load_only=True
    )
    metadata = JSONObject(data_key="metadata", attribute="metadata_", load_only=True)


class DailyStatOut(OutSchema):
    date = fields.String(metadata={"format": "date", "description": "A UTC day."})
    total = fields.Integer(metadata={"description": "Tasks taken on that day."})
    successful = fields.Integer()
    failed = fields.Integer()
    refused = fields.Integer(metadata={"description": "Texts refused for a limit, apart."})


class CategoryCountOut(OutSchema):
    category = fields.String(validate=Choice(Category.values()))
    count = fields.Integer()


class TaskAnalyticsOut(OutSchema):
    total_tasks = fields.Integer(metadata={"description": "Tasks taken on (refused ones apart)."})
    successful_tasks = fields.Integer()
    refused_tasks = fields.Integer(metadata={"description": "Texts refused for a limit."})
    success_rate = FiniteFloat()
    avg_processing_time = FiniteFloat(allow_none=True)
    avg_tokens_used = FiniteFloat(allow_none=True)
    category_breakdown = fields.Dict(keys=fields.String(), values=fields.Integer())
    daily_stats = fields.List(
        fields.Nested(DailyStatOut),
        metadata={
            "description": "30 days, oldest first, ending today or on `created_before` when "
            "that is earlier (fewer when it is within 30 days of 0001-01-01)."
        },
    )
    spend = fields.Nested(SpendOut, metadata={"description": "What these tasks cost."})


class ErrorLogOut(OutSchema):
    id = fields.UUID()
    user_phone = fields.String(allow_none=True)
    task_id = fields.UUID(allow_none=True)
    error_type = fields.String(validate=Choice(ErrorType.values()))
    error_message = fields.String()
    stack_trace = fields.String()
    timestamp = fields.DateTime()
    resolved = fields.Boolean()
    resolution_notes = fields.String()
    metadata = JSONObjectOut(attribute="metadata_")


class ErrorLogUpdateIn(InSchema):
    error_type = Text(validate=Choice(ErrorType.values()), load_only=True)
    error_message = Prose(validate=validate.Length(min=1), load_only=True)
    stack_trace = Prose(load_only=True)
    resolved = JSONBoolean(load_only=True)
    resolution_notes = Prose(load_only=True)
    metadata = JSONObject(data_key="metadata", attribute="metadata_", load_only=True)


class ErrorLogCreateIn(ErrorLogUpdateIn):
    error_type = Text(required=True, validate=Choice(ErrorType.values()), load_only=True)
    error_message = Prose(required=True, validate=validate.Length(min=1), load_only=True)
    user_phone = Phone(allow_none=True, load_only=True)
    task_id = Id(allow_none=True, load_only=True)


class ResolveIn(InSchema):
    resolution_notes = Prose(load_only=True)


class AnalyticsOut(OutSchema):
    total_users = fields.Integer()
    active_users_24h = fields.Integer()
    active_users_7d = fields.Integer()
    total_tasks = fields.Integer(metadata={"description": "Tasks taken on (refused ones apart)."})
    tasks_24h = fields.Integer()
    refused_tasks = fields.Integer(metadata={"description": "Texts refused for a limit."})
    success_rate = FiniteFloat()
    avg_response_time = FiniteFloat(allow_none=True)
    tier_distribution = fields.Dict(keys=fields.String(), values=fields.Integer())
    top_categories = fields.List(
        fields.Nested(CategoryCountOut),
        metadata={"description": "The five most asked, most first."},
    )
    spend = fields.Nested(ServiceSpendOut)


class ConversationOut(OutSchema):
    user_phone = fields.String()
    state = fields.String(
        validate=Choice(ConversationState.values()),
        metadata={"description": "ai, waiting (a person was asked for) or staff."},
    )
    held_by = fields.String(
        allow_none=True,
        metadata={"description": 'Username of the staff member holding it ("staff" for a texter).'},
    )
    last_message_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "The latest text either way or request taken up; null for a "
            "texter staff or the API added who has not texted and got no text."
        },
    )
    unread = fields.Integer(metadata={"description": "Texts held for staff not read yet."})


def _maybe(kind: type[fields.Field], description: str, **kwargs) -> fields.Field:
    """A field that only some entries have (null in the others)."""
    return kind(allow_none=True, metadata={"description": description}, **kwargs)


class MessageOut(OutSchema):
    id = fields.String()
    direction = fields.String(validate=Choice(["in", "out"]))
    author = fields.String(
        metadata={
            "description": "texter, ai, system, or the staff member's username "
            '("staff" when a texter reads it).'
        }
    )
    author_kind = fields.String(validate=Choice(["texter", "ai", "system", "staff"]))
    body = fields.String()
    created_at = fields.DateTime()
    status = fields.String(metadata={"description": "Delivery status out; the task's status in."})
    segments = fields.Integer()
    encoding = fields.String(
        validate=Choice([GSM_7, UCS_2, WHATSAPP_ENCODING]),
        metadata={"description": f"{WHATSAPP_ENCODING} for a message on WhatsApp."},
    )
    channel = fields.String(
        validate=Choice(Channel.values()),
        metadata={"description": "Where it was written: the texter's text, or our message."},
    )
    replying_to = _maybe(fields.String, "in: what the message a WhatsApp reply answers says.")


def _force(description: str) -> JSONBoolean:
    """Act on a conversation another staff member holds: the API's answer to the admin's
    confirm button (REST clients ask no questions; they say so up front or get a 409)."""
    return JSONBoolean(load_default=False, load_only=True, metadata={"description": description})


class TakeoverIn(InSchema):
    force = _force("Take it from the staff member who holds it (409 otherwise).")


def _shown_unread(description: str, **options) -> fields.Integer:
    """The `unread` count the caller was shown: texts held since then stay unread."""
    return fields.Integer(
        load_default=None,
        strict=True,
        load_only=True,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": description},
        **options,
    )


class ReleaseIn(InSchema):
    force = _force(
        "Hand it back to the AI even though another staff member holds it (409 otherwise)."
    )
    seen = _shown_unread(
        "The `unread` the caller was shown: staff who hand the conversation back have handled "
        "that many held texts, which are read; the newest held since then, which they never "
        "saw, is answered by the AI (once), the others its context. Without it, all are read.",
        data_key="unread",
    )


class ReadIn(InSchema):
    unread = _shown_unread(
        "The `unread` the reader was shown: that many are read, and texts "
        "held since then stay unread. Without it, all are read."
    )


class ExportEntryOut(OutSchema):
    """One entry of an export; the CSV's columns are the same, in this order."""

    phone_number = fields.String()
    created_at = fields.DateTime()
    direction = fields.String(
        validate=Choice(["in", "out", "model"]),
        metadata={"description": "in: their text; out: a message we sent; model: a model call."},
    )
    id = fields.UUID()
    kind = _maybe(fields.String, "out: why it was sent (reply, help, quota, staff, api...).")
    author = _maybe(
        fields.String,
        'texter, ai, system, or the staff member\'s username ("staff" when a texter reads it).',
    )
    channel = _maybe(fields.String, "out: sms or whatsapp.")
    body = _maybe(fields.String, "The text (in, out).")
    status = _maybe(fields.String, "in: the task's status; out: the delivery status.")
    refusal_reason = _maybe(
        fields.String,
        "in: why a refused text was not answered.",
        validate=Choice(RefusalReason.values()),
    )
    error = _maybe(
        fields.String, "Why the task or the message failed (null in a texter's own export)."
    )
    task_id = _maybe(fields.UUID, "The task the entry belongs to.")
    sid = _maybe(fields.String, "Twilio's MessageSid.")
    segments = _maybe(fields.Integer, "out: SMS segments.")
    model = _maybe(fields.String, "model: the model called.")
    prompt_tokens = _maybe(fields.Integer, "model: input tokens.")
    cached_tokens = _maybe(
        fields.Integer, "model: of the input tokens, those read from the prompt cache."
    )
    completion_tokens = _maybe(fields.Integer, "model: output tokens.")
    price_usd = Money(allow_none=True, metadata={"description": "out: the message's price."})
    price_estimated = _maybe(fields.Boolean, "out: our estimate; Twilio's price not in yet.")
    model_cost_usd = Money(allow_none=True, metadata={"description": "model: the call's price."})
    task_cost_usd = Money(
        allow_none=True, metadata={"description": "in: the task's cost_usd (calls and SMS)."}
    )
    cost_usd = Money(
        metadata={"description": "What this entry cost (out its price, model its cost, in 0)."}
    )
    media = _maybe(
        fields.String,
        "in: the pictures and voice notes sent with the text, one a line: a voice note with "
        "its transcript (the words of a text sent as one), why an attachment was not read.",
    )


class ExportTotalsOut(OutSchema):
    texts = fields.Integer(metadata={"description": "Texts from the texter."})
    refused = fields.Integer(metadata={"description": "Of those, refused (not answered)."})
    sent = fields.Integer(metadata={"description": "Messages sent to them."})
    model_calls = fields.Integer()
    sms_usd = Money()
    sms_estimated_usd = Money(metadata={"description": "Of sms_usd, still our estimate."})
    model_usd = Money()
    total_usd = Money()


class ExportOut(OutSchema):
    phone_number = fields.String()
    exported_at = fields.DateTime()
    entries = fields.List(fields.Nested(ExportEntryOut), metadata={"description": "Oldest first."})
    totals = fields.Nested(ExportTotalsOut)
