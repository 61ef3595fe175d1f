"""Callers of the API: an admin, a read-only staff member, a texter with a token, nobody."""

from __future__ import annotations

import pytest
from flask import url_for

from tests.factories import make_staff, make_token, make_user

# Outside tests.factories.next_phone's +1555010xxxx range, so fixed numbers never collide.
TEXTER_PHONE = "+15550209999"


def token_header(key: str, scheme: str = "Token") -> dict[str, str]:
    return {"Authorization": f"{scheme} {key}"}


@pytest.fixture
def admin(app):
    return make_staff("admin", is_admin=True)


@pytest.fixture
def admin_headers(admin):
    return token_header(make_token(admin))


@pytest.fixture
def reader_headers(app):
    return token_header(make_token(make_staff("reader", is_admin=False)), "Bearer")


@pytest.fixture
def texter(app):
    return make_user(TEXTER_PHONE, full_name="Tex Ter")


@pytest.fixture
def texter_headers(texter):
    return token_header(make_token(texter))


def login_session(app, client, staff, password: str = "correct horse") -> None:
    """Log `staff` in through the admin's real login form, as a browser would."""
    with app.test_request_context():
        url = url_for("auth.login")
    # This request only: the login form's CSRF check is the admin's business, not ours.
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post(url, data={"username": staff.username, "password": password})
    app.config["WTF_CSRF_ENABLED"] = True
    assert response.status_code == 302, response.get_data(as_text=True)
