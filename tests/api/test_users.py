"""/api/users/: the design document's user tests, plus stats, texters' scope and messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.api.openapi import build_document
from sms_agent.extensions import db
from sms_agent.models import (
    ApiToken,
    ErrorLog,
    OutboundMessage,
    SentSubmission,
    Task,
    User,
    first_of_next_month,
    utcnow,
)
from sms_agent.outbound.shape import to_sms_text
from tests.api.conftest import TEXTER_PHONE, token_header
from tests.factories import make_staff, make_task, make_token, make_user
from tests.standins import inbound_form, signed_post
from tests.test_webhook import queued_jobs

PHONE = "+15550200123"
ENCODED = "%2B15550200123"


def test_list_users_returns_every_user_with_stats(client, admin_headers):
    make_user(PHONE, tier="premium", email="ada@example.com", full_name="Ada")
    make_user()

    response = client.get("/api/users/", headers=admin_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 2
    assert {row["phone_number"] for row in body["results"]} >= {PHONE}
    ada = next(row for row in body["results"] if row["phone_number"] == PHONE)
    assert ada["tier"] == "premium" and ada["email"] == "ada@example.com"
    assert set(ada["stats"]) == {"success_rate", "avg_response_time", "favorite_categories"}


def test_user_detail_by_url_encoded_number(client, admin_headers):
    make_user(PHONE, full_name="Ada")

    response = client.get(f"/api/users/{ENCODED}/", headers=admin_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["phone_number"] == PHONE and body["full_name"] == "Ada"
    assert body["created_at"].startswith(str(utcnow().year))


def test_user_detail_accepts_other_notations_of_the_number(client, admin_headers):
    make_user(PHONE)

    assert client.get("/api/users/+1 (555) 020-0123/", headers=admin_headers).status_code == 200
    assert client.get("/api/users/5550200123/", headers=admin_headers).status_code == 200


def test_an_unknown_number_in_the_url_is_404(client, admin_headers):
    response = client.get("/api/users/%2B15550200999/", headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == "No such user."


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("not-a-number", "'not-a-number' is not a phone number"),
        ("%2B1", "'+1' is not a phone number"),
        ("555-0045", "'555-0045' lacks its area code"),
        ("5550200123 ext. 12", "has an extension, which a text cannot reach"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_unreadable_number_in_the_url_is_a_400_saying_why(
    client, admin_headers, path, why, method
):
    """Regression: it was "No such user." (404), as for a number nobody has, so a client
    with a number lacking its area code was told to create the texter, and the POST then
    refused the number; the README says a 400 wherever a number is given."""
    make_user(PHONE)
    body = {"full_name": "x"} if method == "PATCH" else None
    response = client.open(f"/api/users/{path}/", method=method, json=body, headers=admin_headers)
    assert response.status_code == 400
    [message] = response.get_json()["details"]["phone_number"]
    assert why in message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_a_texter_is_told_why_a_number_in_the_url_is_unreadable(client, texter_headers):
    response = client.get("/api/users/555-0045/", headers=texter_headers)
    assert response.status_code == 400 and "phone_number" in response.get_json()["details"]


def test_stats_are_computed_from_the_users_tasks(client, admin_headers):
    user = make_user(PHONE)
    make_task(user, category="coding", success=True, processing_time=2.0)
    make_task(user, category="coding", success=False, processing_time=4.0)
    make_task(user, category="debug", success=True)
    make_task(user, category="design", success=True)
    make_task(user, category="analysis", success=False)

    stats = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()["stats"]

    assert stats["success_rate"] == 60.0
    assert stats["avg_response_time"] == 3.0
    assert stats["favorite_categories"][0] == "coding"
    assert len(stats["favorite_categories"]) == 3


def test_favourite_categories_rank_by_tasks_then_by_name(client, admin_headers):
    """Counts of different widths (9 against 10, 100) rank as numbers, ties by name."""
    user = make_user(PHONE)
    counts = {"general": 9, "coding": 10, "analysis": 100, "design": 10, "debug": 1}
    for category, count in counts.items():
        for _ in range(count):
            make_task(user, category=category, success=True)

    stats = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()["stats"]

    assert stats["favorite_categories"] == ["analysis", "coding", "design"]


def test_user_without_tasks_has_zero_stats(client, admin_headers):
    make_user(PHONE)
    stats = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()["stats"]
    assert stats == {"success_rate": 0.0, "avg_response_time": None, "favorite_categories": []}


def test_create_user_normalises_the_number(client, admin_headers):
    response = client.post(
        "/api/users/",
        json={"phone_number": "(555) 020-0123", "tier": "premium", "timezone": "Europe/Paris"},
        headers=admin_headers,
    )

    assert response.status_code == 201
    assert response.get_json()["phone_number"] == PHONE
    user = db.session.get(User, PHONE)
    assert user.tier == "premium" and user.timezone == "Europe/Paris"


def test_creating_a_user_whose_number_exists_is_a_409_conflict(client, admin_headers):
    make_user(PHONE, full_name="Ada")
    body = {"phone_number": "(555) 020-0123", "full_name": "Someone else"}
    response = client.post("/api/users/", json=body, headers=admin_headers)
    assert response.status_code == 409
    assert "phone_number" in response.get_json()["details"]
    assert db.session.get(User, PHONE).full_name == "Ada"


def test_a_local_number_without_its_area_code_is_no_texter(client, admin_headers):
    """phonenumbers calls "555-0045" possible (dialled locally); stored as +15550045 it
    would name nobody, and every SMS to it would fail at Twilio."""
    for typed in ("555-0045", "5550045"):
        response = client.post("/api/users/", json={"phone_number": typed}, headers=admin_headers)
        assert response.status_code == 400
        assert "area code" in str(response.get_json()["details"]["phone_number"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    "typed",
    ["+1 415 555 0100 ext. 12", "(415) 555-0100 x12", "4155550100;ext=12", "+14155550100#12"],
)
def test_a_number_with_an_extension_is_refused_not_cut_short(client, admin_headers, typed):
    """Regression: the extension was dropped without a word, and the user stored as the
    switchboard's number (+14155550100); a text cannot reach an extension."""
    response = client.post("/api/users/", json={"phone_number": typed}, headers=admin_headers)

    assert response.status_code == 400
    assert "extension" in str(response.get_json()["details"]["phone_number"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"phone_number": "12"}, "phone_number"),
        ({"phone_number": PHONE, "tier": "gold"}, "tier"),
        ({"phone_number": PHONE, "email": "not-an-email"}, "email"),
        ({"phone_number": PHONE, "email": "ada@\ud800.example"}, "email"),
        ({"phone_number": PHONE, "timezone": "Mars/Olympus"}, "timezone"),
        ({"phone_number": PHONE, "full_name": "x" * 101}, "full_name"),
        ({"phone_number": PHONE, "preferences": ["a"]}, "preferences"),
        ({"phone_number": PHONE, "full_name": "nul\x00byte"}, "full_name"),
        ({"phone_number": PHONE, "total_requests": 5}, "total_requests"),
        ({}, "phone_number"),
    ],
)
def test_create_user_with_a_bad_field_is_400(client, admin_headers, payload, field):
    response = client.post("/api/users/", json=payload, headers=admin_headers)
    assert response.status_code == 400
    assert field in response.get_json()["details"]
    assert db.session.get(User, PHONE) is None


