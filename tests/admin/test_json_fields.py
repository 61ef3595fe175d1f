"""Preferences and metadata in the admin: only JSON objects are saved, and whatever the
database already holds never breaks a page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ErrorLog, Task, User
from tests.admin.conftest import csrf_for
from tests.factories import make_error, make_staff, make_task, make_token, make_user

NOT_OBJECTS = ["[1, 2]", '"text"', "42", "null", "true"]
MESSAGE = "Enter a JSON object"


def new_user_form(client, preferences: str) -> dict:
    return {
        "csrf_token": csrf_for(client, "/admin/user/new/"),
        "phone_number": "+1 415 555 0100",
        "tier": "free",
        "is_active": "y",
        "timezone": "UTC",
        "total_requests": "0",
        "monthly_requests": "0",
        "rate_limit_reset": "2030-01-01 00:00:00",
        "preferences": preferences,
    }


def user_edit_form(client, user: User, preferences: str) -> dict:
    return {
        "csrf_token": csrf_for(client, f"/admin/user/edit/?id={quote(user.phone_number)}"),
        "tier": user.tier,
        "is_active": "y",
        "full_name": "Changed Name",
        "timezone": user.timezone,
        "total_requests": "0",
        "monthly_requests": "0",
        "rate_limit_reset": user.rate_limit_reset.strftime("%Y-%m-%d %H:%M:%S"),
        "preferences": preferences,
    }


def task_edit_form(client, task: Task, metadata: str) -> dict:
    return {
        "csrf_token": csrf_for(client, f"/admin/task/edit/?id={task.id}"),
        "sms_content": "changed question",
        "category": task.category,
        "status": task.status,
        "metadata_": metadata,
    }


def error_edit_form(client, error: ErrorLog, metadata: str) -> dict:
    return {
        "csrf_token": csrf_for(client, f"/admin/errorlog/edit/?id={error.id}"),
        "error_type": error.error_type,
        "error_message": "changed message",
        "stack_trace": "",
        "resolution_notes": "",
        "metadata_": metadata,
    }


def refused(response) -> bool:
    """The form came back (200, not the redirect of a save) with the field's error."""
    return response.status_code == 200 and MESSAGE in response.get_data(as_text=True)


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_creating_a_user_with_non_object_preferences_is_a_field_error(admin_client, value):
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, value))
    assert refused(response), response.status_code
    assert db.session.scalar(sa.select(sa.func.count(User.phone_number))) == 0


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_editing_a_users_preferences_to_a_non_object_is_a_field_error(admin_client, value):
    user = make_user(full_name="Ann", preferences={"language": "fr"})
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    response = admin_client.post(url, data=user_edit_form(admin_client, user, value))
    assert refused(response), response.status_code
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.full_name, saved.preferences) == ("Ann", {"language": "fr"})


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_editing_a_tasks_metadata_to_a_non_object_is_a_field_error(admin_client, value):
    task = make_task(sms_content="original", metadata_={"model": "m"})
    url = f"/admin/task/edit/?id={task.id}"
    response = admin_client.post(url, data=task_edit_form(admin_client, task, value))
    assert refused(response), response.status_code
    db.session.expire_all()
    saved = db.session.get(Task, task.id)
    assert (saved.sms_content, saved.metadata_) == ("original", {"model": "m"})


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_editing_an_errors_metadata_to_a_non_object_is_a_field_error(admin_client, value):
    error = make_error(error_message="original", metadata_={"code": 1})
    url = f"/admin/errorlog/edit/?id={error.id}"
    response = admin_client.post(url, data=error_edit_form(admin_client, error, value))
    assert refused(response), response.status_code
    db.session.expire_all()
    saved = db.session.get(ErrorLog, error.id)
    assert (saved.error_message, saved.metadata_) == ("original", {"code": 1})


def test_a_json_object_is_saved_and_a_blank_field_means_an_empty_one(admin_client):
    task = make_task(metadata_={"model": "m"})
    url = f"/admin/task/edit/?id={task.id}"
    form = task_edit_form(admin_client, task, '{"note": "checked", "tries": [1, 2]}')
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {"note": "checked", "tries": [1, 2]}
    assert admin_client.post(url, data=task_edit_form(admin_client, task, "")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {}


def store_raw(table: str, column: str, value: str, key: str, ident) -> None:
    """Put `value` (JSON text) in the column behind the models' back, as old rows or a
    hand-written SQL statement could have."""
    cast = "CAST(:value AS jsonb)" if db.engine.dialect.name == "postgresql" else ":value"
    db.session.execute(
        sa.text(f'UPDATE {table} SET "{column}" = {cast} WHERE {key} = :ident'),
        {"value": value, "ident": ident},
    )
    db.session.commit()
    db.session.expire_all()


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "null"])
def test_pages_show_rows_whose_stored_json_is_not_an_object(admin_client, value):
    user = make_user()
    task = make_task(user=user)
    error = make_error(user_phone=user.phone_number, task_id=task.id)
    store_raw("users", "preferences", value, "phone_number", user.phone_number)
    store_raw("users", "service_state", value, "phone_number", user.phone_number)
    store_raw("tasks", "metadata", value, "id", task.id.hex if _sqlite() else task.id)
    store_raw("error_logs", "metadata", value, "id", error.id.hex if _sqlite() else error.id)
    phone = quote(user.phone_number)
    for url in [
        "/admin/",
        "/admin/user/",
        f"/admin/user/details/?id={phone}",
        f"/admin/user/edit/?id={phone}",
        f"/admin/user/conversation/?id={phone}",
        "/admin/task/",
        f"/admin/task/details/?id={task.id}",
        f"/admin/task/edit/?id={task.id}",
        "/admin/errorlog/",
        f"/admin/errorlog/details/?id={error.id}",
        f"/admin/errorlog/edit/?id={error.id}",
    ]:
        assert admin_client.get(url).status_code == 200, url


