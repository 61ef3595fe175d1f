"""Polling a texter's thread with the cursor each answer hands back: every message once,
whatever order the writers' clocks and commits came in."""

from __future__ import annotations

import base64
import json
import runpy
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.api import cursors
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, utcnow, write_marks
from sms_agent.phones import MAX_INPUT_LENGTH
from sms_agent.threads import Position
from tests.factories import make_task, make_user

PHONE = "+15550203333"
MESSAGES = f"/api/users/{quote(PHONE)}/messages/"


def poll(client, headers, cursor: str, **params) -> dict:
    query = "&".join(f"{key}={quote(str(value))}" for key, value in params.items())
    response = client.get(f"{MESSAGES}?cursor={quote(cursor)}&{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bodies(body: dict) -> list[str]:
    return [message["body"] for message in body["results"]]


def write_in_own_transaction(session: sa.orm.Session, body: str, created_at) -> None:
    """A worker's write: stored with the time its process stamped on it."""
    session.add(Task(user_phone=PHONE, sms_content=body, created_at=created_at))
    session.flush()


def test_every_answer_hands_back_a_cursor_that_polls_for_what_came_since(client, admin_headers):
    user = make_user(PHONE)
    make_task(user=user, sms_content="seen")
    first = client.get(MESSAGES, headers=admin_headers).get_json()
    assert bodies(first) == ["seen"] and first["cursor"]
    assert bodies(poll(client, admin_headers, first["cursor"])) == []
    make_task(user=user, sms_content="new")
    db.session.add(OutboundMessage(to_number=PHONE, body="reply", kind="reply"))
    db.session.commit()
    later = poll(client, admin_headers, first["cursor"])
    assert bodies(later) == ["new", "reply"] and later["next"] is None
    assert bodies(poll(client, admin_headers, later["cursor"])) == []


def test_a_message_stamped_earlier_but_committed_later_is_not_missed(client, admin_headers):
    """Two workers: the one whose clock said earlier commits after the other's message
    was polled. `after` (by time) skips it; the cursor does not."""
    user = make_user(PHONE)
    start = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    stamped = utcnow()
    make_task(user=user, sms_content="later", created_at=stamped + timedelta(seconds=1))
    seen = poll(client, admin_headers, start)
    assert bodies(seen) == ["later"]
    make_task(user=user, sms_content="earlier", created_at=stamped)
    assert bodies(poll(client, admin_headers, seen["cursor"])) == ["earlier"]
    after = quote(seen["results"][-1]["created_at"])
    by_time = client.get(f"{MESSAGES}?after={after}", headers=admin_headers).get_json()
    assert bodies(by_time) == []  # what `after` alone would have missed


def test_two_transactions_committing_out_of_order_are_both_polled(app, client, admin_headers):
    """On PostgreSQL the first writer is still open while the second commits and is read."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: commits cannot overlap")
    make_user(PHONE)
    start = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    stamped = utcnow()
    with sa.orm.Session(db.engine) as slow, sa.orm.Session(db.engine) as fast:
        write_in_own_transaction(slow, "first, committed last", stamped)
        write_in_own_transaction(fast, "second, committed first", stamped + timedelta(seconds=1))
        fast.commit()
        seen = poll(client, admin_headers, start)
        assert bodies(seen) == ["second, committed first"]
        slow.commit()
    assert bodies(poll(client, admin_headers, seen["cursor"])) == ["first, committed last"]
    assert bodies(poll(client, admin_headers, start)) == [
        "first, committed last",
        "second, committed first",
    ]


def test_a_long_wait_is_read_a_page_at_a_time_each_message_once(client, admin_headers):
    user = make_user(PHONE)
    cursor = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    for n in range(5):
        make_task(user=user, sms_content=f"text {n}")
    first = poll(client, admin_headers, cursor, page_size=2)
    assert bodies(first) == ["text 0", "text 1"] and first["next"] is not None
    make_task(user=user, sms_content="meanwhile")  # committed after the first page
    second = poll(client, admin_headers, first["cursor"], page_size=2)
    assert bodies(second) == ["text 2", "text 3"]
    third = poll(client, admin_headers, second["cursor"], page_size=2)
    assert bodies(third) == ["text 4"] and third["next"] is None
    fourth = poll(client, admin_headers, third["cursor"], page_size=2)
    assert bodies(fourth) == ["meanwhile"]
    assert bodies(poll(client, admin_headers, fourth["cursor"])) == []


def test_a_message_written_after_the_newest_one_was_deleted_is_not_missed(client, admin_headers):
    """Regression: on SQLite the cursor held each table's highest rowid, and SQLite gives a
    deleted newest row's rowid to the next insert, so what was written next sorted before
    the cursor and the poller never saw it."""
    user = make_user(PHONE)
    make_task(user=user, sms_content="kept")
    make_task(user=user, sms_content="deleted")
    db.session.add(OutboundMessage(to_number=PHONE, body="deleted reply", kind="reply"))
    db.session.commit()
    cursor = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    db.session.execute(sa.delete(Task).where(Task.sms_content == "deleted"))
    db.session.execute(sa.delete(OutboundMessage).where(OutboundMessage.body == "deleted reply"))
    db.session.commit()
    make_task(user=user, sms_content="new")
    db.session.add(OutboundMessage(to_number=PHONE, body="new reply", kind="reply"))
    db.session.commit()
    assert bodies(poll(client, admin_headers, cursor)) == ["new", "new reply"]


def test_many_writers_running_cut_the_cursors_mark_and_no_message_is_missed_or_repeated(
    client, admin_headers, monkeypatch
):
    """Regression: a mark listed every transaction running when it was taken, so with many
    writers open a cursor grew past any URL the web server takes (up to 30,000 characters).
    A mark now ends at a running transaction once it reaches MAX_TEXT (here 24 characters,
    a few running writers), and what it leaves out comes at the next poll."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its marks never list running ones")
    monkeypatch.setattr(write_marks, "MAX_TEXT", 24)
    user = make_user(PHONE)
    start = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    writers = [sa.orm.Session(db.engine) for _ in range(6)]
    try:
        for n, writer in enumerate(writers):
            write_in_own_transaction(writer, f"slow {n}", utcnow())
        make_task(user=user, sms_content="fast")  # committed while the six are open
        seen = poll(client, admin_headers, start)
        for writer in writers:
            writer.commit()
    finally:
        for writer in writers:
            writer.close()

    assert len(cursors.decode(seen["cursor"]).since) <= 24
    rest = poll(client, admin_headers, seen["cursor"])
    assert sorted(bodies(seen) + bodies(rest)) == ["fast"] + [f"slow {n}" for n in range(6)]
    assert bodies(poll(client, admin_headers, rest["cursor"])) == []