def test_patch_changes_only_the_fields_sent(client, admin_headers):
    make_user(PHONE, full_name="Ada", email="ada@example.com")

    response = client.patch(
        f"/api/users/{ENCODED}/", json={"full_name": "Ada L."}, headers=admin_headers
    )

    assert response.status_code == 200
    db.session.expire_all()
    user = db.session.get(User, PHONE)
    assert user.full_name == "Ada L." and user.email == "ada@example.com"


@pytest.mark.parametrize(("sent", "saved"), [("   ", ""), ("\u200b\t", ""), (" Ada L. ", "Ada L.")])
def test_a_name_of_only_spaces_is_no_name(client, admin_headers, sent, saved):
    """Regression: " " was stored as the texter's name, one nobody could read."""
    make_user(PHONE, full_name="Ada")
    url = f"/api/users/{ENCODED}/"
    response = client.patch(url, json={"full_name": sent}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["full_name"] == saved
    db.session.expire_all()
    assert db.session.get(User, PHONE).full_name == saved


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_name_with_a_direction_override_is_a_400(client, admin_headers, method):
    """Regression: "Ann" and U+202E before "moc.elgoog" was stored and shown to staff as
    "Ann google.com"."""
    make_user(PHONE, full_name="Ada")
    name = "Ann\u202emoc.elgoog"
    if method == "post":
        body = {"phone_number": "+15550200199", "full_name": name}
        response = client.post("/api/users/", json=body, headers=admin_headers)
    else:
        url = f"/api/users/{ENCODED}/"
        response = client.patch(url, json={"full_name": name}, headers=admin_headers)

    assert response.status_code == 400
    assert response.get_json()["details"]["full_name"] == [
        "Only letters, digits, punctuation and spaces: this has U+202E."
    ]
    assert db.session.scalars(sa.select(User.full_name)).all() == ["Ada"]


def test_a_name_in_persian_keeps_its_joiner(client, admin_headers):
    make_user(PHONE)
    url = f"/api/users/{ENCODED}/"
    response = client.patch(url, json={"full_name": "Mehr\u200cdad"}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["full_name"] == "Mehr\u200cdad"


def test_a_texters_opt_out_is_shown_to_api_clients(client, admin_headers):
    """Clients that text people through the API must see who said STOP."""
    stopped = utcnow().replace(microsecond=0) - timedelta(days=1)
    make_user(PHONE, opted_out_at=stopped)
    make_user("+15550200124")

    detail = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    listed = client.get("/api/users/", headers=admin_headers).get_json()["results"]

    assert detail["opted_out_at"].startswith(stopped.strftime("%Y-%m-%dT%H:%M:%S"))
    assert {row["phone_number"]: row["opted_out_at"] for row in listed}["+15550200124"] is None


def test_a_texters_channel_and_whatsapp_window_are_shown_to_api_clients(client, admin_headers):
    """Clients texting through the API learned of a closed WhatsApp window only from a 409."""
    wrote = utcnow().replace(microsecond=0) - timedelta(hours=2)
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=wrote)

    body = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()

    assert body["channel"] == "whatsapp"
    assert body["last_whatsapp_at"].startswith(wrote.strftime("%Y-%m-%dT%H:%M:%S"))


@pytest.mark.parametrize("opted_out_at", [None, "2030-05-06T07:08:09Z"])
def test_the_api_cannot_clear_or_set_a_texters_opt_out(client, admin_headers, opted_out_at):
    """Only the texter's STOP and START change it (a guard: the field is unknown to the API)."""
    stopped = utcnow().replace(microsecond=0) - timedelta(days=1)
    make_user(PHONE, opted_out_at=stopped)
    body = {"opted_out_at": opted_out_at}
    response = client.patch(f"/api/users/{ENCODED}/", json=body, headers=admin_headers)
    assert response.status_code == 400
    assert "opted_out_at" in response.get_json()["details"]
    db.session.expire_all()
    assert db.session.get(User, PHONE).opted_out_at == stopped


def test_a_field_the_answer_shows_but_a_request_cannot_set_is_called_read_only(
    client, admin_headers
):
    """Regression: a PATCH of phone_number or monthly_requests, fields every user's answer
    shows, was refused with "Unknown field.", as if the client had misspelt them."""
    make_user(PHONE)
    body = {"phone_number": "+15550209876", "monthly_requests": 0, "nickname": "Ada"}

    response = client.patch(f"/api/users/{ENCODED}/", json=body, headers=admin_headers)

    assert response.status_code == 400
    assert response.get_json()["details"] == {
        "phone_number": ["Read-only: the service sets this field, a request cannot."],
        "monthly_requests": ["Read-only: the service sets this field, a request cannot."],
        "nickname": ["Unknown field."],
    }


def test_a_tier_upgrade_by_patch_resets_the_monthly_count(client, admin_headers):
    make_user(PHONE, monthly_requests=40)

    response = client.patch(
        f"/api/users/{ENCODED}/",
        json={"tier": "enterprise", "full_name": "Ada", "is_active": True},
        headers=admin_headers,
    )

    assert response.status_code == 200
    assert response.get_json()["tier"] == "enterprise"
    assert response.get_json()["monthly_requests"] == 0


def test_put_is_not_offered_a_user_is_changed_by_patch(client, admin_headers, app):
    """PUT used to change only the fields sent, as PATCH does, so a client replacing the
    whole record kept fields it meant to clear: a user is changed field by field, by PATCH."""
    make_user(PHONE, full_name="Ada", email="ada@example.com")

    response = client.put(
        f"/api/users/{ENCODED}/", json={"full_name": "Grace"}, headers=admin_headers
    )

    assert response.status_code == 405
    assert "PUT" not in response.headers["Allow"] and "PATCH" in response.headers["Allow"]
    assert db.session.get(User, PHONE).full_name == "Ada"
    operations = build_document(app)["paths"]["/api/users/{phone_number}/"]
    assert "put" not in operations and "patch" in operations


def test_update_tier_reports_old_and_new(client, admin_headers):
    make_user(PHONE, tier="free", monthly_requests=7)

    response = client.post(
        f"/api/users/{ENCODED}/update_tier/",
        json={"tier": "premium", "reason": "paid by invoice"},
        headers=admin_headers,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["old_tier"] == "free" and body["new_tier"] == "premium"
    assert "premium" in body["message"]
    db.session.expire_all()
    user = db.session.get(User, PHONE)
    assert user.tier == "premium" and user.monthly_requests == 0


def tier_answer(client, headers, tier: str) -> dict:
    response = client.post(
        f"/api/users/{ENCODED}/update_tier/", json={"tier": tier}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_update_tier_reports_its_own_change_not_one_committed_after_it(
    client, admin_headers, monkeypatch
):
    """Regression: the answer read the tier back after the commit, so a change another
    request committed in between was reported as this one's ("enterprise to free" for a
    request for premium)."""
    from sms_agent import jobs

    make_user(PHONE, tier="free")
    enqueue = jobs.enqueue_tier_change_notices

    def another_change_commits_first(changes):
        with db.engine.begin() as other:
            other.execute(sa.update(User).where(User.phone_number == PHONE).values(tier="free"))
        enqueue(changes)

    monkeypatch.setattr(jobs, "enqueue_tier_change_notices", another_change_commits_first)
    body = tier_answer(client, admin_headers, "premium")
    assert (body["old_tier"], body["new_tier"]) == ("free", "premium")
    assert body["message"] == "Tier changed from free to premium."


def test_after_a_downgrade_the_texters_usage_and_the_api_give_the_same_count(
    app, client, admin_headers
):
    """Regression: a premium texter who had used 150 moved to free (100 a month) was told
    "You have used 100 of 100" while the API showed staff 150: both now read quota.used."""
    make_user(PHONE, tier="premium", monthly_requests=150)
    response = client.post(
        f"/api/users/{ENCODED}/update_tier/", json={"tier": "free"}, headers=admin_headers
    )
    assert response.status_code == 200

    assert signed_post(client, "/sms/inbound", inbound_form("USAGE", From=PHONE)).status_code == 200
    for name, args in queued_jobs(app):
        app.extensions["celery"].tasks[name](*args)
    db.session.rollback()

    shown = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    assert shown["monthly_requests"] == 150
    usage = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.kind == "usage"))
    assert "used 150 of 100 requests" in usage.one().body


def test_update_tier_to_the_tier_it_has_says_nothing_changed(client, admin_headers):
    """Regression: it answered "Tier changed from premium to premium.", which reads as if
    something had been done (a request sent twice reads it on its second answer)."""
    make_user(PHONE, tier="premium", monthly_requests=7)

    body = tier_answer(client, admin_headers, "premium")

    assert (body["old_tier"], body["new_tier"]) == ("premium", "premium")
    assert body["message"] == "Already on premium: nothing changed."
    assert db.session.get(User, PHONE).monthly_requests == 7


def test_update_tier_to_an_unknown_tier_is_400(client, admin_headers):
    make_user(PHONE)
    response = client.post(
        f"/api/users/{ENCODED}/update_tier/", json={"tier": "platinum"}, headers=admin_headers
    )
    assert response.status_code == 400
    assert "tier" in response.get_json()["details"]
    assert db.session.get(User, PHONE).tier == "free"


def test_delete_user_removes_their_tasks(client, admin_headers):
    user = make_user(PHONE)
    make_task(user)

    response = client.delete(f"/api/users/{ENCODED}/", headers=admin_headers)

    assert response.status_code == 204
    assert db.session.get(User, PHONE) is None
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_send_message_texts_the_user_and_returns_the_sid(client, admin_headers):
    make_user(PHONE)

    response = client.post(
        f"/api/users/{ENCODED}/send_message/",
        json={"message": "Your account was upgraded."},
        headers=admin_headers,
    )

    assert response.status_code == 200
    sent = db.session.scalars(sa.select(OutboundMessage)).all()
    assert [message.to_number for message in sent] == [PHONE]
    assert sent[0].kind == "api" and sent[0].body == "Your account was upgraded."
    assert response.get_json()["message_sid"] == sent[0].sid
    assert response.get_json()["shortened"] is False


def test_send_message_says_when_the_text_was_cut_to_the_texters_plan(client, admin_headers):
    """Regression: a text longer than the free plan's segments went out cut, and the answer
    said nothing of it (the admin's composer warns staff before they send)."""
    make_user(PHONE, tier="free")

    response = client.post(
        f"/api/users/{ENCODED}/send_message/",
        json={"message": "word " * 200},
        headers=admin_headers,
    )

    assert response.status_code == 200
    assert response.get_json()["shortened"] is True
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert len(sent.body) < len("word " * 200)


def test_send_message_to_whatsapp_refuses_a_text_longer_than_one_message(client, admin_headers):
    """Regression: send_message/ took up to 1,600 characters on any channel, but a WhatsApp
    text goes as one message whose Body Twilio counts an emoji in as two: 1,560 characters
    with 60 emoji went out cut. A 400 naming message now, as the admin's composer says."""
    make_user(PHONE, channel="whatsapp", last_whatsapp_at=utcnow())
    text = "Your order 📦 ships today. " * 60  # 1,560 characters, 1,620 as Twilio counts

    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": text}, headers=admin_headers
    )

    assert response.status_code == 400
    [problem] = response.get_json()["details"]["message"]
    assert "longer than 1600 characters as WhatsApp counts them" in problem
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []


