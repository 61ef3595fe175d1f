"""Helpers for driving the admin like a browser: real logins and real CSRF tokens."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from werkzeug.security import generate_password_hash

from sms_agent.extensions import db
from sms_agent.models import StaffUser, types

PASSWORD = "correct horse battery"
# Hashing is deliberately slow; hash the shared test password once per run, not per test.
_PASSWORD_HASH = generate_password_hash(PASSWORD)


def staff_account(username: str, is_admin: bool) -> StaffUser:
    staff = StaffUser(username=username, is_admin=is_admin, password_hash=_PASSWORD_HASH)
    db.session.add(staff)
    db.session.commit()
    return staff


_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


def csrf_for(client, url: str) -> str:
    """The CSRF token a browser would find on `url`."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return csrf_from(response.get_data(as_text=True))


class _FormReader(HTMLParser):
    """The fields a browser would submit from the page's form with a `csrf_token`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attrs = {name: value or "" for name, value in attrs}
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.fields[name] = attrs.get("value", "y" if attrs.get("type") else "")
        elif tag == "textarea" and name:
            self._textarea, self.fields[name] = name, ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.fields[self._select] = attrs.get("value", "")

    def handle_data(self, data) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag) -> None:
        if tag == "textarea" and self._textarea:
            # A browser drops the one line break that may follow <textarea>.
            text = self.fields[self._textarea]
            newline = "\r\n" if text.startswith("\r\n") else "\n"
            self.fields[self._textarea] = text.removeprefix(newline)
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_as_shown(client, url: str) -> dict[str, str]:
    """What a browser posts when staff open `url` and press Save without changing a thing."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    assert "csrf_token" in reader.fields, "the page has no form"
    return reader.fields


def log_in(client, username: str, password: str = PASSWORD, next_url: str = ""):
    token = csrf_for(client, "/admin/auth/login/")
    data = {"username": username, "password": password, "csrf_token": token, "next": next_url}
    return client.post("/admin/auth/login/", data=data)


def post_action(client, list_url: str, action: str, ids: list[str]):
    """Run a bulk action as the list page's form would."""
    token = csrf_for(client, list_url)
    data = {"action": action, "rowid": ids, "csrf_token": token, "url": list_url}
    return client.post(list_url + "action/", data=data, follow_redirects=True)


@pytest.fixture
def admin_client(client):
    staff_account("boss", is_admin=True)
    assert log_in(client, "boss").status_code == 302
    return client


@pytest.fixture
def staff_client(client):
    """Logged in as staff without admin rights: may look, may not change."""
    staff_account("viewer", is_admin=False)
    assert log_in(client, "viewer").status_code == 302
    return client


def post_at_once(app, admin_client, url: str, form: dict) -> list[int]:
    """Post `form` twice at once, each in a thread of its own with its own database
    connection, as two browsers (or two web processes) would."""
    statuses = []

    def submit():
        with app.test_client() as browser:
            browser.set_cookie("session", admin_client.get_cookie("session").value)
            statuses.append(browser.post(url, data=form).status_code)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


class StoppedClock:
    """The product's clock (utcnow), moved on by hand."""

    def __init__(self, monkeypatch) -> None:
        self.now = datetime(2027, 1, 20, 12, tzinfo=UTC)
        monkeypatch.setattr(types, "clock", lambda: self.now)

    def wait(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
