"""Preferences, service state and metadata hold JSON objects: the models refuse anything else,
and a value that got into the database some other way never breaks the service."""

from __future__ import annotations

import json
import math
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.inbound import receive_sms
from sms_agent.models import ErrorLog, OutboundMessage, Task, User, utcnow
from sms_agent.models.types import (
    REPAIRED_KEY,
    JSONObject,
    _finite,
    as_json_object,
    first_problem,
    json_object_problem,
)
from tests.factories import make_task, make_user
from tests.standins import inbound_form

NOT_OBJECTS = [[1, 2], "text", 42, None, True, {"score": math.nan}, {"a": [math.inf]}]
PHONE = "+15551230000"


@pytest.mark.parametrize("value", NOT_OBJECTS)
@pytest.mark.parametrize(
    ("model", "attribute", "required"),
    [
        (User, "preferences", {"phone_number": PHONE}),
        (User, "service_state", {"phone_number": PHONE}),
        (Task, "metadata_", {"sms_content": "hi"}),
        (ErrorLog, "metadata_", {"error_type": "system_error", "error_message": "x"}),
    ],
)
def test_the_models_refuse_anything_but_a_json_object(app, model, attribute, required, value):
    with pytest.raises(ValueError, match="JSON object|NaN"):
        model(**required, **{attribute: value})
    row = model(**required)
    with pytest.raises(ValueError, match="JSON object|NaN"):
        setattr(row, attribute, value)


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_a_bulk_insert_cannot_store_a_non_object_either(app, value):
    rows = [{"phone_number": PHONE, "tier": "free", "preferences": value}]
    with pytest.raises(StatementError, match="JSON object|NaN"):
        db.session.execute(sa.insert(User), rows)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(User.phone_number))) == 0


@pytest.mark.parametrize("attribute", ["processing_time", "complexity_score"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_task_refuses_a_number_that_is_not_finite(app, attribute, value):
    with pytest.raises(ValueError, match="finite"):
        Task(sms_content="hi", **{attribute: value})


def store_raw(table: str, column: str, value: str, key: str, ident) -> None:
    """Put JSON text in the column behind the models' back, as old rows or a hand-written
    SQL statement could have."""
    postgresql = db.engine.dialect.name == "postgresql"
    placeholder = "CAST(:value AS jsonb)" if postgresql else ":value"
    if isinstance(ident, uuid.UUID) and not postgresql:
        ident = ident.hex  # how SQLAlchemy's Uuid is stored on SQLite
    db.session.execute(
        sa.text(f'UPDATE {table} SET "{column}" = {placeholder} WHERE {key} = :ident'),
        {"value": value, "ident": ident},
    )
    db.session.commit()
    db.session.expire_all()


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("[1, 2]", {"_repaired": [1, 2]}),
        ('"text"', {"_repaired": "text"}),
        ("7", {"_repaired": 7}),
        ("null", {}),
        ('{"language": "fr"}', {"language": "fr"}),
    ],
)
def test_a_stored_non_object_is_read_as_an_object_that_keeps_it(app, stored, read):
    make_user(PHONE)
    store_raw("users", "preferences", stored, "phone_number", PHONE)
    assert db.session.get(User, PHONE).preferences == read


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "null"])
def test_the_worker_answers_a_texter_whose_stored_json_is_not_an_object(app, value):
    user = make_user(PHONE)
    earlier = make_task(
        user,
        sms_content="What is the capital of France?",
        ai_response="Paris.",
        status="completed",
        success=True,
        created_at=utcnow() - timedelta(minutes=5),
    )
    store_raw("tasks", "metadata", value, "id", earlier.id)
    store_raw("users", "preferences", value, "phone_number", PHONE)
    store_raw("users", "service_state", value, "phone_number", PHONE)
    task = make_task(db.session.get(User, PHONE), sms_content="And of Italy?")

    assert pipeline.answer(task.id) == "answered"

    db.session.rollback()
    assert db.session.scalars(sa.select(ErrorLog)).all() == []
    kinds = db.session.scalars(sa.select(OutboundMessage.kind)).all()
    # The broken bookkeeping lost the record of the program notice, so it comes again.
    assert "reply" in kinds and "apology" not in kinds
    assert db.session.get(Task, task.id).status == "completed"


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "null"])
def test_a_texter_whose_service_state_is_not_an_object_can_still_text(app, value):
    make_user(PHONE)
    store_raw("users", "service_state", value, "phone_number", PHONE)

    help_reply = receive_sms(inbound_form("HELP", From=PHONE))
    question = receive_sms(inbound_form("What is 2+2?", From=PHONE))
    db.session.commit()

    assert help_reply.notice == "help"
    assert question.outcome == "task"


