"""What ends a staff member's sessions: logging out, a new password and a deactivation end
every session of that account at once, copies of the session cookie included.

Several browsers take part, so they talk to an app of their own: its requests each run in a
fresh app context, as real ones do, instead of sharing the test's (and its cached login).
"""

from __future__ import annotations

import pytest

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.models import StaffUser, User
from tests.admin.conftest import PASSWORD, csrf_for, log_in
from tests.factories import make_staff


@pytest.fixture
def site(app):
    """The same service, on the same database, for the test's browsers."""
    site = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    yield site
    with site.app_context():
        db.engine.dispose()


@pytest.fixture
def client(site):
    return site.test_client()


@pytest.fixture
def ann(app):
    return make_staff("ann", PASSWORD, is_admin=True)


@pytest.fixture
def copied_session(site, ann, client):
    """Another browser holding a copy of ann's session cookie (as a thief would)."""
    assert log_in(client, "ann").status_code == 302
    thief = site.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/admin/user/").status_code == 200
    return thief


def is_logged_out(browser) -> bool:
    response = browser.get("/admin/user/")
    return response.status_code == 302 and "/admin/auth/login/" in response.headers["Location"]


def api_write(browser):
    body = {"phone_number": "+15550177777", "full_name": "Made by a session"}
    return browser.post("/api/users/", json=body)


def test_logging_out_ends_copies_of_the_session_cookie(client, copied_session):
    client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(client, "/admin/")})

    assert is_logged_out(copied_session)
    response = api_write(copied_session)
    assert response.status_code == 401
    db.session.expire_all()
    assert db.session.get(User, "+15550177777") is None


def test_logging_out_ends_the_accounts_sessions_in_other_browsers(site, client, ann):
    other = site.test_client()
    log_in(other, "ann")
    log_in(client, "ann")

    client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(client, "/admin/")})

    assert is_logged_out(other)


def test_a_session_works_for_api_writes_until_logout(client, copied_session):
    assert api_write(copied_session).status_code == 201


def test_a_new_password_from_the_command_line_ends_every_session(app, copied_session, client):
    result = app.test_cli_runner().invoke(
        args=["staff", "set-password", "ann", "--password", "a new password"]
    )

    assert result.exit_code == 0, result.output
    assert "their sessions have ended" in result.output
    assert is_logged_out(copied_session) and is_logged_out(client)
    assert api_write(copied_session).status_code == 401


def edit_staff(admin, staff: StaffUser, **fields):
    url = f"/admin/staffuser/edit/?id={staff.id}"
    form = {"csrf_token": csrf_for(admin, url), "username": staff.username, **fields}
    return admin.post(url, data=form)


@pytest.fixture
def boss(site):
    """An admin in a browser of their own."""
    make_staff("boss", PASSWORD, is_admin=True)
    boss = site.test_client()
    assert log_in(boss, "boss").status_code == 302
    return boss


def test_an_admin_setting_a_password_ends_that_accounts_sessions(boss, ann, copied_session):
    response = edit_staff(boss, ann, is_active="y", is_admin="y", password="a new password")

    assert response.status_code == 302
    assert is_logged_out(copied_session)
    assert not is_logged_out(boss)


def test_changing_your_own_password_keeps_you_logged_in_here_only(client, ann, copied_session):
    response = edit_staff(client, ann, is_active="y", is_admin="y", password="a new password")

    assert response.status_code == 302
    assert not is_logged_out(client)
    assert is_logged_out(copied_session)


def test_a_deactivated_account_stays_logged_out_when_reactivated(boss, ann, copied_session):
    assert edit_staff(boss, ann, is_admin="y").status_code == 302  # is_active unticked
    assert is_logged_out(copied_session)
    assert edit_staff(boss, ann, is_admin="y", is_active="y").status_code == 302

    db.session.expire_all()
    assert db.session.get(StaffUser, ann.id).is_active
    assert is_logged_out(copied_session)
    assert api_write(copied_session).status_code == 401


def test_editing_an_account_without_deactivating_it_keeps_its_sessions(boss, ann, copied_session):
    edit_staff(boss, ann, is_admin="y", is_active="y", email="ann@example.org")

    assert not is_logged_out(copied_session)
