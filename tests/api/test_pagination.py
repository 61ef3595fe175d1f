"""?page= and page_size=: DRF's page body with absolute next/previous links."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sms_agent.models import utcnow
from tests.factories import make_user


@pytest.fixture
def users(app):
    now = utcnow()
    return [
        make_user(tier="free", created_at=now - timedelta(minutes=index)) for index in range(25)
    ]


def test_first_page_has_the_default_size_and_a_next_link(client, admin_headers, users):
    body = client.get("/api/users/?tier=free", headers=admin_headers).get_json()

    assert body["count"] == 25
    assert len(body["results"]) == 20
    assert body["previous"] is None
    assert body["next"] == "http://localhost/api/users/?tier=free&page=2"


def test_last_page_links_back_keeping_the_query(client, admin_headers, users):
    body = client.get("/api/users/?tier=free&page=2", headers=admin_headers).get_json()

    assert [row["phone_number"] for row in body["results"]] == [
        user.phone_number for user in users[20:]
    ]
    assert body["next"] is None
    assert body["previous"] == "http://localhost/api/users/?tier=free"


def test_page_size_is_honoured_and_capped(app, client, admin_headers, users):
    body = client.get("/api/users/?page_size=5&page=3", headers=admin_headers).get_json()
    assert len(body["results"]) == 5
    assert body["next"].endswith("page_size=5&page=4")
    assert body["previous"].endswith("page_size=5&page=2")

    app.config["API_MAX_PAGE_SIZE"] = 10
    capped = client.get("/api/users/?page_size=1000", headers=admin_headers).get_json()
    assert len(capped["results"]) == 10


def test_pages_never_repeat_or_skip_rows_with_equal_sort_keys(client, admin_headers, users):
    seen = []
    for page in (1, 2, 3, 4, 5):
        url = f"/api/users/?ordering=tier&page_size=5&page={page}"
        seen += [
            row["phone_number"]
            for row in client.get(url, headers=admin_headers).get_json()["results"]
        ]
    assert sorted(seen) == sorted(user.phone_number for user in users)


def test_an_empty_list_is_one_empty_page(client, admin_headers):
    body = client.get("/api/tasks/", headers=admin_headers).get_json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=0", "page_size=-1", "page=1.5"])
def test_bad_page_parameters_are_400(client, admin_headers, query):
    response = client.get(f"/api/users/?{query}", headers=admin_headers)
    assert response.status_code == 400
    assert set(response.get_json()["details"]) <= {"page", "page_size"}


def test_a_page_past_the_end_is_404(client, admin_headers, users):
    response = client.get("/api/users/?page=9", headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json()["details"] == {"page": 9, "pages": 2}
