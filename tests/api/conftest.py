"""Callers of the API: an admin, a read-only staff member, a texter with a token, nobody."""

from __future__ import annotations

import pytest

from tests.factories import make_staff, make_token, make_user

TEXTER_PHONE = "+15550109999"


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


def login_session(client, staff) -> None:
    """Log `staff` in as the admin's Flask-Login session would."""
    with client.session_transaction() as session:
        session["_user_id"] = str(staff.id)
        session["_fresh"] = True