def test_send_message_shapes_the_text_once(client, admin_headers):
    """Regression: the view shaped the text to say whether it was cut, then the send shaped
    it again (Markdown parsed, cut searched for) to send it. The shaping cache's counts say
    how often the text was cleaned: once, and never read back from the cache."""
    make_user(PHONE, tier="free")
    to_sms_text.cache_clear()

    response = client.post(
        f"/api/users/{ENCODED}/send_message/",
        json={"message": "**Shaped once** " + "word " * 200},
        headers=admin_headers,
    )

    assert response.status_code == 200 and response.get_json()["shortened"] is True
    info = to_sms_text.cache_info()
    assert (info.misses, info.hits) == (1, 0)


def test_send_message_to_an_inactive_user_is_409_and_sends_nothing(client, admin_headers):
    make_user(PHONE, is_active=False)

    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hello"}, headers=admin_headers
    )

    assert response.status_code == 409
    body = response.get_json()
    assert body["details"]["reason"] == "inactive" and "inactive" in body["error"]
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 0


def test_send_message_to_an_opted_out_user_is_409(client, admin_headers):
    make_user(PHONE, opted_out_at=utcnow() - timedelta(days=1))

    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hello"}, headers=admin_headers
    )

    assert response.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 0


def test_send_message_requires_a_message(client, admin_headers):
    make_user(PHONE)
    response = client.post(f"/api/users/{ENCODED}/send_message/", json={}, headers=admin_headers)
    assert response.status_code == 400
    assert "message" in response.get_json()["details"]


