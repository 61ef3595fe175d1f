"""List filters and ordering for users, tasks and error logs."""

from __future__ import annotations

import base64
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.factories import make_error, make_task, make_user


def results(client, headers, url) -> list[dict]:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def phones(rows) -> list[str]:
    return [row["phone_number"] for row in rows]


def test_users_filter_by_tier_and_activity(client, admin_headers):
    premium = make_user(tier="premium")
    make_user(tier="premium", is_active=False)
    make_user(tier="free")

    rows = results(client, admin_headers, "/api/users/?tier=premium&is_active=true")

    assert phones(rows) == [premium.phone_number]


@pytest.mark.parametrize("term", ["ADA", "lovelace.org", "0200777"])
def test_users_search_phone_email_and_name(client, admin_headers, term):
    ada = make_user("+15550200777", full_name="Ada Lovelace", email="ada@lovelace.org")
    make_user(full_name="Grace", email="grace@example.com")

    assert phones(results(client, admin_headers, f"/api/users/?search={term}")) == [
        ada.phone_number
    ]


@pytest.mark.parametrize("term", ["+1 (555) 020-0777", "(555) 020-0777", "555.020.0777"])
def test_users_search_finds_a_whole_number_written_any_way(client, admin_headers, term):
    """Regression: the admin's Users search finds a whole number in any notation, but the
    API's search matched only the stored characters, so "+1 (555) 020-0777", a number as
    people write it, found nobody though the texter was +15550200777."""
    ada = make_user("+15550200777", full_name="Ada Lovelace")
    make_user(full_name="Grace")

    assert phones(results(client, admin_headers, f"/api/users/?search={quote(term)}")) == [
        ada.phone_number
    ]


@pytest.mark.parametrize("term", ["élodie", "ÉLODIE", "Élodie", "öztürk", "иван"])
def test_users_search_ignores_the_case_of_every_letter(client, admin_headers, term):
    """Regression: on SQLite, whose lower() changes only ASCII letters, a name with an
    accented or Cyrillic capital was found by no search, not even one typed as stored."""
    elodie = make_user(full_name="Élodie Öztürk")
    ivan = make_user(full_name="Иван Петров")
    expected = {"иван": ivan, "öztürk": elodie}.get(term, elodie)

    found = results(client, admin_headers, f"/api/users/?search={term}")

    assert phones(found) == [expected.phone_number]


@pytest.mark.parametrize("name", ["İlkay Gündoğan", "ΟΔΥΣΣΕΑΣ", "Straße"])
def test_users_search_finds_a_name_typed_as_stored(client, admin_headers, name):
    """Regression: the term was lowered by Python and the names by the database, which
    disagree on some letters (PostgreSQL lowers İ to i, Python to i and a combining dot;
    Python ends a Greek word with ς): typed exactly as stored, the name was not found."""
    texter = make_user(full_name=name)
    make_user(full_name="Ada")

    found = results(client, admin_headers, f"/api/users/?search={quote(name)}")

    assert phones(found) == [texter.phone_number]


def test_users_search_treats_wildcards_literally(client, admin_headers):
    make_user(full_name="Ada")
    assert results(client, admin_headers, "/api/users/?search=%25") == []


def test_users_ordering_by_whitelisted_fields(client, admin_headers):
    low = make_user(total_requests=1)
    high = make_user(total_requests=9)
    middle = make_user(total_requests=5)

    descending = results(client, admin_headers, "/api/users/?ordering=-total_requests")
    ascending = results(client, admin_headers, "/api/users/?ordering=total_requests,-created_at")

    assert phones(descending) == [high.phone_number, middle.phone_number, low.phone_number]
    assert phones(ascending) == [low.phone_number, middle.phone_number, high.phone_number]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/users/?tier=premium&tier=free", "tier"),
        ("/api/tasks/?page=1&page=2", "page"),
        ("/api/tasks/?status=completed&status=failed", "status"),
        ("/api/errors/?resolved=true&resolved=true", "resolved"),
    ],
)
def test_a_filter_given_twice_is_a_400_not_silently_one_of_them(client, admin_headers, url, name):
    """`tier=premium&tier=free` counted only the premium texters, as if that were all."""
    make_user(tier="premium")
    make_user(tier="free")
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["details"] == {name: ["Give this parameter once."]}


