"""The API's response schemas take the values their fields would return unchanged directly
(issue 17's lists): what they dump is exactly what marshmallow's own dump gives, value for
value, whatever the value's type or the field's options."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import marshmallow
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from marshmallow import fields

from sms_agent.api.fields import FiniteFloat, JSONObjectOut
from sms_agent.api.schemas import Money, OutSchema
from tests.factories import make_task, make_user


class Colour(enum.StrEnum):
    RED = "red"


class Stamp(datetime):
    """A datetime subclass: not taken directly."""


class Mixed(OutSchema):
    text = fields.String(allow_none=True)
    number = fields.Integer(allow_none=True)
    number_as_text = fields.Integer(as_string=True)
    flag = fields.Boolean(allow_none=True)
    moment = fields.DateTime(allow_none=True)
    rfc_moment = fields.DateTime(format="rfc")
    renamed = fields.String(data_key="shown_as")
    elsewhere = fields.String(attribute="source")
    with_default = fields.Integer(dump_default=7)
    nested = fields.Nested(lambda: Inner(), allow_none=True)
    hooked = fields.Nested(lambda: Hooked(), allow_none=True)
    many_nested = fields.Nested(lambda: Inner(), many=True)
    money = Money(allow_none=True)
    rate = FiniteFloat(allow_none=True)
    names = fields.List(fields.String(), allow_none=True)
    preferences = JSONObjectOut()


class Inner(OutSchema):
    name = fields.String()
    count = fields.Integer()


class Hooked(Inner):
    """A nested schema with its own hook: dumped by marshmallow's path, hook and all."""

    @marshmallow.post_dump
    def shout(self, data, **_kwargs):
        return {**data, "name": str(data.get("name")).upper()}


MOMENT = datetime(2026, 12, 6, 21, 0, 5, 123456, tzinfo=UTC)
ROWS = [
    {
        "text": "plain",
        "number": 3,
        "number_as_text": 4,
        "flag": True,
        "moment": MOMENT,
        "rfc_moment": MOMENT,
        "renamed": "r",
        "source": "s",
        "nested": {"name": "n", "count": 2},
        "hooked": {"name": "n", "count": 2},
        "many_nested": [{"name": "a", "count": 1}],
        "money": Decimal("0.009360"),
        "rate": 87.5,
        "names": ["coding", "general"],
        "preferences": {"lang": "fr"},
    },
    {
        "text": Colour.RED,  # a str subclass
        "number": True,  # a bool is no int here: marshmallow makes it 1
        "number_as_text": 0,
        "flag": 1,  # truthy, not a bool
        "moment": Stamp(2026, 1, 2, tzinfo=timezone(timedelta(hours=-5))),
        "rfc_moment": MOMENT,
        "renamed": None,
        "source": None,
        "with_default": None,
        "nested": None,
        "hooked": None,
        "money": Decimal("1.23456789"),  # rounded to six places
        "rate": float("nan"),  # null
        "names": ["ok", 3, None, Colour.RED],  # not all text
        "preferences": None,  # an empty object
    },
    {
        "nested": {"name": Colour.RED, "count": "4"},  # converted inside the nested one too
        "money": 2,  # a whole number of dollars
        "rate": 3,  # a whole number, made a float
        "names": [],
        "preferences": {"bad": float("inf")},  # what no reader sees (as_json_object)
    },
    {"text": None, "number": None, "flag": None, "moment": None},  # the rest missing
    {"text": 12, "number": "5", "flag": "yes", "moment": MOMENT.replace(tzinfo=None)},
]


@pytest.fixture
def marshmallows_own(monkeypatch):
    """Dumps as marshmallow alone makes them, for the same schemas."""

    def dump(schema: marshmallow.Schema, obj):
        with monkeypatch.context() as patched:
            patched.setattr(OutSchema, "_serialize", marshmallow.Schema._serialize)
            return schema.dump(obj)

    return dump


@pytest.mark.parametrize("row", ROWS)
def test_a_dict_dumps_as_marshmallow_dumps_it(row, marshmallows_own):
    assert Mixed().dump(row) == marshmallows_own(Mixed(), row)


@pytest.mark.parametrize("row", ROWS)
def test_an_object_dumps_as_marshmallow_dumps_it(row, marshmallows_own):
    obj = SimpleNamespace(**row)
    assert Mixed().dump(obj) == marshmallows_own(Mixed(), obj)


PAGES = [
    "/api/users/?page_size=100",
    "/api/tasks/?page_size=100",
    "/api/errors/",
    "/api/analytics/",
    "/api/tasks/analytics/",
    "/api/conversations/",
]


def test_the_lists_answer_as_marshmallow_alone_would(client, admin_headers, monkeypatch):
    opted_out = make_user("+15551230002", email=None, opted_out_at=MOMENT)
    make_task(user=opted_out, success=True, processing_time=1.5, category="coding")
    make_task(user=make_user("+15551230003", email="a@example.com"), success=False)
    answers = {path: client.get(path, headers=admin_headers) for path in PAGES}
    monkeypatch.setattr(OutSchema, "_serialize", marshmallow.Schema._serialize)
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        assert answer.get_json() == client.get(path, headers=admin_headers).get_json(), path


@given(amount=st.decimals(allow_nan=True, allow_infinity=True) | st.decimals(places=8))
@example(amount=Decimal("1E+30"))  # too many digits to quantize: the same refusal too
def test_an_amount_of_money_dumps_as_its_field_writes_it(amount):
    """Amounts are written directly (quantized to six places, fixed point), the field's
    own way for those that are not finite: the same text, or the same refusal."""
    assert _outcome(lambda: Mixed().dump({"money": amount})["money"]) == _outcome(
        lambda: Money(allow_none=True)._serialize(amount, "money", None)
    )


def _outcome(write):
    try:
        return write()
    except Exception as error:  # noqa: BLE001 (the refusal is what is compared)
        return type(error)
