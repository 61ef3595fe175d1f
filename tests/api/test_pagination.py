"""?page= and page_size=: DRF's page body with absolute next/previous links."""

from __future__ import annotations

import base64
import json
import runpy
import zlib
from datetime import timedelta

import pytest

from sms_agent.api import keyset
from sms_agent.api.filters import USER_ORDERING
from sms_agent.extensions import db
from sms_agent.models import utcnow
from tests.factories import make_task, make_user


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


def test_page_size_is_honoured_up_to_the_most(app, client, admin_headers, users):
    body = client.get("/api/users/?page_size=5&page=3", headers=admin_headers).get_json()
    assert len(body["results"]) == 5
    assert body["next"].endswith("page_size=5&page=4")
    assert body["previous"].endswith("page_size=5&page=2")

    app.config["API_MAX_PAGE_SIZE"] = 10
    most = client.get("/api/users/?page_size=10", headers=admin_headers).get_json()
    assert len(most["results"]) == 10


@pytest.mark.parametrize(
    "url",
    ["/api/users/", "/api/tasks/", "/api/conversations/", "/api/users/%2B15550200123/messages/"],
)
def test_a_page_size_over_the_most_is_a_400_naming_the_most(app, client, admin_headers, url):
    """A client asking for 1000 rows got 10 without a word, and could take them for all."""
    make_user("+15550200123")
    app.config["API_MAX_PAGE_SIZE"] = 10

    response = client.get(f"{url}?page_size=1000", headers=admin_headers)

    assert response.status_code == 400
    assert response.get_json()["details"] == {
        "page_size": ["At most 10 results a page: ask for 10 or fewer, and read on with `next`."]
    }


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
    assert body == {"count": 0, "next": None, "previous": None, "results": [], "next_cursor": None}


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=0", "page_size=-1", "page=1.5"])
def test_bad_page_parameters_are_400(client, admin_headers, query):
    response = client.get(f"/api/users/?{query}", headers=admin_headers)
    assert response.status_code == 400
    assert set(response.get_json()["details"]) <= {"page", "page_size"}