def test_texter_sees_only_their_own_record(client, texter_headers):
    make_user(PHONE)

    listing = client.get("/api/users/", headers=texter_headers).get_json()

    assert [row["phone_number"] for row in listing["results"]] == [TEXTER_PHONE]
    assert client.get(f"/api/users/{ENCODED}/", headers=texter_headers).status_code == 404
    own = client.get(f"/api/users/{TEXTER_PHONE}/", headers=texter_headers)
    assert own.status_code == 200


def test_texter_may_change_their_name_but_not_their_tier(client, texter_headers):
    url = f"/api/users/{TEXTER_PHONE}/"
    assert client.patch(url, json={"full_name": "T."}, headers=texter_headers).status_code == 200
    refused = client.patch(url, json={"tier": "enterprise"}, headers=texter_headers)
    assert refused.status_code == 403
    assert refused.get_json()["details"] == {"fields": ["tier"]}
    db.session.expire_all()
    user = db.session.get(User, TEXTER_PHONE)
    assert user.full_name == "T." and user.tier == "free"


def test_texter_cannot_change_someone_else(client, texter_headers):
    make_user(PHONE, full_name="Ada")
    response = client.patch(
        f"/api/users/{ENCODED}/", json={"full_name": "x"}, headers=texter_headers
    )
    assert response.status_code == 404
    assert db.session.get(User, PHONE).full_name == "Ada"


def test_deleting_a_user_revokes_their_tokens_with_them(client, admin_headers, texter_headers):
    assert client.delete(f"/api/users/{TEXTER_PHONE}/", headers=admin_headers).status_code == 204
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.user_phone.is_not(None))
        )
        == 0
    )
    assert client.get("/api/users/", headers=texter_headers).status_code == 401


def test_listing_users_takes_the_same_queries_for_5_or_50(client, admin_headers, count_queries):
    def queries_for_listing() -> int:
        with count_queries() as counter:
            assert client.get("/api/users/?page_size=100", headers=admin_headers).status_code == 200
        return counter.count

    for _ in range(5):
        make_task(make_user(), success=True, processing_time=1.0)
    client.get("/api/users/", headers=admin_headers)  # the token's first use writes last_used_at
    few = queries_for_listing()
    for _ in range(45):
        make_task(make_user(), category="coding")
    many = queries_for_listing()

    assert few == many
    # The token with its owner, the count, the page with each user's spend and stats.
    assert many == 3


def test_send_message_through_twilio_returns_twilios_sid(client, admin_headers, twilio_server):
    make_user(PHONE)

    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hello"}, headers=admin_headers
    )

    assert response.status_code == 200
    sid = response.get_json()["message_sid"]
    assert sid.startswith("SM") and twilio_server.requests[0][2]["To"] == PHONE


def test_send_message_twilio_refuses_is_502_and_logged(client, admin_headers, twilio_server):
    from tests.standins import twilio_error

    make_user(PHONE)
    twilio_server.then(400, twilio_error(400, 21211, "The 'To' number is not valid."))

    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hello"}, headers=admin_headers
    )

    assert response.status_code == 502
    assert set(response.get_json()) == {"error", "details"}
    assert db.session.scalar(sa.select(ErrorLog.error_type)) == "twilio_error"


def test_send_message_twilio_says_unsubscribed_is_409_and_remembered(
    client, admin_headers, twilio_server
):
    from tests.standins import twilio_error

    make_user(PHONE)
    twilio_server.then(400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))

    response = client.post(
        f"/api/users/{ENCODED}/send_message/", json={"message": "hello"}, headers=admin_headers
    )

    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(User, PHONE).is_opted_out


def send_with_key(client, headers, key: str, message: str = "hello"):
    return client.post(
        f"/api/users/{ENCODED}/send_message/",
        json={"message": message},
        headers={**headers, "Idempotency-Key": key},
    )


