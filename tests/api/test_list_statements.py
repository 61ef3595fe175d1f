"""A list's statements are built once per distinct query (api/list_statements.py): the same
objects serve every request asking the same thing, and nothing of one caller's, one
filter's or one page's leaks into another's answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from sms_agent.api import list_statements
from sms_agent.models import utcnow
from tests.api.conftest import TEXTER_PHONE
from tests.factories import make_error, make_task, make_user


@pytest.fixture
def users(app):
    now = utcnow()
    return [
        make_user(
            tier="premium" if index % 3 == 0 else "free", created_at=now - timedelta(minutes=index)
        )
        for index in range(12)
    ]


@pytest.fixture
def none_kept(monkeypatch):
    """Empty kept lists for a test that keeps statements of its own making."""
    monkeypatch.setattr(list_statements, "_kept", type(list_statements._kept)())
    monkeypatch.setattr(list_statements, "_by_statement", {})


def phones(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [user["phone_number"] for user in response.get_json()["results"]]


def test_every_page_of_a_list_comes_from_one_kept_statement(app, admin_headers, none_kept):
    made = []

    def build():
        made.append(sa.select(sa.literal(1)))
        return made[-1]

    kept = []
    for url in ("/api/users/?tier=free", "/api/users/?tier=free&page=2", "/api/users/?tier=free"):
        with app.test_request_context(url, headers=admin_headers):
            kept.append(list_statements.kept_statement(build))
    with app.test_request_context("/api/users/?tier=premium", headers=admin_headers):
        other = list_statements.kept_statement(build)

    assert kept[0] is kept[1] is kept[2]
    assert other is not kept[0]
    assert len(made) == 2


def test_pages_filters_and_orders_read_their_own_rows_from_kept_statements(
    client, users, admin_headers
):
    newest_first = [user.phone_number for user in users]
    free = [user.phone_number for user in users if user.tier == "free"]
    for _ in range(2):  # the second time round, every statement is a kept one
        assert (
            phones(client.get("/api/users/?page_size=5", headers=admin_headers))
            == (newest_first[:5])
        )
        assert (
            phones(client.get("/api/users/?page_size=5&page=2", headers=admin_headers))
            == (newest_first[5:10])
        )
        assert phones(client.get("/api/users/?tier=free", headers=admin_headers)) == free
        oldest_first = phones(client.get("/api/users/?ordering=created_at", headers=admin_headers))
        assert oldest_first == newest_first[::-1]
        answer = client.get("/api/users/?tier=premium&page_size=2", headers=admin_headers)
        assert answer.get_json()["count"] == 4


def test_a_texter_never_gets_the_list_kept_for_staff(client, users, admin_headers, texter_headers):
    """Same URL, other caller: staff see every user, the texter's token only its own."""
    for _ in range(2):
        assert len(phones(client.get("/api/users/", headers=admin_headers))) == 13
        assert phones(client.get("/api/users/", headers=texter_headers)) == [TEXTER_PHONE]


def test_a_list_sees_rows_added_after_its_statement_was_kept(client, users, admin_headers):
    first = client.get("/api/users/?tier=free", headers=admin_headers).get_json()["count"]
    make_user(tier="free")
    assert client.get("/api/users/?tier=free", headers=admin_headers).get_json()["count"] == (
        first + 1
    )


def test_only_so_many_lists_are_kept(app, monkeypatch, none_kept):
    monkeypatch.setattr(list_statements, "KEPT", 3)
    for page_size in range(1, 8):
        with app.test_request_context(f"/api/users/?page_size={page_size}&tier=free"):
            list_statements.kept_statement(lambda: sa.select(sa.literal(1)))
    assert len(list_statements._kept) <= 3
    assert len(list_statements._by_statement) == len(list_statements._kept)


def test_the_tasks_list_kept_for_staff_is_not_a_texters(
    client, users, texter, admin_headers, texter_headers
):
    make_task(texter)
    for user in users[:3]:
        make_task(user, category="coding")
    for _ in range(2):
        assert client.get("/api/tasks/", headers=admin_headers).get_json()["count"] == 4
        mine = client.get("/api/tasks/", headers=texter_headers).get_json()
        assert [task["user_phone"] for task in mine["results"]] == [TEXTER_PHONE]
        coding = client.get("/api/tasks/?category=coding", headers=admin_headers).get_json()
        assert coding["count"] == 3


def test_the_error_list_reads_each_filter_from_its_own_statement(client, admin_headers):
    make_error(user_phone=None, error_type="twilio_error")
    make_error(user_phone=None, error_type="openai_error")
    for _ in range(2):
        for kind in ("twilio_error", "openai_error"):
            answer = client.get(f"/api/errors/?error_type={kind}", headers=admin_headers)
            assert [error["error_type"] for error in answer.get_json()["results"]] == [kind]


def test_a_cache_buster_reads_the_list_kept_without_it(app, admin_headers, none_kept):
    """A client adding `?_=<time>` to every request must not fill the kept lists with one
    entry per request, pushing out the lists others ask for."""
    for moment in range(5):
        with app.test_request_context(f"/api/users/?tier=free&_={moment}", headers=admin_headers):
            list_statements.kept_statement(lambda: sa.select(sa.literal(1)))
    assert len(list_statements._kept) == 1