def test_unknown_ordering_field_is_400(client, admin_headers):
    response = client.get("/api/users/?ordering=password_hash", headers=admin_headers)
    assert response.status_code == 400
    assert "ordering" in response.get_json()["details"]


@pytest.mark.parametrize(
    ("path", "ordering", "twice"),
    [
        ("/api/tasks/", ",".join(["created_at"] * 2000), "created_at"),
        ("/api/tasks/", "status,-created_at,created_at", "created_at"),
        ("/api/users/", "-tier,tier", "tier"),
    ],
    ids=["2000-times", "both-ways", "users"],
)
def test_a_field_ordered_by_twice_is_400(client, admin_headers, path, ordering, twice):
    """Each name was a sort term: 2,000 of them were a 500 (SQLite allows fewer)."""
    response = client.get(f"{path}?ordering={ordering}", headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["details"] == {
        "ordering": [f"Order by each field once; {twice!r} is named twice."]
    }


@pytest.mark.parametrize(
    ("path", "ordering", "item"),
    [
        ("/api/users/", "tier,", 2),
        ("/api/users/", ",tier", 1),
        ("/api/users/", "tier,,full_name", 2),
        ("/api/tasks/", "status, ,-created_at", 2),
        ("/api/errors/", ",", 1),
    ],
    ids=["trailing", "leading", "doubled", "blank", "comma-alone"],
)
def test_an_empty_item_in_ordering_is_400(client, admin_headers, path, ordering, item):
    """An empty item was skipped: `tier,` sorted as `tier`, as if the client had not
    dropped the field it meant to put after the comma."""
    response = client.get(f"{path}?ordering={quote(ordering)}", headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["details"] == {
        "ordering": [f"Item {item} is empty: name a field between each two commas."]
    }


@pytest.mark.parametrize(
    ("ordering", "item"),
    [("-", 1), ("tier,-", 2), ("tier, - ", 2)],
    ids=["alone", "after", "spaced"],
)
def test_a_minus_with_no_field_after_it_in_ordering_is_400_saying_so(
    client, admin_headers, ordering, item
):
    """Regression: `ordering=-` (a descending sort whose field was lost) was told "Cannot
    order by ''", a name the client never wrote."""
    response = client.get(f"/api/users/?ordering={quote(ordering)}", headers=admin_headers)
    assert response.status_code == 400
    assert response.get_json()["details"] == {
        "ordering": [f"Item {item} is '-' alone: write the field after it (-created_at)."]
    }


@pytest.mark.parametrize("ordering", ["", "  ", " tier "])
def test_an_ordering_left_blank_or_spaced_is_taken(client, admin_headers, ordering):
    make_user(tier="premium")
    response = client.get(f"/api/users/?ordering={quote(ordering)}", headers=admin_headers)
    assert response.status_code == 200


def test_tasks_filter_by_category_success_status_and_user(client, admin_headers):
    user = make_user()
    wanted = make_task(user, category="coding", success=True, status="completed")
    make_task(user, category="coding", success=False, status="failed")
    make_task(make_user(), category="coding", success=True, status="completed")
    phone = user.phone_number.replace("+", "%2B")

    rows = results(
        client,
        admin_headers,
        f"/api/tasks/?category=coding&success=true&status=completed&user_phone={phone}",
    )

    assert [row["id"] for row in rows] == [str(wanted.id)]


def test_tasks_filter_by_creation_dates(client, admin_headers):
    user = make_user()
    make_task(user, created_at=datetime(2026, 1, 1, 12, tzinfo=UTC))
    middle = make_task(user, created_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    make_task(user, created_at=datetime(2026, 2, 1, tzinfo=UTC))

    by_date = results(
        client, admin_headers, "/api/tasks/?created_after=2026-01-02&created_before=2026-01-15"
    )
    by_time = results(
        client,
        admin_headers,
        "/api/tasks/?created_after=2026-01-15T23:00:00%2B00:00&created_before=2026-01-16T00:00:00",
    )

    assert [row["id"] for row in by_date] == [str(middle.id)]
    assert [row["id"] for row in by_time] == [str(middle.id)]


@pytest.mark.parametrize("day", ["2026-01-15", "20260115", "2026-W03-4", "2026W034"])
def test_an_end_date_in_any_iso_notation_includes_that_whole_day(client, admin_headers, day):
    """Regression: created_before=20260115 (ISO 8601's basic notation) was read as midnight
    at the start of the 15th, so it left out the day that 2026-01-15 includes."""
    user = make_user()
    late = make_task(user, created_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    make_task(user, created_at=datetime(2026, 1, 16, 0, 30, tzinfo=UTC))

    listed = results(client, admin_headers, f"/api/tasks/?created_before={day}")
    counted = client.get(f"/api/tasks/analytics/?created_before={day}", headers=admin_headers)

    assert [row["id"] for row in listed] == [str(late.id)]
    assert counted.get_json()["total_tasks"] == 1


@pytest.mark.parametrize(
    "url",
    [
        "/api/tasks/?created_before=2026011512",  # not 20260115 (its 12 was dropped)
        "/api/tasks/?created_after=" + "1" * 40,  # not 1111-11-11T11:11:11.111111
        "/api/tasks/analytics/?created_after=20260115x1200",  # any letter for the T
        "/api/errors/?start_date=2026-01-15/12:00",
        f"/api/users/{quote('+15550200123')}/messages/?after={'1' * 5000}",
    ],
)
def test_a_bound_that_is_no_iso_8601_notation_is_a_400_not_a_moment_read_into_it(
    client, admin_headers, url
):
    """Regression: Python's fromisoformat reads more than ISO 8601 writes, and the filters
    took what it made of the text: 2026011512 as the whole of 2026-01-15 (its last digits
    dropped), forty 1s as 1111-11-11 11:11:11, any character for the T."""
    make_user("+15550200123")

    response = client.get(url, headers=admin_headers)

    assert response.status_code == 400, response.get_json()
    [field] = response.get_json()["details"]
    assert field in url


@pytest.mark.parametrize("moment", ["2026-01-15t23:00:00z", "2026-01-15T23:00:00.5z"])
def test_a_date_time_with_rfc_3339s_lower_case_z_is_taken(client, admin_headers, moment):
    """Regression: RFC 3339, the document's `date-time` format, allows 'z' (and 't') in lower
    case; a filter ending in 'z' was a 400 ('Enter a date ... or an ISO 8601 date-time')."""
    user = make_user()
    make_task(user, created_at=datetime(2026, 1, 15, 22, 30, tzinfo=UTC))
    late = make_task(user, created_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))

    listed = results(client, admin_headers, f"/api/tasks/?created_after={quote(moment)}")

    assert [row["id"] for row in listed] == [str(late.id)]


def test_an_offset_whose_plus_the_url_turned_into_a_space_is_explained(client, admin_headers):
    """Regression: ?created_after=2026-01-01T00:00:00+05:00 sent unencoded (the + reads as a
    space) got the same 400 as any garbage, with no hint of why."""
    response = client.get(
        "/api/tasks/?created_after=2026-01-01T00:00:00+05:00", headers=admin_headers
    )
    assert response.status_code == 400
    [problem] = response.get_json()["details"]["created_after"]
    assert "%2B" in problem
    garbage = client.get("/api/tasks/?created_after=soon", headers=admin_headers)
    assert "%2B" not in garbage.get_json()["details"]["created_after"][0]
    encoded = client.get(
        "/api/tasks/?created_after=2026-01-01T00:00:00%2B05:00", headers=admin_headers
    )
    assert encoded.status_code == 200


@pytest.mark.parametrize(
    "written", ["2026-02-30", "2026-13-01", "2026-01-31T24:30:00", "2026-01-31T10:00:00%2B25:00"]
)
def test_a_date_written_right_that_the_calendar_has_not_is_a_400_saying_so(
    client, admin_headers, written
):
    """Regression: 30 February (a client's date arithmetic gone wrong) got "Enter a date
    (YYYY-MM-DD) or an ISO 8601 date-time.", though it was written just so: the client
    looked for a mistake in the notation rather than in the day."""
    response = client.get(f"/api/tasks/?created_after={written}", headers=admin_headers)

    assert response.status_code == 400
    [problem] = response.get_json()["details"]["created_after"]
    assert "no such day or time" in problem and "YYYY-MM-DD" not in problem


@pytest.mark.parametrize("written", ["\u0662026-01-31", "2026-01-\uff13\uff11"])
def test_a_date_in_other_digits_than_0_9_is_a_400_asking_for_them(client, admin_headers, written):
    """Regression: a date with an Arabic-Indic or fullwidth digit was told "is written as
    ISO 8601 has it, but there is no such day or time", as the notation's pattern read any
    script's digits: the client checked the calendar rather than the digits."""
    response = client.get(f"/api/tasks/?created_after={quote(written)}", headers=admin_headers)

    assert response.status_code == 400
    [problem] = response.get_json()["details"]["created_after"]
    assert "no such day" not in problem and "0-9" in problem


@pytest.mark.parametrize(
    "path, first, last",
    [
        ("/api/tasks/", "created_after", "created_before"),
        ("/api/tasks/analytics/", "created_after", "created_before"),
        ("/api/errors/", "start_date", "end_date"),
    ],
)
def test_a_range_that_ends_before_it_starts_is_a_400_naming_both(
    client, admin_headers, path, first, last
):
    """Regression: bounds given the wrong way round answered 200 with nothing in it (and
    analytics charted 30 empty days), so a client that swapped them read "no tasks"."""
    swapped = client.get(f"{path}?{first}=2026-02-01&{last}=2026-01-31", headers=admin_headers)
    assert swapped.status_code == 400, swapped.get_json()
    [problem] = swapped.get_json()["details"][first]
    assert last in problem

    one_day = client.get(f"{path}?{first}=2026-01-31&{last}=2026-01-31", headers=admin_headers)
    one_moment = f"{path}?{first}=2026-01-31T12:00:00Z&{last}=2026-01-31T13:00:00%2B01:00"
    assert one_day.status_code == client.get(one_moment, headers=admin_headers).status_code == 200


def test_errors_filter_by_type_resolution_user_and_dates(client, admin_headers):
    user = make_user()
    now = datetime.now(UTC)
    wanted = make_error(error_type="twilio_error", user_phone=user.phone_number, timestamp=now)
    make_error(error_type="twilio_error", user_phone=user.phone_number, resolved=True)
    make_error(error_type="openai_error", user_phone=user.phone_number)
    make_error(error_type="twilio_error", timestamp=now - timedelta(days=10))
    start = (now - timedelta(days=1)).date().isoformat()
    phone = user.phone_number.replace("+", "%2B")

    rows = results(
        client,
        admin_headers,
        f"/api/errors/?error_type=twilio_error&resolved=false&user_phone={phone}"
        f"&start_date={start}&end_date={now.date().isoformat()}",
    )

    assert [row["id"] for row in rows] == [str(wanted.id)]


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/users/?is_active=maybe", "is_active"),
        ("/api/users/?tier=gold", "tier"),
        ("/api/tasks/?success=perhaps", "success"),
        ("/api/tasks/?created_after=yesterday", "created_after"),
        ("/api/tasks/?created_before=2026-02-30", "created_before"),
        ("/api/tasks/?user_phone=abc", "user_phone"),
        ("/api/errors/?resolved=2", "resolved"),
        ("/api/errors/?start_date=31/12/2025", "start_date"),
        ("/api/errors/?error_type=oops", "error_type"),
        ("/api/tasks/?ordering=-sms_content", "ordering"),
    ],
)
def test_bad_filter_values_are_400_naming_the_parameter(client, admin_headers, url, field):
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 400
    assert field in response.get_json()["details"]


@pytest.mark.parametrize(
    "word, meant",
    [("true", True), ("TRUE", True), ("tRue", True), ("1", True), ("Yes", True), ("on", True)]
    + [("false", False), ("False", False), ("0", False), ("no", False), ("OFF", False)],
)
def test_a_boolean_filter_takes_the_documented_words_in_any_case(
    client, admin_headers, word, meant
):
    """Regression: "TRUE" was read and "tRue" refused, and on/off worked undocumented."""
    user = make_user(is_active=meant)
    make_user(is_active=not meant)

    rows = results(client, admin_headers, f"/api/users/?is_active={word}")

    assert phones(rows) == [user.phone_number]


@pytest.mark.parametrize("word", ["t", "f", "y", "N", "truthy", "2"])
@pytest.mark.parametrize("name", ["/api/users/?is_active", "/api/tasks/?success"])
def test_a_boolean_filter_refuses_other_words_naming_the_ones_it_takes(
    client, admin_headers, name, word
):
    """Regression: t, f, y and n were read as booleans (the document names none of them),
    and a word refused was "Not a valid boolean.", with no word that is one."""
    response = client.get(f"{name}={word}", headers=admin_headers)

    assert response.status_code == 400
    field = name.rpartition("?")[2]
    assert response.get_json()["details"] == {
        field: ["Not a boolean: write one of true/false, 1/0, yes/no, on/off."]
    }


def test_the_document_names_the_words_a_boolean_filter_takes(client):
    document = client.get("/api/openapi.json").get_json()
    for path, name in [("/api/users/", "is_active"), ("/api/errors/", "resolved")]:
        parameters = document["paths"][path]["get"]["parameters"]
        (parameter,) = [p for p in parameters if p["name"] == name]
        assert "on/off" in parameter["description"], path


@pytest.mark.parametrize(
    "url",
    [
        "/api/tasks/?created_before=9999-12-31",
        "/api/tasks/?created_after=0001-01-01T00:00:00%2B01:00",
        "/api/tasks/analytics/?created_after=0001-01-01T00:00:00%2B05:00",
        "/api/tasks/analytics/?created_before=9999-12-31",
        "/api/errors/?end_date=9999-12-31T23:59:59-01:00",
        "/api/errors/?start_date=0001-01-01&end_date=9999-12-31",
    ],
)
def test_the_first_and_last_dates_there_are_bound_nothing_out(client, admin_headers, url):
    make_task()
    make_error()

    response = client.get(url, headers=admin_headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body.get("count", body.get("total_tasks")) == 1


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/tasks/?page=%D9%A1", "page"),  # ARABIC-INDIC DIGIT ONE
        ("/api/users/?page_size=%EF%BC%95", "page_size"),  # FULLWIDTH DIGIT FIVE
        ("/api/errors/?page=1_0", "page"),
        ("/api/tasks/?page_size=%205", "page_size"),
        ("/api/tasks/?page=%2B1", "page"),
        ("/api/conversations/?page=1.0", "page"),
        ("/api/tasks/?page_size=1E1", "page_size"),
    ],
)
def test_a_number_in_a_query_is_written_in_ascii_digits(client, admin_headers, url, field):
    """Regression: Python's int() reads digits of every script, underscores, spaces and a
    plus sign, so `page=1_0` read page 10 and `page_size=５` five, where the document
    says an integer (JSON's digits, as every number the API takes)."""
    make_task()
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["details"]


