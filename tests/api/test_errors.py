"""Every error is JSON {"error", "details"} with the right status, and only under /api/."""

from __future__ import annotations

import gzip
import io
import json
import uuid

import pytest

from sms_agent.api.path_ids import UUID_FORM
from sms_agent.extensions import db
from sms_agent.models import utcnow
from tests.factories import make_task, make_user

PHONE = "+15550200123"


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "details"} and isinstance(body["details"], dict)
    return body


@pytest.mark.parametrize(
    "method, url, kwargs, status",
    [
        ("POST", "/api/users/", {"data": "{not json", "content_type": "application/json"}, 400),
        ("POST", "/api/users/", {"json": ["a", "list"]}, 400),
        ("POST", "/api/users/", {"data": "", "content_type": "application/json"}, 400),
        ("POST", "/api/users/", {"json": {"phone_number": "nope"}}, 400),
        ("POST", "/api/users/", {"data": "[" * 30000, "content_type": "application/json"}, 400),
        ("GET", "/api/tasks/?created_after=2026-13-01", {}, 400),
        ("GET", "/api/users/?is_active=sometimes", {}, 400),
        ("GET", "/api/users/?ordering=secret", {}, 400),
        ("GET", "/api/users/?page=first", {}, 400),
        ("GET", "/api/nowhere/", {}, 404),
        ("GET", "/api/tasks/00000000-0000-0000-0000-000000000000/", {}, 404),
        ("GET", "/api/tasks/not-a-uuid/", {}, 400),
        ("GET", "/api/errors/12345/", {}, 400),
        ("DELETE", "/api/users/", {}, 405),
        ("PUT", "/api/tasks/analytics/", {}, 405),
        ("POST", "/api/users/", {"data": "phone_number=1", "content_type": "text/plain"}, 415),
        ("PATCH", "/api/users/%2B15550200123/", {"data": "x"}, 415),
        ("POST", "/api/users/", {"json": {"full_name": "x" * 70_000}}, 413),
    ],
)
def test_errors_are_json_with_the_right_status(client, admin_headers, method, url, kwargs, status):
    make_user(PHONE)
    response = client.open(url, method=method, headers=admin_headers, **kwargs)
    assert_error(response, status)


@pytest.mark.parametrize(("size", "status"), [(100, 201), (70_000, 413)])
def test_a_chunked_body_past_the_limit_is_413_not_cut_short(client, admin_headers, size, status):
    """Without a Content-Length the body was read up to MAX_CONTENT_LENGTH and the rest
    dropped: a 400 "Malformed JSON" for JSON that was well formed, only too long."""
    body = json.dumps({"phone_number": PHONE, "full_name": "x" * size}).encode()
    response = client.post(
        "/api/users/",
        input_stream=io.BytesIO(body),
        headers={**admin_headers, "Transfer-Encoding": "chunked"},
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn reads chunked bodies
    )
    assert response.status_code == status, response.get_data(as_text=True)


def test_a_body_too_large_says_the_limit(app, client, admin_headers):
    """Regression: the 413 said only "The data value transmitted exceeds the capacity
    limit." with empty details, where the web server's own 414 and 431 give their limits:
    a client could not tell how much to cut."""
    response = client.post("/api/users/", json={"full_name": "x" * 70_000}, headers=admin_headers)

    error = assert_error(response, 413)
    assert error["details"] == {"max_content_length": app.config["MAX_CONTENT_LENGTH"]}
    assert str(app.config["MAX_CONTENT_LENGTH"]) in error["error"]