def test_the_longest_message_cursor_fits_the_web_servers_request_line():
    running = ",".join(str(9 * 10**17 + n) for n in range(1, 2000))
    mark = write_marks._within_bound(f"{9 * 10**17}:{9 * 10**17 + 5000}:{running}")
    past = (datetime.max.replace(tzinfo=UTC), "out", uuid.uuid4())

    cursor = cursors.encode(Position(since=mark, until=mark, past=past))

    assert len(mark) <= write_marks.MAX_TEXT and len(cursor) <= cursors.MAX_LENGTH
    phone = "%2B" * MAX_INPUT_LENGTH  # the longest number taken, every character escaped
    longest = (
        f"GET /api/users/{phone}/messages/?page_size=1000000000"
        f"&cursor={'x' * cursors.MAX_LENGTH} HTTP/1.1"
    )
    assert len(longest) <= runpy.run_path("gunicorn.conf.py")["limit_request_line"]


@pytest.mark.parametrize(
    "cursor",
    ["", "nonsense", "e30", "eyJ2IjoxfQ", "x" * 5000, "eyJzaW5jZSI6IjE6MTo5OSJ9"],
)
def test_a_cursor_this_server_did_not_hand_out_is_a_400(client, admin_headers, cursor):
    make_user(PHONE)
    response = client.get(f"{MESSAGES}?cursor={quote(cursor)}", headers=admin_headers)
    assert response.status_code == 400
    assert "cursor" in response.get_json()["details"]


ZERO = "00000000-0000-0000-0000-000000000000"
WHEN = "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "past",
    [
        [WHEN, "in", 5],
        [WHEN, "out", []],
        [1, "in", ZERO],
        ["0001-01-01T00:00:00+14:00", "in", ZERO],
        ["9999-12-31T23:59:59-14:00", "out", ZERO],
    ],
    ids=["number-id", "list-id", "number-time", "before-year-1-utc", "after-year-9999-utc"],
)
def test_a_cursor_whose_message_key_is_not_one_is_a_400(client, admin_headers, past):
    """Regression: a message cursor's key was read as it came, so an id that was not text
    (AttributeError) or a moment at the calendar's ends with an offset (OverflowError at the
    query) was a 500."""
    make_user(PHONE)
    handed = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    position = json.loads(base64.urlsafe_b64decode(handed + "=" * (-len(handed) % 4)))
    forged = json.dumps({**position, "until": position["since"], "past": past})

    cursor = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    response = client.get(f"{MESSAGES}?cursor={cursor}", headers=admin_headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert "cursor" in response.get_json()["details"]


def test_cursor_and_after_together_are_a_400(client, admin_headers):
    make_user(PHONE)
    cursor = client.get(MESSAGES, headers=admin_headers).get_json()["cursor"]
    after = quote(utcnow().isoformat())
    response = client.get(f"{MESSAGES}?cursor={cursor}&after={after}", headers=admin_headers)
    assert response.status_code == 400 and "cursor" in response.get_json()["details"]


def test_the_openapi_document_describes_the_cursor(client):
    document = client.get("/api/openapi.json").get_json()
    listing = document["paths"]["/api/users/{phone_number}/messages/"]["get"]
    assert "cursor" in {parameter["name"] for parameter in listing["parameters"]}
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert "cursor" in schema["properties"] and "cursor" in schema["required"]
