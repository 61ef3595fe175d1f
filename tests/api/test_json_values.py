"""JSON the API takes and gives: preferences and metadata are objects, numbers are finite,
and nothing already in the database makes a list or a record fail."""

from __future__ import annotations

import math
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ErrorLog, Task, User
from tests.api.test_errors import assert_error
from tests.factories import make_error, make_task, make_user

PHONE = "+15550200123"
NOT_OBJECTS = [[1, 2], "text", 42, None, True]


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_creating_a_user_with_non_object_preferences_is_a_400(client, admin_headers, value):
    body = {"phone_number": PHONE, "preferences": value}
    response = client.post("/api/users/", json=body, headers=admin_headers)
    assert "preferences" in assert_error(response, 400)["details"]
    assert db.session.get(User, PHONE) is None


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_changing_preferences_to_a_non_object_is_a_400(client, admin_headers, value):
    make_user(PHONE, preferences={"language": "fr"})
    response = client.patch(
        f"/api/users/{quote(PHONE)}/", json={"preferences": value}, headers=admin_headers
    )
    assert "preferences" in assert_error(response, 400)["details"]
    db.session.expire_all()
    assert db.session.get(User, PHONE).preferences == {"language": "fr"}


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_changing_a_tasks_metadata_to_a_non_object_is_a_400(client, admin_headers, value):
    task = make_task(make_user(PHONE), metadata_={"model": "m"})
    url = f"/api/tasks/{task.id}/"
    response = client.patch(url, json={"metadata": value}, headers=admin_headers)
    assert "metadata" in assert_error(response, 400)["details"]
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {"model": "m"}


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_error_log_metadata_must_be_an_object(client, admin_headers, value):
    error = make_error(metadata_={"code": 1})
    created = client.post(
        "/api/errors/",
        json={"error_type": "system_error", "error_message": "x", "metadata": value},
        headers=admin_headers,
    )
    changed = client.patch(
        f"/api/errors/{error.id}/", json={"metadata": value}, headers=admin_headers
    )
    assert "metadata" in assert_error(created, 400)["details"]
    assert "metadata" in assert_error(changed, 400)["details"]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(ErrorLog.id))) == 1
    assert db.session.get(ErrorLog, error.id).metadata_ == {"code": 1}


# NaN and Infinity are not JSON, though Python's parser takes them.
@pytest.mark.parametrize(
    ("body", "details"),
    [
        ('{"complexity_score": NaN}', {"complexity_score": ["NOT_FINITE"]}),
        ('{"processing_time": Infinity}', {"processing_time": ["NOT_FINITE"]}),
        ('{"metadata": {"score": -Infinity}}', {"metadata": {"score": ["NOT_FINITE"]}}),
        ('{"metadata": {"a": [1, {"b": NaN}]}}', {"metadata": {"a": {"1": {"b": ["NOT_FINITE"]}}}}),
        ('{"metadata": {}, "success": true, "x": [NaN]}', {"x": {"0": ["NOT_FINITE"]}}),
    ],
)
def test_nan_and_infinity_anywhere_in_a_body_are_a_400(client, admin_headers, body, details):
    task = make_task(make_user(PHONE), metadata_={"model": "m"})
    response = client.patch(
        f"/api/tasks/{task.id}/", data=body, content_type="application/json", headers=admin_headers
    )
    error = assert_error(response, 400)
    assert "NaN" in error["error"] and "Infinity" in error["error"]
    assert error["details"] == _expected(details, error)
    db.session.expire_all()
    saved = db.session.get(Task, task.id)
    assert saved.metadata_ == {"model": "m"} and saved.complexity_score is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"processing_time": 1e999}', ["processing_time"]),
        ('{"metadata": {"a": [1, -2E400]}}', ["metadata", "a", "1"]),
    ],
)
def test_a_number_too_large_for_a_float_is_a_400_saying_so(client, admin_headers, body, path):
    """Regression: 1e999 overflows to Infinity as Python reads it, and the 400 said "NaN and
    Infinity are not valid JSON numbers." of a number the client wrote with digits."""
    task = make_task(make_user(PHONE), metadata_={"model": "m"})
    response = client.patch(
        f"/api/tasks/{task.id}/", data=body, content_type="application/json", headers=admin_headers
    )
    error = assert_error(response, 400)
    details = error["details"]
    for key in path:
        details = details[key]
    assert details == [
        "Too large for a float (it would be read as Infinity): "
        "send a number of at most 1.7976931348623157e+308 either way."
    ]
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {"model": "m"}


