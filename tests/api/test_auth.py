"""Who may call what: the authorization matrix over every endpoint, and token handling."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ApiToken, utcnow
from tests.api.conftest import login_session, token_header
from tests.factories import make_error, make_staff, make_task, make_token, make_user

OTHER = "+15550200123"
OTHER_URL = "%2B15550200123"
U = f"/api/users/{OTHER_URL}/"

# (method, path, body, {caller: status}); OTHER, "{task}" and "{error}" become fresh rows.
# Texters get 404 for others' rows and 403 for staff-only endpoints; read-only staff get
# 403 for every write; anonymous callers always 401.
MATRIX = [
    ("GET", "/api/users/", None, dict(texter=200, reader=200, admin=200)),
    (
        "POST",
        "/api/users/",
        {"phone_number": "+15550200200"},
        dict(texter=403, reader=403, admin=201),
    ),
    ("GET", U, None, dict(texter=404, reader=200, admin=200)),
    ("PATCH", U, {"full_name": "A"}, dict(texter=404, reader=403, admin=200)),
    ("DELETE", U, None, dict(texter=403, reader=403, admin=204)),
    ("POST", U + "send_message/", {"message": "hi"}, dict(texter=403, reader=403, admin=200)),
    ("POST", U + "update_tier/", {"tier": "premium"}, dict(texter=403, reader=403, admin=200)),
    ("GET", "/api/tasks/", None, dict(texter=200, reader=200, admin=200)),
    (
        "POST",
        "/api/tasks/",
        {"user_phone": OTHER, "sms_content": "hi"},
        dict(texter=400, reader=403, admin=201),
    ),
    ("GET", "/api/tasks/{task}/", None, dict(texter=404, reader=200, admin=200)),
    (
        "PATCH",
        "/api/tasks/{task}/",
        {"category": "coding"},
        dict(texter=404, reader=403, admin=200),
    ),
    ("DELETE", "/api/tasks/{task}/", None, dict(texter=403, reader=403, admin=204)),
    ("GET", "/api/tasks/analytics/", None, dict(texter=200, reader=200, admin=200)),
    ("GET", "/api/errors/", None, dict(texter=403, reader=200, admin=200)),
    (
        "POST",
        "/api/errors/",
        {"error_type": "system_error", "error_message": "x"},
        dict(texter=403, reader=403, admin=201),
    ),
    ("GET", "/api/errors/{error}/", None, dict(texter=403, reader=200, admin=200)),
    ("PATCH", "/api/errors/{error}/", {"resolved": True}, dict(texter=403, reader=403, admin=200)),
    ("DELETE", "/api/errors/{error}/", None, dict(texter=403, reader=403, admin=204)),
    ("PATCH", "/api/errors/{error}/resolve/", {}, dict(texter=403, reader=403, admin=200)),
    ("GET", "/api/analytics/", None, dict(texter=403, reader=200, admin=200)),
]
PUBLIC = ["/api/openapi.json", "/api/docs"]
CALLERS = ["anonymous", "texter", "reader", "admin", "reader_session", "admin_session"]


@pytest.fixture
def caller_headers(request, app, client):
    """Headers (or a logged-in session) for the caller named by the test's parameter."""
    kind = request.param
    if kind == "anonymous":
        return {}
    if kind == "texter":
        return token_header(make_token(make_user("+15550209999")))
    staff = make_staff(kind.split("_")[0], is_admin=kind.startswith("admin"))
    if kind.endswith("_session"):
        login_session(app, client, staff)
        return {}
    return token_header(make_token(staff))


def _fresh_rows() -> dict[str, str]:
    """Another texter's user, task and error, fresh for each row of the matrix (some rows
    delete what they touch)."""
    user = make_user()
    return {
        "phone": user.phone_number,
        "encoded": user.phone_number.replace("+", "%2B"),
        "task": str(make_task(user).id),
        "error": str(make_error(user_phone=user.phone_number).id),
    }