@pytest.mark.parametrize("name", ["page", "page_size"])
def test_a_query_number_too_long_to_read_is_a_400_in_the_apis_words(client, admin_headers, name):
    """Regression: `page=111...` of 5000 digits was "Not a valid integer.", though it is
    one, or quoted Python's advice to the programmer ("use sys.set_int_max_str_digits()")."""
    response = client.get(f"/api/tasks/?{name}={'1' * 5000}", headers=admin_headers)

    assert response.status_code == 400
    assert response.get_json()["details"] == {
        name: ["More digits than any number this service takes (at most 4300)."]
    }


def test_a_cursor_number_too_small_for_a_float_is_a_400_not_zero(client, admin_headers):
    """Regression: a cursor's 1E-400 was read as 0, and the list went on from 0 without a
    word, where a cursor no list handed out is a 400."""
    make_task(processing_time=0.0)
    text = f'{{"order": ["processing_time", "id"], "values": [1E-400, "{uuid.uuid4()}"]}}'
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    response = client.get(
        f"/api/tasks/?ordering=processing_time&cursor={cursor}", headers=admin_headers
    )

    assert response.status_code == 400, response.get_json()
    assert "cursor" in response.get_json()["details"]


@pytest.mark.parametrize("ordering", ["processing_time", "tokens_used", "category"])
def test_a_cursor_with_an_integer_too_long_to_read_is_a_400(client, admin_headers, ordering):
    make_task(tokens_used=5)
    text = f'{{"order": ["{ordering}", "id"], "values": [{"9" * 5000}, "{uuid.uuid4()}"]}}'
    cursor = base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")

    response = client.get(f"/api/tasks/?ordering={ordering}&cursor={cursor}", headers=admin_headers)

    assert response.status_code == 400, response.get_json()
    assert "cursor" in response.get_json()["details"]


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/users/?search=Jos%E9", "search"),  # José in Latin-1
        ("/api/users/?search=%ED%A0%80", "search"),  # a surrogate, which UTF-8 has not
        ("/api/errors/?user_phone=%2B1555%FF0100001", "user_phone"),
    ],
)
def test_a_query_parameter_not_in_utf8_is_a_400_naming_it(client, admin_headers, url, field):
    """Regression: bytes that are not UTF-8 were read as U+FFFD, so `search=Jos%E9` (José
    sent in Latin-1) looked for "Jos\ufffd" and found nobody without a word, where a body
    that is not UTF-8 is a 400."""
    make_user(full_name="José")
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["details"]


