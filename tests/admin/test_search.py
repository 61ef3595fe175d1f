"""Searching the lists for a whole phone number or Twilio SID: matched exactly in its column,
through the index, as staff paste them; anything else is searched in the text as before."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from sms_agent.admin.search import twilio_sid
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage
from sms_agent.phones import whole_phone_number
from tests.factories import make_error, make_task, make_user

ANN, BOB = "+15550100091", "+15550100092"
ANN_SID = "SM" + "a1" * 16


def shows(page: str, phone: str) -> bool:
    """Whether the list has a row of this texter (their number links to their page)."""
    return f'id={quote(phone)}"' in page


def listed(client, url: str, search: str) -> str:
    response = client.get(f"{url}?search={quote(search)}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def two_texters():
    """Ann asked about Bob's number in her text; Bob asked about the weather."""
    ann, bob = make_user(ANN), make_user(BOB)
    make_task(user=ann, sms_content=f"Who has the number {BOB}?", message_sid=ANN_SID)
    make_task(user=bob, sms_content="Weather in Lyon tomorrow?")
    for user in (ann, bob):
        sid = ANN_SID if user is ann else "SM" + "b2" * 16
        db.session.add(OutboundMessage(to_number=user.phone_number, body="Hi", sid=sid))
    db.session.commit()  # before the error logs, as the service writes them (tests/write_order.py)
    for user in (ann, bob):
        make_error(user_phone=user.phone_number, error_message=f"failed for {user.phone_number}")


@pytest.mark.parametrize("typed", [BOB, "+1 (555) 010-0092", "555-010-0092", "5550100092"])
def test_a_whole_number_finds_that_texters_tasks_however_it_is_typed(
    admin_client, two_texters, typed
):
    page = listed(admin_client, "/admin/task/", typed)
    # Ann's text mentions Bob's number: the number names a texter, not words in a text.
    assert shows(page, BOB) and not shows(page, ANN)
    assert "List (1)" in page


@pytest.mark.parametrize(
    ("url", "column"),
    [
        ("/admin/task/", "tasks.user_phone ="),
        ("/admin/outboundmessage/", "outbound_messages.to_number ="),
        ("/admin/errorlog/", "error_logs.user_phone ="),
        ("/admin/user/", "users.phone_number ="),
    ],
)
def test_a_whole_number_is_one_indexed_equality_not_a_scan_of_every_text(
    admin_client, two_texters, count_queries, url, column
):
    """ILIKE '%…%' reads every row (1.7 s for one texter among 1,000,000 tasks on
    PostgreSQL); an equality on the phone column is answered by its index."""
    with count_queries() as counter:
        page = listed(admin_client, url, BOB)
    assert shows(page, BOB) and not shows(page, ANN)
    searched = [sql for sql in counter.statements if column in sql]
    assert searched, counter.statements
    assert not [sql for sql in searched if "LIKE" in sql.upper()], searched


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [("/admin/outboundmessage/", ANN, BOB), ("/admin/task/", ANN, BOB)],
)
def test_a_twilio_sid_finds_its_message(
    admin_client, two_texters, count_queries, url, shown, hidden
):
    with count_queries() as counter:
        page = listed(admin_client, url, ANN_SID)
    assert shows(page, shown) and not shows(page, hidden)
    assert not [sql for sql in counter.statements if "LIKE" in sql.upper()]


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("0100091", [ANN]),
        ("0100092", [ANN, BOB]),  # part of Bob's number, and of the number in Ann's text
        ("Lyon", [BOB]),
        ("who has", [ANN]),
    ],
)
def test_part_of_a_number_or_words_search_the_text_as_before(
    admin_client, two_texters, search, found
):
    page = listed(admin_client, "/admin/task/", search)
    assert [phone for phone in (ANN, BOB) if shows(page, phone)] == found


@pytest.mark.parametrize(
    ("search", "found"),
    [("%", [ANN]), ("50%", [ANN]), ("_", [BOB]), ("x_y", [BOB]), ("x%y", []), ("5_%", [])],
)
def test_percent_and_underscore_are_searched_as_written_not_as_wildcards(
    admin_client, search, found
):
    """As the API searches: "%" or "_" alone matched every row, "50%" any text with 50."""
    make_task(user=make_user(ANN), sms_content="Is 50% off a good deal?")
    make_task(user=make_user(BOB), sms_content="What is x_y in 500 lines of code?")
    page = listed(admin_client, "/admin/task/", search)
    assert [phone for phone in (ANN, BOB) if shows(page, phone)] == found


def test_a_long_text_pasted_into_the_search_finds_the_row_that_holds_it(admin_client):
    """Regression: every word of a search is a condition, and SQLite refused a search of
    about a thousand words with a server error ("Expression tree is too large"): a letter
    pasted whole, say. Words said twice are looked for once."""
    text = " ".join(["the cat sat on the mat"] * 300 + ["and was fed"])
    make_task(user=make_user(ANN), sms_content=text)
    make_task(user=make_user(BOB), sms_content="the cat sat on the mat")
    page = listed(admin_client, "/admin/task/", text)
    assert [phone for phone in (ANN, BOB) if shows(page, phone)] == [ANN]


@pytest.mark.parametrize(
    "url", ["/admin/task/", "/admin/user/", "/admin/errorlog/", "/admin/outboundmessage/"]
)
def test_a_search_of_more_words_than_a_search_takes_says_so(admin_client, two_texters, url):
    words = [f"word{number}" for number in range(1200)]
    page = listed(admin_client, url, " ".join(words))
    assert "A search takes at most 500 different words; this one has 1,200." in page
    assert not shows(page, ANN) and not shows(page, BOB)
    page = listed(admin_client, url, " ".join(words[:500]))
    assert "A search takes at most" not in page


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("flt0_category_contains=%25", []),
        ("flt0_category_contains=_", []),
        ("flt0_category_contains=cod", [ANN]),
        ("flt0_category_not_contains=%25", [ANN, BOB]),
    ],
)
def test_a_contains_filter_matches_its_value_as_written(admin_client, query, found):
    """As the search box does: "%" or "_" are no wildcards that match every row."""
    make_task(user=make_user(ANN), category="coding")
    make_task(user=make_user(BOB), category="general")
    response = admin_client.get(f"/admin/task/?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert [phone for phone in (ANN, BOB) if shows(page, phone)] == found


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("+15550100092", "+15550100092"),
        (" +44 20 7946 0958 ", "+442079460958"),
        ("(555) 010-0092", "+15550100092"),
        ("0100092", None),  # seven digits, but no such number: part of one
        ("555-0045", None),
        ("+1 555 CALL NOW", None),
        ("12345678901234567890123", None),
        ("", None),
    ],
)
def test_what_counts_as_a_whole_phone_number(app, typed, number):
    assert whole_phone_number(typed) == number


def test_what_counts_as_a_twilio_sid():
    assert twilio_sid(" " + ANN_SID + " ") == ANN_SID
    assert twilio_sid("SM123") is None
    assert twilio_sid("sm" + "a1" * 16) is None
