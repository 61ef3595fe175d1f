"""/api/errors/: staff triage error logs; texters may not see them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ErrorLog, User, utcnow
from tests.factories import make_error, make_task, make_user

PHONE = "+15550200123"


def test_list_errors_newest_first(client, admin_headers):
    old = make_error(timestamp=utcnow() - timedelta(days=2))
    new = make_error(error_type="twilio_error")

    body = client.get("/api/errors/", headers=admin_headers).get_json()

    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(new.id), str(old.id)]
    assert body["results"][0]["error_type"] == "twilio_error"


def test_create_error_with_user_and_task(client, admin_headers):
    user = make_user(PHONE)
    task = make_task(user)

    response = client.post(
        "/api/errors/",
        json={
            "error_type": "validation_error",
            "error_message": "Body was empty",
            "user_phone": PHONE,
            "task_id": str(task.id),
            "metadata": {"field": "Body"},
        },
        headers=admin_headers,
    )

    assert response.status_code == 201
    error = db.session.get(ErrorLog, uuid.UUID(response.get_json()["id"]))
    assert error.user_phone == PHONE and error.task_id == task.id
    assert error.metadata_ == {"field": "Body"} and not error.resolved


def test_an_error_about_one_texters_task_filed_under_another_is_400(client, admin_headers):
    """Regression: it was stored, and showed on both texters' pages, each about the wrong
    person."""
    make_user(PHONE)
    someone_elses = make_task(make_user("+15550200999"))
    payload = {"error_type": "system_error", "error_message": "x", "user_phone": PHONE}
    response = client.post(
        "/api/errors/", json={**payload, "task_id": str(someone_elses.id)}, headers=admin_headers
    )
    assert response.status_code == 400
    assert response.get_json()["details"]["task_id"] == [
        f"Task {someone_elses.id} is not from the user {PHONE}."
    ]
    assert db.session.scalar(sa.select(sa.func.count(ErrorLog.id))) == 0


@pytest.mark.parametrize("user_phone", [{}, {"user_phone": None}], ids=["left out", "null"])
def test_an_error_filed_with_a_task_alone_is_its_texters(client, admin_headers, user_phone):
    """Regression: it was stored under no texter, so `?user_phone=` did not list it and, the
    texter deleted, their number stayed in its message (the deletion redacts only the error
    logs under their number)."""
    task = make_task(make_user(PHONE))
    payload = {"error_type": "twilio_error", "error_message": f"The 'To' number {PHONE} failed"}
    response = client.post(
        "/api/errors/",
        json={**payload, **user_phone, "task_id": str(task.id)},
        headers=admin_headers,
    )
    assert response.status_code == 201
    assert response.get_json()["user_phone"] == PHONE
    listed = client.get("/api/errors/?user_phone=%2B15550200123", headers=admin_headers)
    assert [row["id"] for row in listed.get_json()["results"]] == [response.get_json()["id"]]

    assert client.delete("/api/users/%2B15550200123/", headers=admin_headers).status_code == 204
    assert PHONE not in db.session.scalars(sa.select(ErrorLog.error_message)).one()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"error_message": "x"}, "error_type"),
        ({"error_type": "kaboom", "error_message": "x"}, "error_type"),
        ({"error_type": "system_error"}, "error_message"),
        ({"error_type": "system_error", "error_message": "x", "user_phone": PHONE}, "user_phone"),
        (
            {"error_type": "system_error", "error_message": "x", "task_id": str(uuid.uuid4())},
            "task_id",
        ),
        ({"error_type": "system_error", "error_message": "x", "task_id": "nope"}, "task_id"),
        ({"error_type": "system_error", "error_message": "x", "metadata": "text"}, "metadata"),
    ],
)
def test_create_error_with_bad_fields_is_400(client, admin_headers, payload, field):
    response = client.post("/api/errors/", json=payload, headers=admin_headers)
    assert response.status_code == 400
    assert field in response.get_json()["details"]
    assert db.session.scalar(sa.select(sa.func.count(ErrorLog.id))) == 0


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if char.isdigit() else char for char in text)


@pytest.mark.parametrize(
    "written",
    [
        fullwidth,
        lambda id: "{" + id + "}",
        lambda id: f"urn:uuid:{id}",
        lambda id: id.replace("-", ""),
    ],
    ids=["fullwidth-digits", "braces", "urn", "no-hyphens"],
)
def test_a_task_id_is_written_as_the_urls_write_one(client, admin_headers, written):
    """Regression: a body's task_id was read by Python's UUID, which takes fullwidth digits
    ("１２…"), braces, "urn:uuid:" and 32 digits without hyphens, where the API's URLs and
    the OpenAPI document's `format: uuid` take 8-4-4-4-12 hexadecimal digits alone."""
    task = make_task(make_user(PHONE))
    payload = {"error_type": "system_error", "error_message": "x"}

    response = client.post(
        "/api/errors/", json={**payload, "task_id": written(str(task.id))}, headers=admin_headers
    )

    assert response.status_code == 400
    assert "8-4-4-4-12" in response.get_json()["details"]["task_id"][0]
    upper = {**payload, "task_id": str(task.id).upper()}
    assert client.post("/api/errors/", json=upper, headers=admin_headers).status_code == 201