def test_a_query_in_utf8_finds_what_it_names(client, admin_headers):
    make_user(full_name="José")
    assert len(results(client, admin_headers, "/api/users/?search=Jos%C3%A9")) == 1


def test_a_nul_in_a_query_parameter_is_a_400_naming_it(client, admin_headers):
    """Regression: the 400 for a NUL character said only "URL parameters", with empty
    details, so a client sending several could not tell which one to fix."""
    response = client.get("/api/users/?tier=free&search=a%00b", headers=admin_headers)
    assert response.status_code == 400
    assert list(response.get_json()["details"]) == ["search"]


@pytest.mark.parametrize(
    "url, field, meant",
    [
        ("/api/tasks/?status=Completed", "status", "completed"),
        ("/api/tasks/?category=CODING", "category", "coding"),
        ("/api/tasks/?refusal_reason=Over_Quota", "refusal_reason", "over_quota"),
        ("/api/tasks/analytics/?status=Failed", "status", "failed"),
        ("/api/users/?tier=Premium", "tier", "premium"),
        ("/api/users/?ordering=-Tier", "ordering", "tier"),
        ("/api/errors/?error_type=System_Error", "error_type", "system_error"),
        ("/api/conversations/?state=AI", "state", "ai"),
        ("/api/users/%2B15550200123/export/?format=CSV", "format", "csv"),
    ],
)
def test_a_choice_in_another_letter_case_is_a_400_naming_it_as_written(
    client, admin_headers, url, field, meant
):
    """Decision: a filter's choices are the API's own identifiers, written as its answers
    write them (lower case), so ?status=Completed is not taken as `completed` (a cursor, an
    ETag and a cache key name one spelling); the 400 names the allowed values, and now
    also the one meant, where a client read the list and could not see why."""
    make_user("+15550200123")

    response = client.get(url, headers=admin_headers)

    assert response.status_code == 400
    [problem] = response.get_json()["details"][field]
    assert f"is written {meant!r}" in problem
