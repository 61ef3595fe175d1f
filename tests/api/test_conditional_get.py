"""A JSON answer to a GET carries an ETag; sent back in If-None-Match, an unchanged answer is
a 304 without a body; in If-Match, a PATCH or DELETE acts only on what the client read."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.factories import make_error, make_task, make_user

PHONE = "+15550200123"


def test_an_unchanged_answer_is_a_304_without_a_body(client, admin_headers):
    make_user(PHONE, full_name="Ada")
    url = f"/api/users/{quote(PHONE)}/"
    first = client.get(url, headers=admin_headers)
    etag = first.headers["ETag"]

    again = client.get(url, headers={**admin_headers, "If-None-Match": etag})

    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag


def test_a_changed_answer_comes_whole_with_a_new_etag(client, admin_headers):
    make_user(PHONE, full_name="Ada")
    url = f"/api/users/{quote(PHONE)}/"
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    client.patch(url, json={"full_name": "Ada L."}, headers=admin_headers)

    again = client.get(url, headers={**admin_headers, "If-None-Match": etag})

    assert again.status_code == 200
    assert again.get_json()["full_name"] == "Ada L."
    assert again.headers["ETag"] != etag


def test_a_list_page_is_conditional_too(client, admin_headers):
    make_user(PHONE)
    etag = client.get("/api/users/", headers=admin_headers).headers["ETag"]

    again = client.get("/api/users/", headers={**admin_headers, "If-None-Match": etag})

    assert again.status_code == 304


def test_errors_and_writes_carry_no_etag(client, admin_headers):
    make_user(PHONE)
    missing = client.get("/api/users/%2B15550200999/", headers=admin_headers)
    written = client.patch(f"/api/users/{quote(PHONE)}/", json={}, headers=admin_headers)

    assert missing.status_code == 404 and "ETag" not in missing.headers
    assert written.status_code == 200 and "ETag" not in written.headers


def test_a_streamed_export_is_not_held_back_to_be_hashed(client, admin_headers):
    make_user(PHONE)

    response = client.get(f"/api/users/{quote(PHONE)}/export/", headers=admin_headers)

    assert response.is_streamed and "ETag" not in response.headers


def test_the_document_says_which_answers_carry_an_etag(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    user = paths["/api/users/{phone_number}/"]["get"]
    export = paths["/api/users/{phone_number}/export/"]["get"]

    assert "ETag" in user["responses"]["200"]["headers"] and "304" in user["responses"]
    assert "If-None-Match" in [parameter["name"] for parameter in user["parameters"]]
    assert "headers" not in export["responses"]["200"] and "304" not in export["responses"]
    for url, operations in paths.items():
        for method, described in operations.items():
            named = [parameter["name"] for parameter in described["parameters"]]
            honoured = method in ("patch", "delete")
            assert ("If-Match" in named) == honoured == ("412" in described["responses"]), url


def _resources():
    """(URL, another client's change, a late change) for each resource a client changes."""
    user = make_user(PHONE, full_name="Ada")
    task = make_task(user)
    error = make_error(user_phone=PHONE)
    return [
        (f"/api/users/{quote(PHONE)}/", {"full_name": "Theirs"}, {"full_name": "Late"}),
        (f"/api/tasks/{task.id}/", {"category": "coding"}, {"category": "design"}),
        (f"/api/errors/{error.id}/", {"resolved": True}, {"resolved": False}),
    ]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["user", "task", "error log"])
def test_a_write_on_what_changed_since_it_was_read_is_a_412(client, admin_headers, kind):
    """Regression: If-Match was ignored, so a client that read a row and wrote its change
    overwrote (or deleted) what another client had changed meanwhile, without a word."""
    url, theirs, late = _resources()[kind]
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    client.patch(url, json=theirs, headers=admin_headers)
    stale = {**admin_headers, "If-Match": etag}

    patched = client.patch(url, json=late, headers=stale)
    deleted = client.delete(url, headers=stale)

    for response in (patched, deleted):
        assert response.status_code == 412, response.get_data(as_text=True)
        assert response.get_json()["details"] == {"reason": "changed"}
    now = client.get(url, headers=admin_headers).get_json()
    assert {name: now[name] for name in theirs} == theirs


def test_a_write_on_what_was_read_goes_ahead(client, admin_headers):
    url, theirs, _ = _resources()[0]
    etag = client.get(url, headers=admin_headers).headers["ETag"]

    response = client.patch(url, json=theirs, headers={**admin_headers, "If-Match": etag})

    assert response.status_code == 200
    assert response.get_json()["full_name"] == "Theirs"


def test_resolving_an_error_someone_changed_is_a_412(client, admin_headers):
    url, _, _ = _resources()[2]
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    client.patch(url, json={"resolution_notes": "first"}, headers=admin_headers)

    response = client.patch(
        url + "resolve/",
        json={"resolution_notes": "second"},
        headers={**admin_headers, "If-Match": etag},
    )

    assert response.status_code == 412
    assert client.get(url, headers=admin_headers).get_json()["resolution_notes"] == "first"


def test_a_texter_writes_with_the_etag_of_what_it_was_shown(client, texter, texter_headers):
    """A texter's token is shown less of a task than staff (no error_message): its If-Match
    is checked against what it was shown."""
    task = make_task(texter, status="failed", error_message="the model server's key expired")
    url = f"/api/tasks/{task.id}/"
    etag = client.get(url, headers=texter_headers).headers["ETag"]

    response = client.patch(
        url, json={"category": "coding"}, headers={**texter_headers, "If-Match": etag}
    )

    assert response.status_code == 200, response.get_data(as_text=True)