def test_send_message_repeated_with_its_idempotency_key_texts_once(client, admin_headers):
    make_user(PHONE)

    first = send_with_key(client, admin_headers, "5f0c6a4e-retry-after-timeout")
    again = send_with_key(client, admin_headers, "5f0c6a4e-retry-after-timeout")
    other = send_with_key(client, admin_headers, "another-key", "and this")

    assert first.status_code == 200 and other.status_code == 200
    assert again.status_code == 409
    assert again.get_json()["details"]["reason"] == "already_sent"
    bodies = db.session.scalars(sa.select(OutboundMessage.body))
    assert sorted(bodies) == ["and this", "hello"]


def test_an_idempotency_key_is_remembered_after_many_other_keyed_sends(client, admin_headers):
    make_user(PHONE)

    first = send_with_key(client, admin_headers, "key-0")
    for n in range(1, 22):
        assert send_with_key(client, admin_headers, f"key-{n}", f"text {n}").status_code == 200
    again = send_with_key(client, admin_headers, "key-0")

    assert again.status_code == 409
    details = again.get_json()["details"]
    assert details["reason"] == "already_sent"
    sent = first.get_json()
    assert {name: details[name] for name in sent} == sent  # the first request's answer
    bodies = list(db.session.scalars(sa.select(OutboundMessage.body)))
    assert bodies.count("hello") == 1 and len(bodies) == 22


def test_a_retry_while_twilio_still_has_the_first_send_texts_nothing(
    app, client, admin_headers, twilio_server
):
    from tests.standins import twilio_message

    make_user(PHONE)
    retries = []

    def retried_while_sending(method, path, body):
        with app.app_context():
            retries.append(send_with_key(app.test_client(), admin_headers, "slow-key"))
            db.session.remove()
        return 201, twilio_message({"To": PHONE}), {}

    twilio_server.default = retried_while_sending
    first = send_with_key(client, admin_headers, "slow-key")

    assert first.status_code == 200 and len(retries) == 1
    assert retries[0].status_code == 409
    assert retries[0].get_json()["details"]["message_sid"] is None  # not known yet
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 1


def test_an_idempotency_key_reused_for_another_message_is_a_422(client, admin_headers):
    make_user(PHONE)

    first = send_with_key(client, admin_headers, "order-1234", "Your order has shipped.")
    reused = send_with_key(client, admin_headers, "order-1234", "Your order was delivered.")
    retried = send_with_key(client, admin_headers, "order-1234", "Your order has shipped.")

    assert first.status_code == 200
    assert reused.status_code == 422
    assert reused.get_json()["details"]["reason"] == "key_reused"
    assert retried.status_code == 409  # the retry of the first is still a retry
    assert retried.get_json()["details"]["reason"] == "already_sent"
    bodies = list(db.session.scalars(sa.select(OutboundMessage.body)))
    assert bodies == ["Your order has shipped."]


def test_a_key_stored_before_messages_were_fingerprinted_is_still_a_retry(client, admin_headers):
    make_user(PHONE)
    first = send_with_key(client, admin_headers, "old-key", "hello")
    db.session.execute(sa.update(SentSubmission).values(fingerprint=None))
    db.session.commit()

    again = send_with_key(client, admin_headers, "old-key", "something else")

    assert first.status_code == 200
    assert again.status_code == 409
    assert again.get_json()["details"]["reason"] == "already_sent"


def test_idempotency_keys_are_each_callers_own(app, client, admin_headers):
    make_user(PHONE)
    other_admin = make_staff(username="other", is_admin=True)

    mine = send_with_key(client, admin_headers, "same-key")
    theirs = send_with_key(client, token_header(make_token(other_admin)), "same-key", "hi")

    assert (mine.status_code, theirs.status_code) == (200, 200)