@pytest.mark.parametrize("caller_headers", CALLERS, indirect=True)
def test_authorization_matrix(request, client, caller_headers):
    """Every endpoint and method for one kind of caller; all mismatches reported together."""
    role = request.node.callspec.params["caller_headers"].removesuffix("_session")
    mismatches = []
    for method, path, body, expected in MATRIX:
        rows = _fresh_rows()
        url = path.format(**rows).replace(OTHER_URL, rows["encoded"])
        if body is not None:
            body = {key: rows["phone"] if value == OTHER else value for key, value in body.items()}
        response = client.open(url, method=method, json=body, headers=caller_headers)
        status = 401 if role == "anonymous" else expected[role]
        shaped = response.status_code < 400 or set(response.get_json()) == {"error", "details"}
        if response.status_code != status or not shaped:
            mismatches.append(f"{method} {path}: got {response.status_code}, expected {status}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("caller_headers", CALLERS, indirect=True)
@pytest.mark.parametrize("path", PUBLIC)
def test_the_document_and_docs_page_are_public(client, caller_headers, path):
    assert client.get(path, headers=caller_headers).status_code == 200


def test_anonymous_401_names_the_schemes(client):
    response = client.get("/api/users/")
    assert response.status_code == 401
    assert "Token" in response.headers["WWW-Authenticate"]
    assert response.get_json()["error"] == "Authentication credentials were not provided."


@pytest.mark.parametrize("header", ["Token sat_nonsense", "Bearer sat_nonsense"])
def test_bad_credentials_are_401(client, header):
    response = client.get("/api/users/", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == "Invalid or revoked token."


@pytest.mark.parametrize(
    ("header", "scheme"), [("Token", "Token"), ("Token   ", "Token"), ("bearer", "bearer")]
)
def test_a_scheme_without_a_key_is_a_401_saying_the_key_is_missing(client, header, scheme):
    """Regression: a header with no key (an unset variable in `Token $KEY`) was "Invalid or
    revoked token.", which sent the client looking for a revocation, not an empty variable."""
    response = client.get("/api/users/", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == (
        f"No key after '{scheme}': "
        "send 'Authorization: Token <key>' or 'Authorization: Bearer <key>'."
    )


def test_a_key_with_a_space_in_it_is_a_401_saying_so(client, admin):
    key = make_token(admin)
    response = client.get("/api/users/", headers={"Authorization": f"Token {key} {key}"})
    assert response.status_code == 401
    assert response.get_json()["error"] == (
        "A key holds no spaces: send 'Authorization: Token <key>' or 'Authorization: Bearer <key>'."
    )


@pytest.mark.parametrize(
    "header", ["token {key}", "BEARER {key}", "Token\t{key}", "Token   {key} "]
)
def test_the_scheme_is_read_in_any_letter_case_and_spacing(client, admin, header):
    """As Django REST framework's TokenAuthentication reads it: the keyword in any letter case,
    the key after any run of whitespace."""
    key = make_token(admin)
    response = client.get("/api/users/", headers={"Authorization": header.format(key=key)})
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "sat_only_the_key", "Key sat_x"])
def test_a_key_sent_without_its_scheme_is_a_401_naming_the_schemes(client, header):
    """Regression: a bare key, or Basic credentials, were "Invalid or revoked token.", which
    sent a client with a good key looking for why it had been revoked."""
    response = client.get("/api/users/", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == (
        "Send the key as 'Authorization: Token <key>' or 'Authorization: Bearer <key>'."
    )


@pytest.mark.parametrize("parameter", ["token", "api_key", "access_token"])
def test_a_key_sent_in_the_url_is_a_401_saying_where_it_goes(client, admin, parameter):
    """Regression: `?token=<key>` got "Authentication credentials were not provided.", which
    sent the client looking for a wrong key, not for where to put a good one."""
    key = make_token(admin)
    response = client.get(f"/api/users/?{parameter}={key}")
    assert response.status_code == 401
    assert response.get_json()["error"] == (
        "Send the key as 'Authorization: Token <key>' or 'Authorization: Bearer <key>', "
        "never in the URL, which proxies' logs and browsers' history keep."
    )


def test_revoked_token_and_inactive_staff_are_401(client):
    staff = make_staff("gone", is_admin=True)
    key = make_token(staff)
    assert client.get("/api/users/", headers=token_header(key)).status_code == 200

    token = db.session.scalar(sa.select(ApiToken))
    token.revoke()
    db.session.commit()
    assert client.get("/api/users/", headers=token_header(key)).status_code == 401

    other_key = make_token(staff)
    staff.is_active = False
    db.session.commit()
    assert client.get("/api/users/", headers=token_header(other_key)).status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(client, admin, count_queries):
    key = make_token(admin)
    client.get("/api/analytics/", headers=token_header(key))
    token = db.session.scalar(sa.select(ApiToken))
    first_use = token.last_used_at
    assert first_use is not None

    with count_queries() as counter:
        client.get("/api/analytics/", headers=token_header(key))
    assert not any(statement.startswith("UPDATE") for statement in counter.statements)

    token.last_used_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    client.get("/api/analytics/", headers=token_header(key))
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at > first_use


def test_a_session_cookie_cannot_write_with_a_form_post(app, client):
    """Cross-site forms cannot send JSON, so a logged-in admin's cookie cannot be ridden."""
    login_session(app, client, make_staff("boss", is_admin=True))

    response = client.post("/api/users/", data={"phone_number": "+15550200200"})

    assert response.status_code == 415


@pytest.mark.parametrize(
    "path", ["/api/users/", "/api/tasks/", "/api/users/%2B15550100001/messages/"]
)
def test_answers_carrying_texters_words_are_kept_by_no_cache(client, admin_headers, path):
    """Regression: only the export said no-store; a proxy or a shared browser could keep a
    copy of the messages, tasks and numbers the other answers carry."""
    make_task(user=make_user("+15550100001"), sms_content="my test results")
    response = client.get(path, headers=admin_headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get(path).headers["Cache-Control"] == "no-store"  # the 401 too


def token_made_days_ago(days: int) -> str:
    key = make_token(make_staff(f"made-{days}-days-ago"))
    token = ApiToken.find_active(key)
    token.created_at = utcnow() - timedelta(days=days)
    db.session.commit()
    return key


def test_a_token_older_than_api_token_days_is_refused_saying_it_expired(app, client):
    """Regression: API tokens never expired, so a key left in an old laptop's shell history
    or a departed contractor's script worked for ever unless someone remembered to revoke
    it. With API_TOKEN_DAYS set, a key stops working that many days after it was made."""
    app.config["API_TOKEN_DAYS"] = 30
    old, young = token_made_days_ago(31), token_made_days_ago(29)

    response = client.get("/api/users/", headers=token_header(old))
    assert response.status_code == 401
    assert response.get_json()["error"] == (
        "This token expired (tokens last 30 days): ask for a new one."
    )
    assert client.get("/api/users/", headers=token_header(young)).status_code == 200


def test_tokens_never_expire_unless_api_token_days_is_set(app, client):
    assert app.config["API_TOKEN_DAYS"] == 0
    key = token_made_days_ago(3650)
    assert client.get("/api/users/", headers=token_header(key)).status_code == 200


@pytest.mark.parametrize("owner", ["staff", "texter"])
def test_a_key_of_an_inactive_account_is_a_401_saying_so(client, owner):
    """Regression: a deactivated texter's (or staff member's) key got "Invalid or revoked
    token.", so a companion app threw away a key that works again once staff reactivate
    the account, and its user asked for a new one that could not work either."""
    account = make_staff("away", is_admin=True) if owner == "staff" else make_user()
    key = make_token(account)
    account.is_active = False
    db.session.commit()

    response = client.get("/api/tasks/", headers=token_header(key))

    assert response.status_code == 401
    assert "inactive" in response.get_json()["error"]
    assert "revoked" not in response.get_json()["error"]