def _expected(details, error):
    """`details` with each placeholder message replaced by the message the API gives."""
    [message] = _leaves(error["details"])
    return _replace(details, message)


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for branch in tree.values() for leaf in _leaves(branch)]
    return tree


def _replace(tree, message):
    if isinstance(tree, dict):
        return {key: _replace(branch, message) for key, branch in tree.items()}
    return [message]


@pytest.mark.parametrize(
    "url_and_body",
    [
        ("POST", "/api/users/", '{"phone_number": "+15550200999", "preferences": {"a": NaN}}'),
        ("PATCH", f"/api/users/{quote(PHONE)}/", '{"preferences": {"a": [Infinity]}}'),
        ("PATCH", f"/api/users/{quote(PHONE)}/", '{"preferences": {"a": -Infinity}}'),
        (
            "POST",
            "/api/errors/",
            '{"error_type": "system_error", "error_message": "x", "metadata": {"n": NaN}}',
        ),
    ],
)
def test_every_write_refuses_nan(client, admin_headers, url_and_body):
    method, url, body = url_and_body
    make_user(PHONE, preferences={"language": "fr"})
    response = client.open(
        url, method=method, data=body, content_type="application/json", headers=admin_headers
    )
    assert_error(response, 400)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(User.phone_number))) == 1
    assert db.session.get(User, PHONE).preferences == {"language": "fr"}
    assert db.session.scalar(sa.select(sa.func.count(ErrorLog.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def store_raw(table: str, column: str, value, key: str, ident, *, json: bool = True) -> None:
    """Put `value` in the column behind the models' back, as old rows or a hand-written SQL
    statement could have."""
    postgresql = db.engine.dialect.name == "postgresql"
    placeholder = "CAST(:value AS jsonb)" if json and postgresql else ":value"
    if isinstance(ident, uuid.UUID) and not postgresql:
        ident = ident.hex  # how SQLAlchemy's Uuid is stored on SQLite
    db.session.execute(
        sa.text(f'UPDATE {table} SET "{column}" = {placeholder} WHERE {key} = :ident'),
        {"value": value, "ident": ident},
    )
    db.session.commit()
    db.session.expire_all()


@pytest.mark.parametrize("value", [0, 1, "false", "true", "no", "off"])
@pytest.mark.parametrize(
    ("kind", "field"),
    [("user", "is_active"), ("task", "success"), ("error", "resolved"), ("takeover", "force")],
)
def test_a_body_boolean_is_true_or_false(client, admin_headers, kind, field, value):
    """Regression: the document says boolean, but 0, "false" or "off" in a body were read
    as one (schemathesis: PATCH errors/ with "resolved": 0 accepted). A client that sent
    one believed the document looser than it is, or had sent what it did not mean. The
    refusal was "Not a valid boolean.", which did not say what is one in a body."""
    user = make_user(PHONE, is_active=True)
    task = make_task(user, status="completed", success=True)
    error = make_error(resolved=True)
    url = {
        "user": f"/api/users/{quote(PHONE)}/",
        "task": f"/api/tasks/{task.id}/",
        "error": f"/api/errors/{error.id}/",
        "takeover": f"/api/users/{quote(PHONE)}/takeover/",
    }[kind]
    send = client.post if kind == "takeover" else client.patch

    response = send(url, json={field: value}, headers=admin_headers)

    assert assert_error(response, 400)["details"] == {
        field: ["Not a boolean: send true or false, unquoted (JSON's, not a string or number)."]
    }
    db.session.expire_all()
    assert (user.is_active, task.success, error.resolved) == (True, True, True)


@pytest.mark.parametrize("value", ["2.5", True, "1e3"])
@pytest.mark.parametrize("field", ["processing_time", "complexity_score"])
def test_a_body_number_is_a_json_number(client, admin_headers, field, value):
    """Regression: "2.5" and "1e3" were read as numbers, where the document says number."""
    task = make_task(make_user(PHONE), processing_time=0.5, complexity_score=0.5)

    response = client.patch(f"/api/tasks/{task.id}/", json={field: value}, headers=admin_headers)

    assert assert_error(response, 400)["details"] == {field: ["Not a valid number."]}
    db.session.expire_all()
    assert (task.processing_time, task.complexity_score) == (0.5, 0.5)


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "null", "7"])
def test_lists_and_records_survive_non_object_json_in_the_database(client, admin_headers, value):
    user = make_user(PHONE)
    task = make_task(user)
    error = make_error(user_phone=PHONE, task_id=task.id)
    store_raw("users", "preferences", value, "phone_number", PHONE)
    store_raw("users", "service_state", value, "phone_number", PHONE)
    store_raw("tasks", "metadata", value, "id", task.id)
    store_raw("error_logs", "metadata", value, "id", error.id)

    for url, field in [
        ("/api/users/", "preferences"),
        (f"/api/users/{quote(PHONE)}/", "preferences"),
        ("/api/tasks/", "metadata"),
        (f"/api/tasks/{task.id}/", "metadata"),
        ("/api/errors/", "metadata"),
        (f"/api/errors/{error.id}/", "metadata"),
    ]:
        response = client.get(url, headers=admin_headers)
        assert response.status_code == 200, (url, response.get_data(as_text=True))
        body = response.get_json()
        record = body["results"][0] if "results" in body else body
        assert isinstance(record[field], dict), (url, record[field])


def test_a_non_finite_number_in_the_database_is_served_as_null(client, admin_headers):
    user = make_user(PHONE)
    task = make_task(user, success=True, status="completed")
    store_raw("tasks", "processing_time", math.inf, "id", task.id, json=False)
    store_raw("tasks", "complexity_score", -math.inf, "id", task.id, json=False)

    responses = [
        client.get(url, headers=admin_headers)
        for url in [
            "/api/tasks/",
            f"/api/tasks/{task.id}/",
            "/api/tasks/analytics/",
            "/api/users/",
            f"/api/users/{quote(PHONE)}/",
            "/api/analytics/",
        ]
    ]

    for response in responses:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "Infinity" not in text and "NaN" not in text, text
    served = responses[1].get_json()
    assert served["processing_time"] is None and served["complexity_score"] is None
    assert responses[2].get_json()["avg_processing_time"] is None
    assert responses[4].get_json()["stats"]["avg_response_time"] is None
    assert responses[5].get_json()["avg_response_time"] is None


def test_nan_kept_inside_stored_json_is_served_as_null(client, admin_headers):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's jsonb cannot hold NaN at all")
    task = make_task(make_user(PHONE))
    store_raw("tasks", "metadata", '{"score": NaN, "list": [Infinity]}', "id", task.id)

    response = client.get(f"/api/tasks/{task.id}/", headers=admin_headers)

    assert response.status_code == 200
    assert "NaN" not in response.get_data(as_text=True)
    assert response.get_json()["metadata"] == {"score": None, "list": [None]}


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ('{"tier": "premium", "tier": "free"}', {"tier": ["TWICE"]}),
        ('{"preferences": {"lang": "fr", "lang": "de"}}', {"preferences": {"lang": ["TWICE"]}}),
        (
            '{"preferences": {"a": [{"b": 1, "b": 2}]}}',
            {"preferences": {"a": {"0": {"b": ["TWICE"]}}}},
        ),
    ],
)
def test_a_key_given_twice_in_a_body_is_a_400_naming_it(client, admin_headers, body, details):
    """Regression: the last of the two was taken silently (a PATCH of tier "premium" then
    "free" downgraded the texter), as a query parameter given twice no longer is."""
    make_user(PHONE, tier="premium", preferences={"lang": "en"})

    response = client.patch(
        f"/api/users/{quote(PHONE)}/",
        data=body,
        content_type="application/json",
        headers=admin_headers,
    )

    error = assert_error(response, 400)
    assert "twice" in error["error"]
    assert error["details"] == _expected(details, error)
    db.session.expire_all()
    saved = db.session.get(User, PHONE)
    assert saved.tier == "premium" and saved.preferences == {"lang": "en"}