def test_a_send_twilio_refused_may_be_retried_with_the_same_key(
    client, admin_headers, twilio_server
):
    from tests.standins import twilio_error

    make_user(PHONE)
    twilio_server.then(400, twilio_error(400, 21211, "The 'To' number is not valid."))

    refused = send_with_key(client, admin_headers, "key-1")
    retried = send_with_key(client, admin_headers, "key-1")

    assert (refused.status_code, retried.status_code) == (502, 200)
    statuses = db.session.scalars(sa.select(OutboundMessage.status))
    assert sorted(statuses) == ["failed", "queued"]


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 256])
def test_an_unusable_idempotency_key_is_a_400(client, admin_headers, key):
    make_user(PHONE)

    response = send_with_key(client, admin_headers, key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["details"]
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 0


def test_a_repeated_idempotency_key_header_is_a_400(client, admin_headers):
    """Regression: gunicorn and werkzeug's server join a header sent twice with a comma, so
    two keys were taken as one new key ("k1,k2") and the message was sent again."""
    make_user(PHONE)
    assert send_with_key(client, admin_headers, "k1").status_code == 200

    response = client.post(
        f"/api/users/{ENCODED}/send_message/",
        json={"message": "hello"},
        headers=admin_headers,
        environ_overrides={"HTTP_IDEMPOTENCY_KEY": "k1,k2"},
    )

    assert response.status_code == 400
    assert "one Idempotency-Key header" in response.get_json()["error"]
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 1


def test_the_openapi_document_describes_the_idempotency_key(client):
    document = client.get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/users/{phone_number}/send_message/"]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is False


def test_local_numbers_are_read_in_the_services_region(app, client, admin_headers):
    app.config["DEFAULT_PHONE_REGION"] = "GB"

    response = client.post(
        "/api/users/", json={"phone_number": "07700 900123"}, headers=admin_headers
    )

    assert response.status_code == 201
    assert response.get_json()["phone_number"] == "+447700900123"
    assert client.get("/api/users/07700900123/", headers=admin_headers).status_code == 200


# --- telling the texter about a tier change (TIER_CHANGE_SMS) -----------------------------


def change_tier(client, headers, tier: str):
    from sms_agent.simulator import jobs_inline

    with jobs_inline():  # the notice job runs at once, as a worker would after the commit
        response = client.post(
            f"/api/users/{ENCODED}/update_tier/", json={"tier": tier}, headers=headers
        )
    assert response.status_code == 200
    db.session.rollback()
    return [m for m in db.session.scalars(sa.select(OutboundMessage)) if m.kind == "tier_change"]


def test_an_upgrade_is_texted_to_the_texter_through_twilio(client, admin_headers, twilio_server):
    make_user(PHONE, tier="free")
    [sms] = change_tier(client, admin_headers, "premium")
    assert sms.body == (
        "Your SMS-to-AI Agent plan is now premium: 1000 requests a month, answers of up to "
        "10 SMS. Reply USAGE to check it."
    )
    assert (sms.segments, sms.status) == (1, "queued")
    [(_, _, sent)] = twilio_server.requests
    assert sent["To"] == PHONE and sent["Body"] == sms.body


@pytest.mark.parametrize(
    ("setting", "new_tier", "texted"),
    [
        ("upgrades", "free", False),
        ("upgrades", "premium", False),  # no change at all
        ("all", "free", True),
        ("off", "enterprise", False),
        ("upgrades", "enterprise", True),
    ],
)
def test_tier_change_sms_setting_decides_which_changes_are_texted(
    app, client, admin_headers, setting, new_tier, texted
):
    app.config["TIER_CHANGE_SMS"] = setting
    make_user(PHONE, tier="premium")
    assert bool(change_tier(client, admin_headers, new_tier)) is texted


def test_a_tier_change_is_not_texted_to_an_opted_out_or_inactive_texter(client, admin_headers):
    make_user(PHONE, tier="free", opted_out_at=utcnow())
    assert change_tier(client, admin_headers, "premium") == []
    user = db.session.get(User, PHONE)
    user.opted_out_at, user.is_active = None, False
    db.session.commit()
    assert change_tier(client, admin_headers, "enterprise") == []


def test_a_tier_change_by_patch_is_texted_too(client, admin_headers):
    from sms_agent.simulator import jobs_inline

    make_user(PHONE, tier="free")
    with jobs_inline():
        client.patch(f"/api/users/{ENCODED}/", json={"tier": "premium"}, headers=admin_headers)
    db.session.rollback()
    kinds = db.session.scalars(sa.select(OutboundMessage.kind)).all()
    assert kinds == ["tier_change"]


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "posix/Europe/Paris"])
def test_a_hosts_zoneinfo_file_that_is_no_iana_zone_is_refused(client, admin_headers, name):
    make_user(PHONE)

    change = {"timezone": name}
    response = client.patch(f"/api/users/{ENCODED}/", json=change, headers=admin_headers)

    assert response.status_code == 400
    assert "not a known timezone" in response.get_json()["details"]["timezone"][0]
    db.session.expire_all()
    assert db.session.get(User, PHONE).timezone == "UTC"


def _deleted_once_read(monkeypatch, module):
    """The texter is deleted by another request just after this one read them."""
    read = module.get_user_or_404

    def read_then_deleted(phone_number):
        user = read(phone_number)
        with db.engine.begin() as other:
            other.execute(sa.delete(User).where(User.phone_number == user.phone_number))
        return user

    monkeypatch.setattr(module, "get_user_or_404", read_then_deleted)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "", {"full_name": "Ada"}),
        ("POST", "update_tier/", {"tier": "premium"}),
        ("POST", "send_message/", {"message": "Hello"}),
    ],
)
def test_a_change_to_a_texter_deleted_meanwhile_is_a_404(
    client, admin_headers, monkeypatch, method, path, body
):
    """Regression: the UPDATE found no row (StaleDataError), or the texter's lock found
    nobody to lock (send_message/): a 500."""
    from sms_agent.api import users

    make_user(PHONE)
    _deleted_once_read(monkeypatch, users)

    url = f"/api/users/%2B15550200123/{path}"
    response = client.open(url, method=method, json=body, headers=admin_headers)

    assert response.status_code == 404, response.get_json()
    assert "deleted while this request ran" in response.get_json()["error"]


@pytest.mark.parametrize("action", ["takeover/", "release/"])
def test_a_handoff_of_a_texter_deleted_meanwhile_is_a_404(
    client, admin_headers, monkeypatch, action
):
    from sms_agent.api import conversations

    make_user(PHONE)
    _deleted_once_read(monkeypatch, conversations)

    response = client.post(f"/api/users/%2B15550200123/{action}", json={}, headers=admin_headers)

    assert response.status_code == 404, response.get_json()


def test_once_the_texters_month_has_rolled_over_the_api_shows_no_request_used(
    client, admin_headers, app
):
    """Regression: a texter's month ends at midnight in their timezone (Tokyo's comes nine
    hours before UTC's), but their stored count rolls only with their next request. Staff
    reading the API then saw last month's count, the quota used up, while the texter's
    USAGE said none was used and their next text was answered."""
    limit = app.config["QUOTA_FREE"]
    make_user(PHONE, timezone="Asia/Tokyo", monthly_requests=limit,
              rate_limit_reset=utcnow() - timedelta(hours=1))  # fmt: skip
    shown = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    assert shown["monthly_requests"] == 0
    listed = client.get("/api/users/", headers=admin_headers).get_json()["results"]
    assert [user["monthly_requests"] for user in listed] == [0]
    created = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "Hi"}, headers=admin_headers
    )
    assert created.status_code == 201
    shown = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    assert shown["monthly_requests"] == 1


