"""A JSON answer to a GET carries an ETag; sent back in If-None-Match, an unchanged answer is
a 304 without a body; in If-Match, a PATCH or DELETE acts only on what the client read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from uuid import UUID

import pytest
from werkzeug.http import http_date

from sms_agent.extensions import db
from sms_agent.models import Task, User, utcnow
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


@pytest.mark.parametrize("format", ["json", "csv"])
def test_an_export_asked_for_with_if_match_is_a_412_as_it_carries_no_etag(
    client, admin_headers, format
):
    """Regression: an export sent with If-Match naming an ETag was answered whole, as if the
    precondition held, where any other GET answers 412 when If-Match names none of the
    answer's ETags; an export has none (it is streamed), so no ETag can name it."""
    make_user(PHONE)
    url = f"/api/users/{quote(PHONE)}/export/?format={format}"

    named = client.get(url, headers={**admin_headers, "If-Match": '"from-another-answer"'})
    star = client.get(url, headers={**admin_headers, "If-Match": "*"})

    assert named.status_code == 412
    assert named.get_json()["details"] == {"reason": "no_etag"}
    assert "no ETag" in named.get_json()["error"]
    assert star.status_code == 200  # "*": it exists


@pytest.mark.parametrize(
    "url",
    [
        f"/api/users/{quote(PHONE)}/export/?format=json",
        f"/api/users/{quote(PHONE)}/export/?format=csv",
        "/api/docs/",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_answer_without_an_etag_asked_for_with_if_none_match_star_is_a_304(
    client, admin_headers, url, method
):
    """Regression: an export and the docs page answered `If-None-Match: *` whole, where
    RFC 9110 13.1.2 has `*` fail for any resource that has a current representation, and a
    GET then answered 304, as every JSON answer here does; an ETag there names none of them
    (they carry none), so it gets the answer."""
    make_user(PHONE)
    headers = {**admin_headers, "If-None-Match": "*"}

    with client.open(url, method=method, headers=headers) as star:
        assert star.status_code == 304 and star.get_data() == b""
        assert "ETag" not in star.headers
    with client.open(url, method=method, headers={**headers, "If-None-Match": '"x"'}) as named:
        assert named.status_code == 200


def test_an_export_of_nobody_asked_for_with_if_none_match_star_is_a_404(client, admin_headers):
    response = client.get(
        "/api/users/%2B15550200999/export/", headers={**admin_headers, "If-None-Match": "*"}
    )
    assert response.status_code == 404


def test_the_document_says_which_answers_carry_an_etag(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    user = paths["/api/users/{phone_number}/"]["get"]
    export = paths["/api/users/{phone_number}/export/"]["get"]

    assert "ETag" in user["responses"]["200"]["headers"] and "304" in user["responses"]
    assert "If-None-Match" in [parameter["name"] for parameter in user["parameters"]]
    assert "headers" not in export["responses"]["200"]
    assert "`*`" in export["responses"]["304"]["description"]  # it exists
    for url, operations in paths.items():
        for method, described in operations.items():
            named = [parameter["name"] for parameter in described["parameters"]]
            honoured = method in ("patch", "delete")
            # Every GET answers If-Match: with its ETag, or with a 412 for one without.
            assert ("If-Match" in named) == (honoured or method == "get"), url
            assert ("412" in described["responses"]) == (honoured or method == "get"), url
            assert ("If-Unmodified-Since" in named) == honoured, url
            assert honoured <= ("If-None-Match" in named), url


@pytest.mark.parametrize("url", [f"/api/users/{quote(PHONE)}/", "/api/users/"])
def test_a_get_whose_if_match_names_another_etag_is_a_412_in_the_error_shape(
    client, admin_headers, url
):
    """Regression: such a GET was answered 412 with the resource itself as its body, where
    every error is {"error", "details"} (a client reading the body took it for the answer),
    and the document gave a GET no 412."""
    make_user(PHONE)
    etag = client.get(url, headers=admin_headers).headers["ETag"]

    response = client.get(url, headers={**admin_headers, "If-Match": '"another", W/"x"'})

    assert response.status_code == 412
    assert response.get_json()["details"] == {"reason": "changed"}
    assert "If-Match" in response.get_json()["error"]
    assert response.headers["ETag"] == etag
    same = client.get(url, headers={**admin_headers, "If-Match": etag})
    assert same.status_code == 200 and same.headers["ETag"] == etag


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


@pytest.mark.parametrize(
    ("kind", "suffix"),
    [(0, ""), (1, ""), (2, ""), (2, "resolve/")],
    ids=["user", "task", "error log", "resolving an error log"],
)
def test_a_body_that_is_not_valid_is_a_400_whatever_the_preconditions(
    client, admin_headers, kind, suffix
):
    """Regression: a PATCH checked If-Match before its body, so a malformed body (a field the
    resource does not have) with a stale ETag got a 412, and a client that read again and
    retried was then told its body was wrong; the document promises a 400 for it."""
    url, _, _ = _resources()[kind]
    stale = {**admin_headers, "If-Match": 'W/"stale"'}

    response = client.patch(url + suffix, json={"no_such_field": 1}, headers=stale)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert "no_such_field" in response.get_json()["details"]


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


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["user", "task", "error log"])
@pytest.mark.parametrize("method", ["patch", "delete"])
@pytest.mark.parametrize("named", ["current", "*", "weak current"])
def test_a_write_whose_if_none_match_matches_is_a_412(client, admin_headers, kind, method, named):
    """Regression: If-None-Match was ignored on PATCH and DELETE, so a client asking to act
    only if the resource was not as it knew it (or, with `*`, not there) acted anyway. RFC
    9110 13.1.2: a state-changing method whose If-None-Match matches is answered 412."""
    url, change, _ = _resources()[kind]
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    tag = {"current": etag, "*": "*", "weak current": f"W/{etag}"}[named]
    before = client.get(url, headers=admin_headers).get_json()

    send = getattr(client, method)
    response = send(url, json=change, headers={**admin_headers, "If-None-Match": tag})

    assert response.status_code == 412, response.get_data(as_text=True)
    assert response.get_json()["details"] == {"reason": "matched"}
    assert client.get(url, headers=admin_headers).get_json() == before


def test_a_write_whose_if_none_match_names_another_etag_goes_ahead(client, admin_headers):
    url, theirs, late = _resources()[1]
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    client.patch(url, json=theirs, headers=admin_headers)

    response = client.patch(url, json=late, headers={**admin_headers, "If-None-Match": etag})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["category"] == late["category"]


def _long_ago(url: str, kind: int) -> None:
    """The resource as last changed an hour ago, as the database says."""
    row = db.session.get(User, PHONE) if kind == 0 else db.session.get(Task, UUID(url[-37:-1]))
    row.updated_at = utcnow() - timedelta(hours=1)
    db.session.commit()


@pytest.mark.parametrize("kind", [0, 1], ids=["user", "task"])
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_write_on_what_changed_since_if_unmodified_since_is_a_412(
    client, admin_headers, kind, method
):
    """Regression: If-Unmodified-Since was ignored, so a write meant only for a resource
    unchanged since a date overwrote (or deleted) another client's later change."""
    url, theirs, late = _resources()[kind]
    _long_ago(url, kind)
    read_at = http_date(datetime.now(UTC) - timedelta(minutes=30))
    client.patch(url, json=theirs, headers=admin_headers)

    send = getattr(client, method)
    response = send(url, json=late, headers={**admin_headers, "If-Unmodified-Since": read_at})

    assert response.status_code == 412, response.get_data(as_text=True)
    assert response.get_json()["details"] == {"reason": "changed"}
    now = client.get(url, headers=admin_headers).get_json()
    assert {name: now[name] for name in theirs} == theirs


@pytest.mark.parametrize("kind", [0, 1], ids=["user", "task"])
def test_a_write_on_what_is_unchanged_since_if_unmodified_since_goes_ahead(
    client, admin_headers, kind
):
    url, theirs, _ = _resources()[kind]
    _long_ago(url, kind)
    read_at = http_date(datetime.now(UTC) - timedelta(minutes=30))

    response = client.patch(
        url, json=theirs, headers={**admin_headers, "If-Unmodified-Since": read_at}
    )

    assert response.status_code == 200, response.get_data(as_text=True)


def test_if_unmodified_since_is_ignored_where_it_cannot_be_answered(client, admin_headers):
    """An error log keeps no modification time, and a date that is not an HTTP-date is no
    condition: RFC 9110 13.1.4 has both ignored."""
    (user_url, _, late), _, (error_url, theirs, _) = _resources()
    long_ago = {**admin_headers, "If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}
    no_date = {**admin_headers, "If-Unmodified-Since": "yesterday"}

    assert client.patch(error_url, json=theirs, headers=long_ago).status_code == 200
    assert client.patch(user_url, json=late, headers=no_date).status_code == 200


def test_an_answer_leaves_its_date_to_the_web_server(client, admin_headers):
    """Regression: werkzeug's conditional answer added a Date header to every JSON GET, and
    the development server (`make run`) wrote its own beside it: two Date headers."""
    response = client.get("/api/users/", headers=admin_headers)

    assert response.status_code == 200
    assert response.headers.get("ETag")
    assert "Date" not in response.headers