# Python's parser reads a number too small for a float as 0 (and -0), without a word.
@pytest.mark.parametrize(
    ("body", "details"),
    [
        ('{"processing_time": 1E-400}', {"processing_time": ["UNDERFLOW"]}),
        ('{"complexity_score": -2.5e-999}', {"complexity_score": ["UNDERFLOW"]}),
        (
            '{"metadata": {"a": [0, {"b": 1e-324}]}}',
            {"metadata": {"a": {"1": {"b": ["UNDERFLOW"]}}}},
        ),
    ],
)
def test_a_number_too_small_for_a_float_is_a_400_not_zero(client, admin_headers, body, details):
    """Regression: 1E-400 was taken as 0 and stored, where the client sent a number
    that is not 0."""
    task = make_task(make_user(PHONE), metadata_={"model": "m"}, processing_time=2.5)
    response = client.patch(
        f"/api/tasks/{task.id}/", data=body, content_type="application/json", headers=admin_headers
    )
    error = assert_error(response, 400)
    assert error["details"] == _expected(details, error)
    db.session.expire_all()
    saved = db.session.get(Task, task.id)
    assert (saved.processing_time, saved.complexity_score) == (2.5, None)


@pytest.mark.parametrize("zero", ["0e-400", "-0.0E-999", "0.000e5", "5e-324"])
def test_zero_and_the_smallest_float_written_any_way_are_taken(client, admin_headers, zero):
    task = make_task(make_user(PHONE))
    response = client.patch(
        f"/api/tasks/{task.id}/",
        data=f'{{"processing_time": {zero}}}',
        content_type="application/json",
        headers=admin_headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["processing_time"] == float(zero)


TOO_LONG = "More digits than any number this service takes (at most 4300)."
DIGITS = "1" * 5000


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (f'{{"tokens_used": {DIGITS}}}', {"tokens_used": [TOO_LONG]}),
        (f'{{"processing_time": -{DIGITS}}}', {"processing_time": [TOO_LONG]}),
        (f'{{"metadata": {{"a": [1, {DIGITS}]}}}}', {"metadata": {"a": {"1": [TOO_LONG]}}}),
    ],
    ids=["tokens_used", "processing_time", "metadata"],
)
def test_an_integer_too_long_to_read_is_a_400_in_the_apis_words(
    client, admin_headers, body, details
):
    """Regression: an integer of more than 4300 digits was "Malformed JSON." quoting
    Python's advice to the programmer ("use sys.set_int_max_str_digits()"), naming no field."""
    task = make_task(make_user(PHONE), tokens_used=7)
    response = client.patch(
        f"/api/tasks/{task.id}/", data=body, content_type="application/json", headers=admin_headers
    )
    error = assert_error(response, 400)
    assert error["details"] == details
    assert "sys." not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Task, task.id).tokens_used == 7


def test_an_integer_of_4300_digits_is_read_as_written(client, admin_headers):
    task = make_task(make_user(PHONE))
    body = f'{{"metadata": {{"big": -{"9" * 4300}}}}}'
    response = client.patch(
        f"/api/tasks/{task.id}/", data=body, content_type="application/json", headers=admin_headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["metadata"]["big"] == -int("9" * 4300)