def test_once_the_texters_month_has_rolled_over_the_api_shows_when_the_running_one_ends(
    client, admin_headers
):
    """Regression: with the count shown as the running window's (0, above), the reset shown
    beside it stayed the ended window's, a moment already past ("0 used, resets yesterday")
    until the texter's next request or the hourly roll: it is the end of the window the next
    request counts in, the first of next month at midnight in the texter's timezone, as
    the quota's 429 and USAGE say."""
    ended = utcnow() - timedelta(hours=1)
    make_user(PHONE, timezone="Asia/Tokyo", monthly_requests=5, rate_limit_reset=ended)
    running = utcnow() + timedelta(days=3)
    make_user("+15550200124", monthly_requests=2, rate_limit_reset=running)
    now = utcnow()
    shown = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    expected = first_of_next_month(now, "Asia/Tokyo")
    assert datetime.fromisoformat(shown["rate_limit_reset"]) == expected
    listed = client.get("/api/users/?ordering=phone_number", headers=admin_headers).get_json()
    resets = [datetime.fromisoformat(user["rate_limit_reset"]) for user in listed["results"]]
    assert resets == [expected, running]


@pytest.mark.parametrize("descending", [True, False], ids=["-monthly_requests", "ascending"])
def test_users_ordered_by_monthly_requests_sort_by_the_count_shown_across_cursor_pages(
    client, admin_headers, descending
):
    """Regression: the list showed each texter's running window's count (0 once their month
    has ended) but sorted by the stored count, so a texter shown at 0 came first under
    `-monthly_requests`, and a cursor carried that stored count on to the next page."""
    ended, running = utcnow() - timedelta(hours=1), utcnow() + timedelta(days=3)
    make_user("+15550200301", monthly_requests=90, rate_limit_reset=ended)
    make_user("+15550200302", monthly_requests=3, rate_limit_reset=running)
    make_user("+15550200303", monthly_requests=50, rate_limit_reset=ended)
    make_user("+15550200304", monthly_requests=1, rate_limit_reset=running)
    ordering = "-monthly_requests" if descending else "monthly_requests"
    walked, cursor = [], None
    for _ in range(5):
        query = f"ordering={ordering}&page_size=1" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/users/?{query}", headers=admin_headers).get_json()
        walked += [(row["monthly_requests"], row["phone_number"][-1]) for row in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    paged = client.get(f"/api/users/?ordering={ordering}", headers=admin_headers).get_json()

    by_count = [(3, "2"), (1, "4"), (0, "1"), (0, "3")]  # ties: by phone number
    expected = by_count if descending else [*by_count[2:], (1, "4"), (3, "2")]
    assert walked == expected
    assert [(row["monthly_requests"], row["phone_number"][-1]) for row in paged["results"]] == (
        expected
    )


@pytest.mark.parametrize(
    ("typed", "name"), [("utc", "UTC"), ("europe/paris", "Europe/Paris"), (" UTC", "UTC")]
)
def test_a_timezone_in_another_letter_case_is_a_400_naming_how_it_is_written(
    client, admin_headers, typed, name
):
    """Regression: "utc" was "'utc' is not a known timezone.", though the admin's box takes
    it as UTC: the client was told the zone does not exist, not how to write it. The API
    keeps to the document's list of names, so it says the name."""
    make_user(PHONE, timezone="Asia/Tokyo")

    response = client.patch(
        f"/api/users/{ENCODED}/", json={"timezone": typed}, headers=admin_headers
    )

    assert response.status_code == 400
    assert response.get_json()["details"]["timezone"] == [
        f"{typed!r} is not a known timezone: it is written {name!r}."
    ]
    db.session.expire_all()
    assert db.session.get(User, PHONE).timezone == "Asia/Tokyo"


@pytest.mark.parametrize("typed", ["", "   ", "\n"])
def test_a_blank_email_is_a_400_saying_to_send_null(client, admin_headers, typed):
    """Regression: a client clearing an address with "" was told "Not a valid email
    address.", not how to have none (null; the admin reads a blank box as none)."""
    make_user(PHONE, email="old@example.com")

    response = client.patch(f"/api/users/{ENCODED}/", json={"email": typed}, headers=admin_headers)

    assert response.status_code == 400
    assert response.get_json()["details"]["email"] == [
        "Not a valid email address: to have none, send null."
    ]
    cleared = client.patch(f"/api/users/{ENCODED}/", json={"email": None}, headers=admin_headers)
    assert cleared.get_json()["email"] is None


def test_a_null_name_is_a_400_saying_how_to_have_none(client, admin_headers):
    """Regression: a client clearing a name with null (as an email is cleared) was told
    only "Field may not be null.", not how to have none: "" (the admin's blank box)."""
    make_user(PHONE, full_name="Ada")

    response = client.patch(
        f"/api/users/{ENCODED}/", json={"full_name": None}, headers=admin_headers
    )

    assert response.status_code == 400
    assert response.get_json()["details"]["full_name"] == ['Not null: to have no name, send "".']
    cleared = client.patch(f"/api/users/{ENCODED}/", json={"full_name": ""}, headers=admin_headers)
    assert cleared.get_json()["full_name"] == ""


@pytest.mark.parametrize("typed", [" ada@example.com", "ada@example.com\n", "\tada@example.com "])
def test_an_email_with_spaces_around_it_is_a_400_saying_so(client, admin_headers, typed):
    """Regression: an address pasted with a space or a line break around it was "Not a valid
    email address.", and the client looked for what was wrong with the address itself."""
    make_user(PHONE, email="old@example.com")

    response = client.patch(f"/api/users/{ENCODED}/", json={"email": typed}, headers=admin_headers)

    assert response.status_code == 400
    assert response.get_json()["details"]["email"] == [
        "Not a valid email address: it has spaces or line breaks around it; send it without."
    ]
    db.session.expire_all()
    assert db.session.get(User, PHONE).email == "old@example.com"


def test_a_sent_messages_sid_the_database_timed_out_on_is_stored_later(app, client, admin_headers):
    """Regression: Twilio took a staff member's message and the database then timed out on
    the write of its sid: the request failed (a retry with its Idempotency-Key sends
    nothing) and the row stayed queued without a sid, unpriced. The sid now goes to the
    broker, and is stored once the database answers."""
    from tests.broker import drained

    make_user(PHONE)
    timing_out = []

    def statement_timeout(_conn, _cursor, statement, *_args):
        if not timing_out and statement.startswith("UPDATE outbound_messages"):
            timing_out.append(True)
            raise sa.exc.OperationalError(statement, {}, Exception("statement timeout"))

    sa.event.listen(db.engine, "before_cursor_execute", statement_timeout)
    try:
        response = client.post(
            f"/api/users/{ENCODED}/send_message/", json={"message": "Hi."}, headers=admin_headers
        )
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", statement_timeout)
    assert response.status_code == 500
    [job] = drained(app)
    args, kwargs, _ = job.payload
    assert app.extensions["celery"].tasks[job.headers["task"]].apply(args, kwargs).result
    db.session.rollback()
    [sent] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert sent.sid and sent.kind == "api"


@pytest.mark.parametrize(
    "method, url, body, field, meant",
    [
        (
            "post",
            "/api/users/",
            {"phone_number": "+15550200124", "tier": "Premium"},
            "tier",
            "premium",
        ),
        ("post", f"/api/users/{ENCODED}/update_tier/", {"tier": "PREMIUM"}, "tier", "premium"),
        ("patch", "task", {"status": "Completed"}, "status", "completed"),
        (
            "post",
            "/api/errors/",
            {"error_type": "System_error", "error_message": "x"},
            "error_type",
            "system_error",
        ),
    ],
)
def test_a_choice_in_a_body_in_another_letter_case_is_a_400_naming_it_as_written(
    client, admin_headers, method, url, body, field, meant
):
    """As a filter's (test_filters): the allowed values and the one meant, in the same words
    on every operation (update_tier/ said "unknown tier 'Premium'; choose one of ...")."""
    task = make_task(make_user(PHONE))
    url = f"/api/tasks/{task.id}/" if url == "task" else url

    response = getattr(client, method)(url, json=body, headers=admin_headers)

    assert response.status_code == 400
    [problem] = response.get_json()["details"][field]
    assert problem.startswith("Must be one of: ") and f"is written {meant!r}" in problem


@pytest.mark.parametrize(
    "written, stored",
    [
        ("tel:+15550200124", "+15550200124"),
        ("SMS:+1 555 020 0124", "+15550200124"),
        ("whatsapp:+5215512345678", "+525512345678"),
    ],
)
def test_a_number_from_a_link_or_a_whatsapp_sender_is_the_texter_it_names(
    client, admin_headers, written, stored
):
    """As the admin reads a number: a tel: or sms: link's (RFC 3966, 5724), and a WhatsApp
    sender as Twilio writes it, whose texts the webhook files under the number it names
    (a Mexican mobile without the 1 WhatsApp adds)."""
    response = client.post("/api/users/", json={"phone_number": written}, headers=admin_headers)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone_number"] == stored
    url = f"/api/users/{quote(written, safe='')}/"
    assert client.get(url, headers=admin_headers).get_json()["phone_number"] == stored


@pytest.mark.parametrize("written", ["messenger:+15550200124", "mailto:+15550200124"])
def test_another_channels_address_is_a_400_as_in_the_admin(client, admin_headers, written):
    """Regression: the API read "messenger:+1..." as the SMS number +1... (the phone library
    skips whatever comes before a number), which the admin refuses as no texter of ours."""
    response = client.post("/api/users/", json={"phone_number": written}, headers=admin_headers)
    in_url = client.get(f"/api/users/{quote(written, safe='')}/", headers=admin_headers)

    assert response.status_code == 400 and in_url.status_code == 400
    assert "not a channel we serve" in response.get_json()["details"]["phone_number"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_a_user_the_api_creates_has_not_been_active_until_they_text(client, admin_headers):
    """Regression: a texter created by staff got last_active = their creation time, so the
    API showed them active and the analytics counted them in active_users_24h and _7d,
    though they had never texted."""
    response = client.post("/api/users/", json={"phone_number": PHONE}, headers=admin_headers)

    assert response.status_code == 201 and response.get_json()["last_active"] is None
    detail = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    assert detail["last_active"] is None
    analytics = client.get("/api/analytics/", headers=admin_headers).get_json()
    assert (analytics["total_users"], analytics["active_users_24h"]) == (1, 0)
    assert analytics["active_users_7d"] == 0

    signed_post(client, "/sms/inbound", inbound_form("HELP", From=PHONE))

    texted = client.get(f"/api/users/{ENCODED}/", headers=admin_headers).get_json()
    assert datetime.fromisoformat(texted["last_active"]) > utcnow() - timedelta(minutes=1)
    analytics = client.get("/api/analytics/", headers=admin_headers).get_json()
    assert (analytics["active_users_24h"], analytics["active_users_7d"]) == (1, 1)


def test_openapi_says_last_active_may_be_null(app):
    schema = build_document(app)["components"]["schemas"]["UserOut"]["properties"]["last_active"]
    assert schema.get("nullable") is True or "null" in schema.get("type", [])


@pytest.mark.parametrize("ordering", ["-last_active", "last_active"])
def test_users_ordered_by_last_active_walk_across_those_who_never_texted(
    client, admin_headers, ordering
):
    """Texters staff added who never texted (last_active null) come where the database puts
    nulls, and cursors walk from the texters who texted to them and back without repeating
    or skipping anyone."""
    now = utcnow()
    make_user("+15550200401", last_active=now - timedelta(days=2))
    make_user("+15550200402", last_active=None)
    make_user("+15550200403", last_active=now - timedelta(hours=1))
    make_user("+15550200404", last_active=None)
    make_user("+15550200405", last_active=now - timedelta(days=9))
    walked, cursor = [], None
    for _ in range(7):
        query = f"ordering={ordering}&page_size=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/api/users/?{query}", headers=admin_headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        walked += [row["phone_number"][-1] for row in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    paged = client.get(f"/api/users/?ordering={ordering}", headers=admin_headers).get_json()

    texted = ["3", "1", "5"] if ordering.startswith("-") else ["5", "1", "3"]
    never = ["2", "4"]  # ties: by phone number
    nulls_last = (db.engine.dialect.name == "sqlite") == ordering.startswith("-")
    expected = [*texted, *never] if nulls_last else [*never, *texted]
    assert walked == expected
    assert [row["phone_number"][-1] for row in paged["results"]] == expected