def test_resolve_marks_the_error_resolved_with_notes(client, admin_headers):
    error = make_error()

    response = client.patch(
        f"/api/errors/{error.id}/resolve/",
        json={"resolution_notes": "Raised the timeout"},
        headers=admin_headers,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["resolved"] is True and body["resolution_notes"] == "Raised the timeout"
    db.session.expire_all()
    assert db.session.get(ErrorLog, error.id).resolved


def test_resolve_without_notes_keeps_the_notes_written_before(client, admin_headers):
    """Regression: resolving again without notes (a retry, a script resolving a list) wiped
    the notes someone had written, where the admin's bulk action keeps them."""
    error = make_error(resolved=True, resolution_notes="Raised the timeout")

    response = client.patch(f"/api/errors/{error.id}/resolve/", json={}, headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json()["resolution_notes"] == "Raised the timeout"
    cleared = client.patch(
        f"/api/errors/{error.id}/resolve/", json={"resolution_notes": ""}, headers=admin_headers
    )
    assert cleared.get_json()["resolution_notes"] == ""


def test_get_patch_delete_an_error(client, admin_headers):
    error = make_error()
    url = f"/api/errors/{error.id}/"

    assert client.get(url, headers=admin_headers).get_json()["id"] == str(error.id)
    patched = client.patch(url, json={"resolution_notes": "looking"}, headers=admin_headers)
    assert patched.get_json()["resolution_notes"] == "looking"
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert client.get(url, headers=admin_headers).status_code == 404


def test_texters_cannot_see_or_touch_error_logs(client, texter_headers):
    error = make_error()
    assert client.get("/api/errors/", headers=texter_headers).status_code == 403
    assert client.get(f"/api/errors/{error.id}/", headers=texter_headers).status_code == 403
    resolve = client.patch(f"/api/errors/{error.id}/resolve/", json={}, headers=texter_headers)
    assert resolve.status_code == 403


def test_error_list_takes_constant_queries(client, admin_headers, count_queries):
    def queries() -> int:
        with count_queries() as counter:
            assert (
                client.get("/api/errors/?page_size=100", headers=admin_headers).status_code == 200
            )
        return counter.count

    client.get("/api/errors/", headers=admin_headers)
    for _ in range(3):
        make_error()
    few = queries()
    for _ in range(30):
        make_error(user_phone=make_user().phone_number)
    assert queries() == few


def test_an_error_for_a_user_deleted_meanwhile_is_a_field_error(client, admin_headers, monkeypatch):
    """Regression: the user was checked, then deleted before the insert: the foreign key
    refused it, a 500."""
    from sms_agent.api import error_logs

    user = make_user()
    phone = user.phone_number
    checked = error_logs._check_references
    calls = []

    def checked_then_deleted(data):
        checked(data)
        if not calls:
            with db.engine.begin() as other:
                other.execute(sa.delete(User).where(User.phone_number == phone))
        calls.append(data)

    monkeypatch.setattr(error_logs, "_check_references", checked_then_deleted)
    body = {"error_type": "system_error", "error_message": "m", "user_phone": phone}

    response = client.post("/api/errors/", json=body, headers=admin_headers)

    assert response.status_code == 400, response.get_json()
    assert "No user" in response.get_json()["details"]["user_phone"][0]


OVERRIDE = "Restarted \u202ekrow eht\u202c"


@pytest.mark.parametrize(
    "url_end, field",
    [
        ("resolve/", "resolution_notes"),
        ("", "resolution_notes"),
        ("", "error_message"),
        ("", "stack_trace"),
    ],
)
def test_prose_with_a_direction_override_is_a_400_and_nothing_changes(
    client, admin_headers, url_end, field
):
    """Regression: U+202E in resolution notes showed the rest of their admin cell backwards."""
    error = make_error(resolution_notes="", stack_trace="")
    response = client.patch(
        f"/api/errors/{error.id}/{url_end}", json={field: OVERRIDE}, headers=admin_headers
    )
    assert response.status_code == 400
    assert "U+202E" in response.get_json()["details"][field][0]
    db.session.expire_all()
    stored = db.session.get(ErrorLog, error.id)
    assert (stored.resolved, getattr(stored, field)) == (False, getattr(error, field))


def test_prose_keeps_its_line_breaks(client, admin_headers):
    error = make_error()
    notes = "Restarted the worker.\r\nTwilio was down.\n\tSee the log: \u05e9\u05dc\u05d5\u05dd."
    response = client.patch(
        f"/api/errors/{error.id}/resolve/", json={"resolution_notes": notes}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.get_json()["resolution_notes"] == notes
