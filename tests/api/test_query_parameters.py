"""A query parameter an operation does not take is a 400 naming it, never ignored."""

from __future__ import annotations

import uuid

import pytest

from sms_agent.api.openapi import EXAMPLE_ID, EXAMPLE_PHONE
from tests.factories import make_error, make_task, make_user


@pytest.mark.parametrize(
    "url, unknown",
    [
        ("/api/users/?teir=premium", ["teir"]),
        ("/api/users/?tier=premium&serach=ada&utm=a&utm=b", ["serach", "utm"]),
        ("/api/tasks/?stauts=failed&page=1", ["stauts"]),
        ("/api/tasks/analytics/?page=2", ["page"]),
        ("/api/errors/?resloved=false", ["resloved"]),
        ("/api/conversations/?sate=staff", ["sate"]),
        (f"/api/users/{EXAMPLE_PHONE}/messages/?since=2026-01-01", ["since"]),
        (f"/api/users/{EXAMPLE_PHONE}/export/?fromat=csv", ["fromat"]),
        ("/api/analytics/?created_after=2026-01-01", ["created_after"]),
        (f"/api/users/{EXAMPLE_PHONE}/?fields=email", ["fields"]),
    ],
)
def test_a_misspelt_or_unknown_parameter_is_a_400_naming_it(client, admin_headers, url, unknown):
    """`?teir=premium` listed every texter, as if the filter had been applied and matched
    all of them; a client's typo gave a wrong answer without a word."""
    make_user(EXAMPLE_PHONE, tier="free")
    make_user(tier="premium")

    response = client.get(url.replace("+", "%2B"), headers=admin_headers)

    assert response.status_code == 400
    body = response.get_json()
    assert sorted(body["details"]) == unknown
    for name in unknown:
        assert name in body["error"]
        assert "Not a parameter" in body["details"][name][0]


def test_the_400_says_which_parameters_the_operation_takes(client, admin_headers):
    body = client.get("/api/conversations/?sate=staff", headers=admin_headers).get_json()

    assert body["details"]["sate"] == [
        "Not a parameter of this operation: it takes page, page_size, state."
    ]
    plain = client.get("/api/analytics/?days=7", headers=admin_headers).get_json()
    assert plain["details"]["days"] == ["Not a parameter of this operation: it takes none."]


def test_a_write_refuses_a_parameter_it_does_not_take(client, admin_headers):
    response = client.post(
        "/api/users/?tier=premium", json={"phone_number": "+15550200555"}, headers=admin_headers
    )

    assert response.status_code == 400
    assert list(response.get_json()["details"]) == ["tier"]
    assert (
        client.get(
            "/api/users/+15550200555/".replace("+", "%2B"), headers=admin_headers
        ).status_code
        == 404
    )


def _example_url(path: str) -> str:
    return (
        path.replace("{phone_number}", "%2B" + EXAMPLE_PHONE[1:])
        .replace("{task_id}", EXAMPLE_ID)
        .replace("{error_id}", EXAMPLE_ID)
    )


def test_every_documented_query_parameter_is_taken(client, admin_headers):
    """The document and the behaviour agree: no parameter it lists is refused as unknown
    (its value may still be a 400 of its own)."""
    user = make_user(EXAMPLE_PHONE)
    make_task(user, id=uuid.UUID(EXAMPLE_ID))
    make_error(id=uuid.UUID(EXAMPLE_ID), user_phone=EXAMPLE_PHONE)
    document = client.get("/api/openapi.json").get_json()
    checked = 0
    for path, operations in document["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] != "query":
                continue
            name = parameter["name"]
            response = client.get(f"{_example_url(path)}?{name}=x", headers=admin_headers)
            body = response.get_json(silent=True) or {}  # an export's CSV is read whole too
            details = body.get("details", {}) if response.status_code == 400 else {}
            assert "Not a parameter" not in str(details.get(name)), (path, name)
            checked += 1
    assert checked > 30


def test_every_operation_documents_the_400_for_an_unknown_parameter(client):
    document = client.get("/api/openapi.json").get_json()

    assert "does not list is a 400" in document["info"]["description"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (path, method)


def test_a_cache_buster_is_ignored_on_every_operation(client, admin_headers):
    """Regression: jQuery's `cache: false` (and other clients defeating a cache) adds
    `_=<milliseconds>` to each GET; every such request was a 400 "Unknown query parameter"."""
    user = make_user(EXAMPLE_PHONE)
    make_task(user, id=uuid.UUID(EXAMPLE_ID))
    make_error(id=uuid.UUID(EXAMPLE_ID), user_phone=EXAMPLE_PHONE)
    document = client.get("/api/openapi.json?_=1700000000000").get_json()
    checked = 0
    for path in document["paths"]:
        if "get" not in document["paths"][path]:
            continue
        url = _example_url(path)
        plain, busted = (
            _read_whole(client.get(url + query, headers=admin_headers))
            for query in ("", "?_=1700000000000")
        )
        assert busted == plain, path
        checked += 1
    filtered = client.get("/api/users/?_=1700000000001&tier=premium", headers=admin_headers)
    assert filtered.status_code == 200 and filtered.get_json()["count"] == 0
    created = client.post(
        "/api/users/?_=1700000000002", json={"phone_number": "+15550200555"}, headers=admin_headers
    )
    assert created.status_code == 201
    assert checked > 10


@pytest.mark.parametrize("name", ["__", "_x", "x_"])
def test_only_the_cache_buster_named_underscore_is_ignored(client, admin_headers, name):
    response = client.get(f"/api/users/?{name}=1", headers=admin_headers)

    assert response.status_code == 400
    assert list(response.get_json()["details"]) == [name]


def _read_whole(response) -> tuple:
    """Status, type and JSON body, a streamed export's read to its end (the export says
    when it was made, each its own moment; the docs page carries a nonce of its own; a
    thread's polling `cursor` holds PostgreSQL's snapshot, which any other transaction on
    the server moves on)."""
    response.get_data()
    body = response.get_json() if response.is_json else None
    if isinstance(body, dict):
        body.pop("exported_at", None)
        body.pop("cursor", None)
    return response.status_code, response.mimetype, body


@pytest.mark.parametrize(
    "query, shown",
    [
        ("=x", 'one with no name (nothing before its "=")'),
        ("%20=x", '" "'),
        ("%E2%80%AE=1", '"\\u202e"'),
    ],
)
def test_an_unknown_parameter_with_no_visible_name_is_named_readably(
    client, admin_headers, query, shown
):
    """`?=x` answered "Unknown query parameter: ." (a name that is nothing), and a space or
    an invisible character as a name was as unreadable: such a name is written out."""
    body = client.get(f"/api/users/?{query}", headers=admin_headers).get_json()

    assert body["error"] == f"Unknown query parameter: {shown}."