def test_method_not_allowed_lists_the_allowed_methods(client, admin_headers):
    response = client.delete("/api/users/", headers=admin_headers)
    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize(
    "method, url, name, written",
    [
        ("GET", "/api/tasks/abc/", "task_id", "abc"),
        ("GET", "/api/tasks/99999999999999999999999/", "task_id", "99999999999999999999999"),
        ("PATCH", "/api/tasks/1.5/", "task_id", "1.5"),
        ("DELETE", "/api/tasks/%C3%A9t%C3%A9/", "task_id", "\u00e9t\u00e9"),
        ("OPTIONS", "/api/tasks/abc/", "task_id", "abc"),
        ("GET", "/api/errors/-1/", "error_id", "-1"),
        ("PATCH", "/api/errors/-1/resolve/", "error_id", "-1"),
        ("GET", "/api/errors/-1", "error_id", "-1"),
        ("GET", "/api/errors/-1/resolve", "error_id", "-1"),
        ("GET", f"/api/tasks/{uuid.UUID(int=1).hex}/", "task_id", uuid.UUID(int=1).hex),
    ],
)
def test_an_id_in_the_url_that_is_not_a_uuid_is_a_400_naming_it(
    client, admin_headers, method, url, name, written
):
    """Regression: werkzeug's "The requested URL was not found on the server. If you entered
    the URL manually please check your spelling", as for a URL the API does not have, left a
    client with an old integer id guessing what was wrong."""
    body = assert_error(client.open(url, method=method, headers=admin_headers), 400)
    assert name.replace("_", " ") in body["error"]
    assert body["details"] == {name: [f"{written!r} is not a UUID ({UUID_FORM})."]}