def test_a_value_shared_twice_in_one_object_is_still_a_json_object(app):
    shared = {"tries": [1, 2]}
    task = make_task(metadata_={"first": shared, "second": shared})
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {"first": shared, "second": shared}


class Text(str):
    pass


def _cycle() -> dict:
    cycle: dict = {"a": 1}
    cycle["self"] = cycle
    return cycle


_SHARED = [1, "two"]
CHECKED = [
    {},
    {"sids": ["SM" + "a" * 32] * 20, "quota": {"notice": None, "count": 3, "on": True}},
    {"price": 0.0075, "parts": [{"body": "héllo 👋", "n": 1}], "nested": [[[]], ()]},
    {"shared": _SHARED, "again": _SHARED},
    {"nul": "a\x00b"},
    {"deep": {"deeper": ["fine", "not\x00fine"]}},
    {"nul key\x00": 1},
    {"surrogate": "\ud800"},
    {"score": math.nan},
    {"score": [math.inf]},
    {1: "not a text key"},
    {"when": utcnow()},
    {"tags": {"a", "b"}},
    {"subclass": Text("fine")},
    {Text("subclass key"): 1},
    {"flag": True, "none": None, "big": 10**30},
    _cycle(),
]


@pytest.mark.parametrize("value", CHECKED)
def test_the_quick_check_of_a_json_object_answers_as_the_full_walk(value):
    """Every JSON write is checked twice (validator, column), so plain values take a quick
    path; whatever it answers must be what reading every item answers."""
    assert json_object_problem(value) == first_problem(value)


READ = [
    {},
    {"language": "fr", "count": 3, "on": True, "none": None},
    {"score": math.nan, "name": "x"},
    {"nested": {"score": math.inf}},
    {"list": [1, 2.5, math.nan]},
    {"big": 10**30, "text": Text("subclass")},
    [1, 2],
    "text",
    None,
]


@pytest.mark.parametrize("value", READ)
def test_the_quick_read_of_a_flat_json_object_answers_as_the_full_walk(value):
    """A flat object of text, whole numbers, booleans and nulls is served as it is (every
    user on every API page has one); whatever it answers must be what the full walk does."""
    full = {} if value is None else _finite(value)
    full = full if isinstance(full, dict) else {REPAIRED_KEY: full}
    assert as_json_object(value) == full


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(value=json_values)
def test_sqlite_json_text_reads_as_the_standard_library_parses_it(value):
    """SQLite's stored JSON goes through a quicker parser: for any text the standard
    library's encoder writes (NaN and Infinity, integers beyond 64 bits, lone surrogates
    included), the read is what the standard library's parse gives."""
    text = json.dumps(value)
    read = JSONObject().result_processor(sqlite.dialect(), None)(text)
    expected = as_json_object(json.loads(text))
    assert json.dumps(read, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert _types(read) == _types(expected)


def _types(value):
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value)


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ('{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),
        ('{"score": NaN}', {"score": None}),
        ('{"language": "fr", "count": 3}', {"language": "fr", "count": 3}),
    ],
)
def test_a_stored_json_object_reads_back_exactly(app, stored, read):
    if "NaN" in stored and db.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's JSON holds no NaN")
    make_user(PHONE)
    store_raw("users", "preferences", stored, "phone_number", PHONE)
    preferences = db.session.get(User, PHONE).preferences
    assert preferences == read
    assert _types(preferences) == _types(read)