def _sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def test_an_integer_too_long_to_read_in_json_is_a_field_error_without_pythons_advice(
    admin_client,
):
    """Regression: the form quoted Python's advice to its programmer ("use
    sys.set_int_max_str_digits() to increase the limit") for an integer of more than 4,300
    digits in a JSON field; it now says what the API says of one."""
    task = make_task(sms_content="original", metadata_={"model": "m"})
    url = f"/admin/task/edit/?id={task.id}"
    form = task_edit_form(admin_client, task, '{"tries": [' + "9" * 4301 + "]}")

    response = admin_client.post(url, data=form)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "More digits than any number this service takes (at most 4300)." in page
    assert "set_int_max_str_digits" not in page
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {"model": "m"}


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ('{"threshold": 1E-400}', "Too close to 0 for a float"),
        ('{"scores": [1, -2.5e-999]}', "Too close to 0 for a float"),
        (
            '{"threshold": 1E400}',
            "At threshold: Too large for a float (it would be read as Infinity)",
        ),
        ('{"score": NaN}', "At score: NaN and Infinity are not valid JSON numbers."),
        ('{"a": [Infinity]}', "At a.0: NaN and Infinity are not valid JSON numbers."),
        ('{"tier": "premium", "tier": "free"}', "A key is given twice in one JSON object"),
        ('{"a": {"b": 1, "b": 2}}', "A key is given twice in one JSON object"),
    ],
)
def test_a_json_field_refuses_what_it_could_not_save_as_typed(admin_client, typed, says):
    """Regression: 1E-400 was saved as 0, and of a key typed twice the last was saved, the
    other silently dropped; the form now refuses both as the API does, naming where."""
    user = make_user(full_name="Ann", preferences={"language": "fr"})
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"

    response = admin_client.post(url, data=user_edit_form(admin_client, user, typed))

    assert response.status_code == 200
    assert says in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).preferences == {"language": "fr"}


def test_a_json_fields_error_names_where_the_number_is(admin_client):
    task = make_task(sms_content="original", metadata_={"model": "m"})
    url = f"/admin/task/edit/?id={task.id}"
    form = task_edit_form(admin_client, task, '{"tries": [1, {"at": 1e-400}]}')

    page = admin_client.post(url, data=form).get_data(as_text=True)

    assert "tries.1.at" in page


def test_zero_written_with_an_exponent_is_zero_in_a_json_field(admin_client):
    task = make_task(metadata_={"model": "m"})
    url = f"/admin/task/edit/?id={task.id}"
    form = task_edit_form(admin_client, task, '{"threshold": 0e-400, "floor": -0.0E5}')

    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {"threshold": 0.0, "floor": 0.0}


def nested(levels: int) -> str:
    """A JSON object whose value lies `levels` objects deep: {"a": {"a": 1}} is 2."""
    return '{"a": ' * levels + "1" + "}" * levels


def test_a_json_field_takes_only_what_the_api_takes_back(admin_client, client):
    """Regression: preferences nested deeper than the API takes were saved, and a client
    that read them could not send them back unchanged (a 400, "nested too deeply")."""
    user = make_user(full_name="Ann", preferences={"language": "fr"})
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"

    deep = admin_client.post(url, data=user_edit_form(admin_client, user, nested(11)))
    deepest_taken = admin_client.post(url, data=user_edit_form(admin_client, user, nested(10)))

    assert deep.status_code == 200
    assert "nested at most 10 deep" in deep.get_data(as_text=True)
    assert deepest_taken.status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, user.phone_number).preferences
    sent_back = client.patch(
        f"/api/users/{quote(user.phone_number)}/",
        json={"preferences": stored},
        headers={"Authorization": f"Token {make_token(make_staff('ops', is_admin=True))}"},
    )
    assert sent_back.status_code == 200, sent_back.get_json()


def test_a_direction_override_in_metadata_shows_as_its_escape_and_saves_unchanged(admin_client):
    """Regression: the metadata box wrote a texter's quoted words as stored, so U+202E in them
    showed the rest of the box backwards; it is now JSON's own escape, which reads back as
    the same character: the kept key is saved as it was, beside the key staff added."""
    from tests.admin.conftest import form_as_shown

    task = make_task(metadata_={"replying_to": "see \u202emoc.elgoog"})
    url = f"/admin/task/edit/?id={task.id}"
    form = form_as_shown(admin_client, url)
    assert "\u202e" not in form["metadata_"]
    assert "\\u202emoc.elgoog" in form["metadata_"]

    edited = form["metadata_"].replace("{", '{"note": "checked", ', 1)
    assert admin_client.post(url, data={**form, "metadata_": edited}).status_code == 302

    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_ == {
        "replying_to": "see \u202emoc.elgoog",
        "note": "checked",
    }


@pytest.mark.parametrize("kind", ["task", "errorlog"])
def test_a_direction_override_in_metadata_shows_as_its_escape_on_the_details_page(
    admin_client, kind
):
    """Regression: the Details page wrote metadata as stored, so U+202E in a texter's quoted
    words showed the rest of it backwards, where every other text there is escaped."""
    metadata = {"replying_to": "see \u202emoc.elgoog"}
    row = make_task(metadata_=metadata) if kind == "task" else make_error(metadata_=metadata)

    page = admin_client.get(f"/admin/{kind}/details/?id={row.id}").get_data(as_text=True)

    assert "\u202e" not in page
    assert "see \\u202emoc.elgoog" in page