def test_a_page_past_the_end_is_404(client, admin_headers, users):
    response = client.get("/api/users/?page=9", headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json()["details"] == {"page": 9, "pages": 2}


def ids(body: dict) -> list[str]:
    return [row["id"] for row in body["results"]]


def test_next_cursor_reads_on_after_rows_added_and_deleted_meanwhile(client, admin_headers):
    """Page numbers count rows: a task created while a client reads page 1 pushes page 1's
    last task onto page 2 (read twice), and one deleted there pulls a task onto page 1
    (never read). The cursor carries on from the last task the client was given."""
    user = make_user()
    now = utcnow()
    tasks = [make_task(user, created_at=now - timedelta(minutes=n)) for n in range(9)]
    first = client.get("/api/tasks/?page_size=3", headers=admin_headers).get_json()

    make_task(user, created_at=now + timedelta(minutes=1))  # newest: page 1 shifts down
    db.session.delete(tasks[4])  # on page 2: page 2 shifts up
    db.session.commit()
    seen, body = ids(first), first
    while body["next_cursor"]:
        url = f"/api/tasks/?page_size=3&cursor={body['next_cursor']}"
        body = client.get(url, headers=admin_headers).get_json()
        seen += ids(body)
        if body["next_cursor"]:  # the link to follow carries it too
            assert body["next"].endswith(f"&cursor={body['next_cursor']}")

    expected = [str(task.id) for n, task in enumerate(tasks) if n != 4]
    assert seen == expected
    assert body["next"] is None and body["count"] == 9


@pytest.mark.parametrize("ordering", ["tokens_used", "-tokens_used", "-success,tokens_used"])
def test_a_cursor_walk_follows_the_page_order_with_empty_values(client, admin_headers, ordering):
    """NULLs sort where the database puts them (above every value on PostgreSQL, below on
    SQLite): a walk by cursor gives the same rows in the same order as the pages do."""
    user = make_user()
    for n in range(10):
        make_task(user, tokens_used=None if n % 3 == 0 else n % 4, success=n % 2 == 0)
    paged = client.get(f"/api/tasks/?ordering={ordering}&page_size=10", headers=admin_headers)

    walked, cursor = [], None
    for _ in range(10):
        query = f"ordering={ordering}&page_size=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/tasks/?{query}", headers=admin_headers).get_json()
        walked += ids(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert walked == ids(paged.get_json())


def forged(order: list[str], values: list) -> str:
    """A cursor this server never handed out, shaped like its own."""
    text = json.dumps({"order": order, "values": values})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NEWEST = ["-created_at", "phone_number"]
BUSIEST = ["-total_requests", "phone_number"]
WHEN = "2026-01-01T00:00:00+00:00"
#: An id as the API writes one; a cursor naming it otherwise was not handed out by it.
UUID_TEXT = "0d5e7c4e-3c1a-4b7e-9a51-6f0f2b7d8e11"


@pytest.mark.parametrize(
    "query",
    [
        "cursor=bm90IGEgY3Vyc29y",
        f"cursor={forged(NEWEST, [1, 2])}",
        f"cursor={forged(NEWEST, ['99999-01-01', '+15550000001'])}",
        f"cursor={forged(NEWEST, [WHEN, 'a' + chr(0) + 'b'])}",  # PostgreSQL refuses NUL
        f"cursor={forged(NEWEST, [WHEN, chr(0xD800)])}",
        f"ordering=-total_requests&cursor={forged(BUSIEST, [10**23, 'x'])}",  # past BIGINT
        # Regression: these were 500s. total_requests is an INTEGER (PostgreSQL: "integer
        # out of range"); a first or last moment given with an offset is no UTC moment
        # Python holds (OverflowError).
        f"ordering=-total_requests&cursor={forged(BUSIEST, [2**31, 'x'])}",
        f"ordering=-total_requests&cursor={forged(BUSIEST, [-(2**40), 'x'])}",
        f"cursor={forged(NEWEST, ['0001-01-01T00:00:00+14:00', 'x'])}",
        f"cursor={forged(NEWEST, ['9999-12-31T23:59:59-14:00', 'x'])}",
    ],
)
def test_a_cursor_not_ours_is_a_400(client, admin_headers, users, query):
    response = client.get(f"/api/users/?{query}", headers=admin_headers)

    assert response.status_code == 400
    assert "cursor" in response.get_json()["details"]


@pytest.mark.parametrize(
    "value",
    [1, 1.5, True, [], {}, "{" + UUID_TEXT + "}", "urn:uuid:" + UUID_TEXT, "\uff11" * 32],
    ids=repr,
)
def test_a_cursor_whose_task_id_is_not_text_is_a_400(client, admin_headers, value):
    """Regression: a task cursor's id was read with uuid.UUID whatever its JSON type, and a
    number, boolean, list or object in its place was a 500 (AttributeError). Nor is an id
    written otherwise than the API writes one (braces, "urn:uuid:", fullwidth digits)."""
    cursor = forged(["-created_at", "id"], [WHEN, value])

    response = client.get(f"/api/tasks/?cursor={cursor}", headers=admin_headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert "cursor" in response.get_json()["details"]


def test_a_cursor_with_another_ordering_or_a_page_is_a_400(client, admin_headers, users):
    cursor = client.get("/api/users/?page_size=5", headers=admin_headers).get_json()["next_cursor"]

    for query in (f"cursor={cursor}&ordering=tier", f"cursor={cursor}&page=2"):
        response = client.get(f"/api/users/?{query}", headers=admin_headers)
        assert response.status_code == 400, query
        assert "cursor" in response.get_json()["details"], query


def test_page_numbers_keep_their_links_beside_the_cursor(client, admin_headers, users):
    body = client.get("/api/users/?page_size=5&page=2", headers=admin_headers).get_json()

    assert body["next"].endswith("page_size=5&page=3")
    assert body["previous"].endswith("page_size=5")
    follow = client.get(
        f"/api/users/?page_size=5&cursor={body['next_cursor']}", headers=admin_headers
    )
    page_3 = client.get("/api/users/?page_size=5&page=3", headers=admin_headers)
    assert follow.get_json()["results"] == page_3.get_json()["results"]


#: Random letters beyond the BMP, 4 bytes each in UTF-8, that deflate cannot shrink much.
_SCATTERED = "".join(chr(0x20000 + (index * 7919) % 40000) for index in range(254))


@pytest.mark.parametrize(
    "full_name, email",
    [
        ("\x01" * 100, '"' + "\x01" * 246 + '"@x.io'),  # escaped by JSON: 6 bytes each
        (_SCATTERED[:100], _SCATTERED[:249] + "@x.io"),  # 254 characters, as the column holds
        ("\u0416" * 50 + '"\\' * 25, "\U0001d49c" * 249 + "@x.io"),
    ],
)
def test_the_longest_cursor_is_taken_back_and_fits_the_web_servers_request_line(
    client, admin_headers, full_name, email
):
    """Regression: a user list ordered by every field, at a name and an email of letters
    beyond ASCII, handed out a 4,050-character `next_cursor` that it then refused as not
    its own, and that no request line gunicorn takes could carry."""
    for phone in ("+15550200101", "+15550200102", "+15550200103"):
        make_user(phone, full_name=full_name, email=email, total_requests=-(2**31))
    every_field = ",".join(f"-{name}" for name in USER_ORDERING)
    url = f"/api/users/?page_size=1&ordering={every_field}"

    cursor = client.get(url, headers=admin_headers).get_json()["next_cursor"]
    following = client.get(f"{url}&cursor={cursor}", headers=admin_headers)

    assert following.status_code == 200, following.get_json()
    assert following.get_json()["results"][0]["phone_number"] == "+15550200102"
    assert len(cursor) <= keyset.MAX_LENGTH
    # The longest query the list takes besides its cursor, as a client would send it.
    longest = (
        f"GET {url}&tier=enterprise&is_active=false&search={'%F0%9F%98%80' * 100}"
        f"&cursor={'x' * keyset.MAX_LENGTH} HTTP/1.1"
    ).replace("page_size=1", "page_size=1000000000")
    assert len(longest) <= runpy.run_path("gunicorn.conf.py")["limit_request_line"]


def test_a_cursor_handed_out_before_cursors_were_deflated_is_still_read(
    client, admin_headers, users
):
    first = client.get("/api/users/?page_size=5", headers=admin_headers).get_json()
    last = first["results"][-1]
    plain = json.dumps(
        {
            "order": ["-created_at", "phone_number"],
            "values": [last["created_at"], last["phone_number"]],
        }
    )
    cursor = base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")

    response = client.get(f"/api/users/?page_size=5&cursor={cursor}", headers=admin_headers)

    page_2 = client.get("/api/users/?page_size=5&page=2", headers=admin_headers).get_json()
    assert response.get_json()["results"] == page_2["results"]


def test_a_cursor_deflated_with_zlibs_defaults_is_still_read(client, admin_headers, users):
    """Cursors are deflated with a small window now; those handed out with zlib's defaults
    (a 32 KiB window) read on the same."""
    first = client.get("/api/users/?page_size=5", headers=admin_headers).get_json()
    last = first["results"][-1]
    plain = json.dumps(
        {
            "order": ["-created_at", "phone_number"],
            "values": [last["created_at"], last["phone_number"]],
        }
    )
    deflated = zlib.compress(plain.encode(), 9)
    cursor = base64.urlsafe_b64encode(deflated).decode().rstrip("=")

    response = client.get(f"/api/users/?page_size=5&cursor={cursor}", headers=admin_headers)

    page_2 = client.get("/api/users/?page_size=5&page=2", headers=admin_headers).get_json()
    assert response.get_json()["results"] == page_2["results"]