@pytest.mark.parametrize(
    "method, url, status, allowed",
    [
        ("OPTIONS", "/api/tasks/analytics/", 200, {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/api/tasks/analytics/", 405, {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "/api/tasks/analytics/", 405, {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/api/tasks/analytics/", 405, {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/api/tasks/", 405, {"GET", "HEAD", "OPTIONS", "POST"}),
        (
            "PUT",
            f"/api/tasks/{uuid.UUID(int=0)}/",
            405,
            {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH"},
        ),
    ],
)
def test_static_paths_beside_an_id_keep_their_methods(
    client, admin_headers, method, url, status, allowed
):
    """/api/tasks/analytics/ is not a task with the id "analytics": its methods are its own."""
    response = client.open(url, method=method, headers=admin_headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert set(response.headers["Allow"].split(", ")) == allowed


def test_a_path_the_api_does_not_have_is_still_a_404(client, admin_headers):
    for url in ("/api/nowhere/abc/", "/api/tasks/abc/nowhere/", "/api/tasks/analytics/abc/"):
        assert_error(client.get(url, headers=admin_headers), 404)
    missing = client.get(f"/api/tasks/{uuid.UUID(int=0)}/", headers=admin_headers)
    assert assert_error(missing, 404)["error"] == "No such task."


@pytest.mark.parametrize(
    "url, methods",
    [
        ("/api/users/", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("/api/tasks/analytics/", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_options_answers_the_allowed_methods_as_json(client, admin_headers, url, methods):
    """Flask's own answer was an empty text/html body, which a JSON client fails to parse."""
    response = client.options(url, headers=admin_headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert set(response.headers["Allow"].split(", ")) == methods
    assert set(response.get_json()["methods"]) == methods


def test_options_answers_without_a_token_but_nothing_else_does(client):
    """Regression: OPTIONS needed a token (a 401), as no preflight or discovery request
    carries one; Flask answers it for any caller. It still grants no CORS preflight, and
    GET and POST still need a token."""
    preflight = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}
    response = client.options("/api/users/", headers=preflight)
    assert response.status_code == 200
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert not [name for name in response.headers.keys() if name.startswith("Access-Control")]
    assert_error(client.get("/api/users/"), 401)
    assert_error(client.post("/api/users/", json={"phone_number": PHONE}), 401)


def test_conflict_for_an_opted_out_user_is_json(client, admin_headers):
    make_user(PHONE, opted_out_at=utcnow())
    response = client.post(
        "/api/users/%2B15550200123/send_message/", json={"message": "hi"}, headers=admin_headers
    )
    body = assert_error(response, 409)
    assert "opted out" in body["error"]


def test_field_errors_name_each_field(client, admin_headers):
    response = client.post(
        "/api/users/",
        json={"phone_number": "x", "tier": "gold", "colour": "red"},
        headers=admin_headers,
    )
    details = assert_error(response, 400)["details"]
    assert set(details) == {"phone_number", "tier", "colour"}


def test_an_unexpected_failure_is_a_json_500_without_details(app, client, admin_headers):
    def explode():
        raise RuntimeError("database on fire")

    app.add_url_rule("/api/explode/", "explode", explode)

    body = assert_error(client.get("/api/explode/", headers=admin_headers), 500)
    assert "fire" not in body["error"]


@pytest.mark.parametrize(("sqlstate", "status"), [("40P01", 409), ("40001", 409), ("53300", 500)])
def test_a_transaction_aborted_for_a_concurrent_one_is_a_409_to_send_again(
    app, client, admin_headers, sqlstate, status
):
    """Regression: a deadlock (a texter deleted while staff texted them, PostgreSQL aborting
    one of the two) was a 500; nothing was written, and the same request sent again works."""
    import sqlalchemy as sa

    class DriverError(Exception):
        pass

    def aborted():
        cause = DriverError("deadlock detected")
        cause.sqlstate = sqlstate
        raise sa.exc.OperationalError("UPDATE users ...", {}, cause)

    app.add_url_rule("/api/aborted/", "aborted", aborted)

    response = client.get("/api/aborted/", headers=admin_headers)

    body = assert_error(response, status)
    if status == 409:
        assert body["details"] == {"reason": "concurrent_change"}
        assert response.headers["Retry-After"] == "1"


def test_pages_outside_the_api_keep_their_own_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype != "application/json"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_missing_trailing_slash_redirects_like_the_document(client, admin_headers, method):
    """Regression: the redirect's body was an HTML page, the only HTML the API served; a
    client that does not follow redirects showed or parsed it."""
    response = client.open("/api/users?tier=free", method=method, headers=admin_headers)
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/api/users/?tier=free")
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["details"] == {"location": response.headers["Location"]}
    assert "/api/users/" in body["error"]


def test_deeply_nested_metadata_is_refused(client, admin_headers):
    task = make_task(make_user(PHONE))
    body = '{"metadata": ' + '{"a": ' * 500 + "1" + "}" * 501

    response = client.patch(
        f"/api/tasks/{task.id}/", data=body, content_type="application/json", headers=admin_headers
    )

    assert assert_error(response, 400)["details"] == {"metadata": ["JSON is nested too deeply."]}


@pytest.mark.parametrize(
    "url",
    ["/api/users/?search=%00", "/api/tasks/?user_phone=%00", "/api/errors/?error_type=%00"],
)
def test_api_parameters_with_a_nul_are_a_json_400(client, admin_headers, url):
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 400
    assert "NUL" in response.get_json()["error"]


OTHER_CHARSETS = ["latin-1", "ISO-8859-1", "windows-1252", "shift_jis", "bogus"]


@pytest.mark.parametrize(
    ("parameters", "charset"),
    [
        *((f"charset={name}", name) for name in OTHER_CHARSETS),
        # Regression: werkzeug drops a parameter with spaces around its '=' (and the first
        # of two charsets), so these were read as UTF-8.
        ("charset = latin-1", "latin-1"),
        ("charset =latin-1", "latin-1"),
        ("charset= latin-1", "latin-1"),
        ('charset="latin-1"', "latin-1"),
        ('CharSet = "LATIN-1"', "LATIN-1"),
        ("CHARSET=Latin-1", "Latin-1"),
        ("charset=latin-1; charset=utf-8", "latin-1"),
        ("charset=utf-8; charset=latin-1", "latin-1"),
        ("charset*=utf-8''latin-1", "latin-1"),
    ],
)
def test_a_body_in_another_charset_than_unicode_is_a_415(
    client, admin_headers, parameters, charset
):
    """Regression: the body was read as UTF-8 whatever its charset said: Latin-1 "José" was a
    400 "Malformed JSON" quoting a codec error, and Latin-1 text whose bytes happened to be
    valid UTF-8 ("Ã©") was stored as other characters ("é")."""
    user = make_user(PHONE, full_name="Before")

    response = client.patch(
        "/api/users/%2B15550200123/",
        data='{"full_name": "Ã©"}'.encode("latin-1"),
        headers={**admin_headers, "Content-Type": f"application/json; {parameters}"},
    )

    body = assert_error(response, 415)
    assert body["details"] == {"charset": charset, "expected": "utf-8"}
    assert user.full_name == "Before"


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("utf-16", "utf-16"),
        ("utf-16le", "utf-16-le"),
        ("us-ascii", "ascii"),
        ("utf-8-sig", "utf-8-sig"),
        (None, "utf-16"),
    ],
)
def test_a_body_in_a_unicode_charset_is_read_as_written(client, admin_headers, charset, encoding):
    make_user(PHONE)
    content_type = "application/json" + (f"; charset={charset}" if charset else "")
    text = json.dumps({"full_name": "Jos\u00e9"}, ensure_ascii=encoding == "ascii")

    response = client.patch(
        "/api/users/%2B15550200123/",
        data=text.encode(encoding),
        headers={**admin_headers, "Content-Type": content_type},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["full_name"] == "Jos\u00e9"


def test_a_body_that_is_not_utf8_says_so(client, admin_headers):
    make_user(PHONE)

    response = client.patch(
        "/api/users/%2B15550200123/",
        data='{"full_name": "José"}'.encode("latin-1"),
        headers={**admin_headers, "Content-Type": "application/json"},
    )

    body = assert_error(response, 400)
    assert body["error"] == "The body is not valid UTF-8."


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(b'{"full_name": "Zipped"}', mtime=0)),
        ("br", b'{"full_name": "Zipped"}'),
        ("gzip, identity", b'{"full_name": "Zipped"}'),
    ],
    ids=["gzip", "labelled-br", "labelled-gzip-identity"],
)
def test_a_compressed_body_is_a_415_naming_the_coding(client, admin_headers, coding, body):
    """Regression: the body was read as it came: gzip's bytes were a 400 saying they were not
    UTF-8, and JSON labelled gzip was taken as JSON."""
    user = make_user(PHONE, full_name="Before")

    response = client.patch(
        "/api/users/%2B15550200123/",
        data=body,
        headers={**admin_headers, "Content-Type": "application/json", "Content-Encoding": coding},
    )

    error = assert_error(response, 415)
    assert error["details"] == {"content_encoding": coding, "expected": "identity"}
    assert response.headers["Accept-Encoding"] == "identity"
    assert user.full_name == "Before"


def test_a_body_labelled_identity_is_read_as_it_is(client, admin_headers):
    make_user(PHONE)

    response = client.patch(
        "/api/users/%2B15550200123/",
        data=b'{"full_name": "Plain"}',
        headers={
            **admin_headers,
            "Content-Type": "application/json",
            "Content-Encoding": "identity",
        },
    )

    assert response.status_code == 200
    assert response.get_json()["full_name"] == "Plain"


@pytest.mark.parametrize(
    "content_type",
    ["application/merge-patch+json", "application/json-patch+json", "application/vnd.api+json"],
)
def test_a_body_of_another_json_media_type_is_a_415(client, admin_headers, content_type):
    """Regression: any `+json` type was read as plain JSON. A client sending a JSON Merge
    Patch (RFC 7396), which merges objects, had `preferences` replaced whole instead: the
    keys it left out were lost."""
    user = make_user(PHONE, preferences={"lang": "fr", "units": "metric"})

    response = client.patch(
        "/api/users/%2B15550200123/",
        data=json.dumps({"preferences": {"lang": "en"}}),
        headers={**admin_headers, "Content-Type": content_type},
    )

    body = assert_error(response, 415)
    assert body["details"] == {"content_type": content_type, "expected": "application/json"}
    db.session.expire_all()
    assert user.preferences == {"lang": "fr", "units": "metric"}
