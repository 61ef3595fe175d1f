"""/api/tasks/: the design document's task tests, creation rules, texters' scope, analytics."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sms_agent import handoff
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, User, first_of_next_month, utcnow
from tests.api.conftest import TEXTER_PHONE
from tests.factories import make_task, make_user
from tests.lock_waits import in_app_thread, waiting_for_locks

PHONE = "+15550200123"


def test_list_tasks_newest_first(client, admin_headers):
    user = make_user(PHONE)
    older = make_task(user, sms_content="first", created_at=utcnow() - timedelta(hours=2))
    newer = make_task(user, sms_content="second")

    response = client.get("/api/tasks/", headers=admin_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(newer.id), str(older.id)]
    assert body["results"][0]["user_phone"] == PHONE
    assert body["results"][0]["metadata"] == {}


def test_create_task_stores_it_queued(client, admin_headers):
    make_user(PHONE)

    response = client.post(
        "/api/tasks/",
        json={
            "user_phone": "555-020-0123",
            "sms_content": "Explain recursion",
            "category": "coding",
        },
        headers=admin_headers,
    )

    assert response.status_code == 201
    body = response.get_json()
    task = db.session.get(Task, uuid.UUID(body["id"]))
    assert task.user_phone == PHONE and task.sms_content == "Explain recursion"
    assert task.category == "coding" and body["status"] == "queued"


@pytest.mark.parametrize(
    ("channel", "length", "status"),
    [("whatsapp", 4096, 201), ("whatsapp", 4097, 400), ("sms", 1600, 201), ("sms", 1601, 400)],
)
def test_a_task_may_be_as_long_as_a_text_on_the_texters_channel(
    client, admin_headers, channel, length, status
):
    """Regression: a WhatsApp texter may text 4,096 characters (the webhook takes them),
    but a task created for them through the API was refused past 1,600, an SMS's limit."""
    make_user(PHONE, channel=channel, last_whatsapp_at=utcnow())

    response = client.post(
        "/api/tasks/",
        json={"user_phone": PHONE, "sms_content": "a" * length},
        headers=admin_headers,
    )

    assert response.status_code == status, response.get_json()
    if status == 400:
        [problem] = response.get_json()["details"]["sms_content"]
        assert str(length - 1) in problem.replace(",", "")


@pytest.mark.parametrize("state", ["waiting", "staff"])
def test_a_task_created_while_staff_have_the_conversation_is_held_for_them(
    client, admin_headers, state
):
    from sms_agent import handoff
    from sms_agent.models import Conversation

    user = make_user(PHONE, monthly_requests=3)
    handoff.request_human(user, "keyword")
    user.conversation_state = state
    db.session.commit()

    response = client.post(
        "/api/tasks/",
        json={"user_phone": PHONE, "sms_content": "still there?"},
        headers=admin_headers,
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["status"], body["refusal_reason"]) == ("refused", "held_for_staff")
    db.session.expire_all()
    assert db.session.get(User, PHONE).monthly_requests == 3  # not counted
    assert db.session.get(Conversation, PHONE).unread == 1  # staff see it


def test_a_created_task_is_answered_by_sms_like_a_texted_one(app, client, admin_headers):
    make_user(PHONE)
    app.extensions["celery"].conf.task_always_eager = True  # run the queued job right here

    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "Hi there"}, headers=admin_headers
    )

    assert response.status_code == 201
    db.session.expire_all()
    task = db.session.get(Task, uuid.UUID(response.get_json()["id"]))
    assert task.status in {"completed", "failed"}
    replies = db.session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.task_id == task.id)
    )
    assert [message.to_number for message in replies] and task.ai_response


@pytest.mark.parametrize(
    ("text", "given"),
    [
        ("what is the weather like today", "coding"),
        ("my python script throws a KeyError traceback, how do I fix it", "general"),
    ],
)
def test_a_category_given_at_creation_is_kept_when_the_task_is_answered(
    app, client, admin_headers, text, given
):
    """Regression: the classifier's guess replaced the caller's category when the task was
    answered (the weather question became general, the traceback debug)."""
    make_user(PHONE)
    app.extensions["celery"].conf.task_always_eager = True  # run the queued job right here
    body = {"user_phone": PHONE, "sms_content": text, "category": given}

    response = client.post("/api/tasks/", json=body, headers=admin_headers)

    assert response.status_code == 201
    db.session.expire_all()
    task = db.session.get(Task, uuid.UUID(response.get_json()["id"]))
    assert (task.status, task.category) == ("completed", given)


def test_a_category_a_texter_sets_before_the_answer_is_kept(app, client, texter, texter_headers):
    from sms_agent.answering import pipeline

    task = make_task(texter, sms_content="what is the weather like today")
    url = f"/api/tasks/{task.id}/"

    assert client.patch(url, json={"category": "design"}, headers=texter_headers).status_code == 200
    pipeline.answer(task.id)

    db.session.expire_all()
    assert db.session.get(Task, task.id).category == "design"


def test_a_held_request_keeps_the_category_it_was_given(client, admin_headers):
    """Regression: while staff had the conversation the given category was dropped."""
    from sms_agent import handoff

    handoff.request_human(make_user(PHONE), "keyword")
    db.session.commit()
    body = {"user_phone": PHONE, "sms_content": "a question", "category": "analysis"}

    created = client.post("/api/tasks/", json=body, headers=admin_headers).get_json()

    assert (created["refusal_reason"], created["category"]) == ("held_for_staff", "analysis")


def deleted_once_authorised(monkeypatch) -> None:
    """The texter is deleted by another request once the caller is found allowed to create
    their task, before it is created: the last moment a deletion can come in, since the
    texter is then locked until the task's commit."""
    from sms_agent.api import tasks

    allowed = tasks.owns

    def deleted_first(phone):
        with db.engine.begin() as other:
            other.execute(sa.delete(User).where(User.phone_number == PHONE))
        return allowed(phone)

    monkeypatch.setattr(tasks, "owns", deleted_first)


def test_a_task_for_a_texter_deleted_meanwhile_is_a_field_error(client, admin_headers, monkeypatch):
    """Regression: a texter deleted while a task was created for them (between reading the
    user and counting the request) made the quota's UPDATE find no row, taken for a full
    quota, and the 429 then read the deleted user: a 500."""
    make_user(PHONE)
    deleted_once_authorised(monkeypatch)

    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hello"}, headers=admin_headers
    )

    assert response.status_code == 400, response.get_json()
    assert "No user" in response.get_json()["details"]["user_phone"][0]


def test_a_task_whose_texter_is_deleted_as_it_is_created_is_answered_as_created(
    client, admin_headers
):
    """Regression: a deletion of the texter committing right after the task's commit took
    the task along, and reading it back for the answer was a 500."""
    from sqlalchemy.orm import Session

    make_user(PHONE)
    tasks = sa.select(sa.func.count()).select_from(Task).where(Task.user_phone == PHONE)

    def delete_the_texter(_session):
        with db.engine.begin() as other:
            if other.scalar(tasks):  # the commit that stored the task, not an earlier one
                other.execute(sa.delete(User).where(User.phone_number == PHONE))

    sa.event.listen(Session, "after_commit", delete_the_texter)
    try:
        response = client.post(
            "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hi"}, headers=admin_headers
        )
    finally:
        sa.event.remove(Session, "after_commit", delete_the_texter)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["sms_content"] == "hi"
    assert db.session.get(User, PHONE) is None


def test_a_held_request_for_a_texter_deleted_meanwhile_is_a_field_error(
    client, admin_headers, monkeypatch
):
    from sms_agent import handoff

    handoff.request_human(make_user(PHONE), "keyword")
    db.session.commit()
    deleted_once_authorised(monkeypatch)

    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hi"}, headers=admin_headers
    )

    assert response.status_code == 400, response.get_json()
    assert "No user" in response.get_json()["details"]["user_phone"][0]


def test_create_task_for_a_number_nobody_has_is_a_field_error(client, admin_headers):
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hello"}, headers=admin_headers
    )

    assert response.status_code == 400
    assert "No user" in response.get_json()["details"]["user_phone"][0]
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


@pytest.mark.parametrize(
    "phone, user_fields, status, details",
    [
        (PHONE, {"opted_out_at": utcnow()}, 409, {"reason": "opted_out"}),
        # An inactive texter, as send_message/ answers: a 409, not a 400 on user_phone.
        (PHONE, {"is_active": False}, 409, {"reason": "inactive"}),
        ("+447700900123", {}, 403, {"country": "GB", "allowed_countries": ["US"]}),
    ],
    ids=["opted_out", "inactive", "abroad"],
)
def test_a_task_whose_answer_could_reach_nobody_is_refused_and_not_counted(
    client, admin_headers, phone, user_fields, status, details
):
    """Regression: a task for a texter who texted STOP, or whose number is outside
    ALLOWED_COUNTRIES, was created (201) and queued, then finished unsent by the worker:
    the caller learned only by polling that no answer would ever come. It is refused as
    send_message/ refuses such a texter."""
    make_user(phone, **user_fields)
    response = client.post(
        "/api/tasks/", json={"user_phone": phone, "sms_content": "hello"}, headers=admin_headers
    )
    assert response.status_code == status
    assert response.get_json()["details"] == details
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0
    assert db.session.get(User, phone).monthly_requests == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"user_phone": PHONE}, "sms_content"),
        ({"user_phone": PHONE, "sms_content": ""}, "sms_content"),
        ({"user_phone": PHONE, "sms_content": "x", "category": "poetry"}, "category"),
        ({"user_phone": "abc", "sms_content": "x"}, "user_phone"),
        ({"sms_content": "x"}, "user_phone"),
    ],
)
def test_create_task_with_bad_fields_is_400(client, admin_headers, payload, field):
    make_user(PHONE)
    response = client.post("/api/tasks/", json=payload, headers=admin_headers)
    assert response.status_code == 400
    assert field in response.get_json()["details"]


def test_texter_creates_tasks_for_themselves(client, texter_headers):
    response = client.post("/api/tasks/", json={"sms_content": "hello"}, headers=texter_headers)
    assert response.status_code == 201
    assert response.get_json()["user_phone"] == TEXTER_PHONE


def test_texter_over_quota_gets_429_with_the_reset_date(client, texter, texter_headers):
    texter.monthly_requests = 100
    db.session.commit()

    before = datetime.now(UTC)
    response = client.post("/api/tasks/", json={"sms_content": "hello"}, headers=texter_headers)
    after = datetime.now(UTC)

    assert response.status_code == 429
    details = response.get_json()["details"]
    assert details["monthly_limit"] == 100
    assert datetime.fromisoformat(details["rate_limit_reset"]) == texter.rate_limit_reset
    # The seconds left when the server answered, however long the request took.
    seconds = int(response.headers["Retry-After"])
    left_before = (texter.rate_limit_reset - before).total_seconds()
    left_after = (texter.rate_limit_reset - after).total_seconds()
    assert left_after <= seconds <= math.ceil(left_before)


def test_staff_creating_a_task_for_a_texter_over_quota_gets_429(client, admin_headers):
    make_user(PHONE, monthly_requests=100)
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hello"}, headers=admin_headers
    )
    assert response.status_code == 429
    assert response.get_json()["details"]["monthly_limit"] == 100
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_a_task_refused_for_a_texter_who_never_texted_is_a_429_and_leaves_them_inactive(
    client, admin_headers
):
    """A texter staff added has no last_active, which the quota's notice run is keyed by:
    the refusal must not stumble on it (a 500), nor make them look active."""
    make_user(PHONE, monthly_requests=100, last_active=None)
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hello"}, headers=admin_headers
    )
    assert response.status_code == 429
    db.session.expire_all()
    assert db.session.get(User, PHONE).last_active is None


def test_a_tier_with_no_requests_says_to_retry_next_month_not_at_once(app, client, admin_headers):
    """Regression: on a tier with a quota of 0 whose texter's month had ended, the 429 named
    the window that had ended as when to retry, and Retry-After 1: a client retried every
    second. It names the end of the month the request was made in, as for any texter."""
    app.config["QUOTA_FREE"] = 0
    make_user(PHONE, timezone="Asia/Tokyo", rate_limit_reset=utcnow() - timedelta(hours=1))
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hello"}, headers=admin_headers
    )
    assert response.status_code == 429
    reset = datetime.fromisoformat(response.get_json()["details"]["rate_limit_reset"])
    assert reset == first_of_next_month(utcnow(), "Asia/Tokyo")
    assert int(response.headers["Retry-After"]) > 3600


def test_five_tasks_in_a_row_at_99_of_100_admit_exactly_one(client, texter, texter_headers):
    texter.monthly_requests = 99
    db.session.commit()
    statuses = [
        client.post("/api/tasks/", json={"sms_content": "hi"}, headers=texter_headers).status_code
        for _ in range(5)
    ]
    assert statuses == [201, 429, 429, 429, 429]
    db.session.expire_all()
    assert db.session.get(User, TEXTER_PHONE).monthly_requests == 100


def test_parallel_task_creation_at_quota_minus_one_admits_exactly_one(app, texter, texter_headers):
    import threading

    texter.monthly_requests = 99
    db.session.commit()
    barrier = threading.Barrier(5)
    statuses = []

    def create():
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.post(
                "/api/tasks/", json={"sms_content": "hi"}, headers=texter_headers
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 429, 429, 429, 429]
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1


@pytest.mark.parametrize("content", ["   ", "\u200b\u200b", "\ufeff\n"])
def test_a_task_of_only_spaces_or_invisible_characters_is_a_400(
    client, texter, texter_headers, content
):
    response = client.post("/api/tasks/", json={"sms_content": content}, headers=texter_headers)
    assert response.status_code == 400
    assert "sms_content" in response.get_json()["details"]
    db.session.expire_all()
    assert (texter.monthly_requests, db.session.scalars(sa.select(Task)).all()) == (0, [])


def test_texter_cannot_create_tasks_for_someone_else(client, texter_headers):
    make_user(PHONE)
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "x"}, headers=texter_headers
    )
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_texter_sees_and_changes_only_their_own_tasks(client, texter, texter_headers):
    own = make_task(texter)
    other = make_task(make_user(PHONE))

    listing = client.get("/api/tasks/", headers=texter_headers).get_json()
    assert [row["id"] for row in listing["results"]] == [str(own.id)]
    assert client.get(f"/api/tasks/{other.id}/", headers=texter_headers).status_code == 404
    assert client.delete(f"/api/tasks/{other.id}/", headers=texter_headers).status_code == 403
    changed = client.patch(
        f"/api/tasks/{own.id}/", json={"category": "coding"}, headers=texter_headers
    )
    assert changed.status_code == 200 and changed.get_json()["category"] == "coding"
    refused = client.patch(f"/api/tasks/{own.id}/", json={"success": True}, headers=texter_headers)
    assert refused.status_code == 403


def test_a_texter_cannot_delete_a_text_held_for_staff(client, texter, texter_headers):
    held = make_task(texter, status="refused", refusal_reason="held_for_staff")
    response = client.delete(f"/api/tasks/{held.id}/", headers=texter_headers)
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Task, held.id) is not None


def test_a_texter_cannot_rewrite_what_more_sends_next(client, texter, texter_headers):
    task = make_task(texter, metadata_={"sent": "Part one...", "more": "Part two."})
    forged = {"sent": "Part one...", "more": "Anything I like, sent at the service's cost."}
    response = client.patch(
        f"/api/tasks/{task.id}/", json={"metadata": forged}, headers=texter_headers
    )
    assert response.status_code == 403
    assert response.get_json()["details"]["fields"] == ["metadata"]
    db.session.expire_all()
    assert db.session.get(Task, task.id).metadata_["more"] == "Part two."


def test_get_patch_delete_a_task(client, admin_headers):
    task = make_task(make_user(PHONE))
    url = f"/api/tasks/{task.id}/"

    assert client.get(url, headers=admin_headers).get_json()["id"] == str(task.id)
    patched = client.patch(
        url, json={"metadata": {"source": "api"}, "tokens_used": 12}, headers=admin_headers
    )
    assert patched.status_code == 200
    assert patched.get_json()["metadata"] == {"source": "api"}
    assert patched.get_json()["tokens_used"] == 12
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert client.get(url, headers=admin_headers).status_code == 404


@pytest.mark.parametrize("field", ["processing_time", "complexity_score"])
def test_a_negative_zero_is_stored_and_served_as_zero(client, admin_headers, field):
    """Regression: a PATCH of -0.0 (JSON's "-0.0", within the range from 0) was stored so,
    and the task and the averages of its list's analytics then showed "-0.0"."""
    task = make_task(make_user(PHONE))

    patched = client.patch(f"/api/tasks/{task.id}/", json={field: -0.0}, headers=admin_headers)

    assert patched.status_code == 200
    assert f'"{field}":0.0' in patched.get_data(as_text=True)
    db.session.expire_all()
    assert math.copysign(1, getattr(db.session.get(Task, task.id), field)) == 1


@pytest.mark.parametrize("field", ["processing_time", "complexity_score"])
def test_a_negative_zero_stored_before_that_fix_is_served_as_zero(client, admin_headers, field):
    """Regression: a -0.0 stored before check_finite kept a zero as 0.0 (PostgreSQL keeps
    the sign; SQLite drops it) was still served as "-0.0", by the task, the list and the
    averages of the analytics: every number the API serves is 0.0 for a zero."""
    task = make_task(make_user(PHONE), processing_time=1.0, complexity_score=0.5)
    db.session.execute(
        sa.update(Task).where(Task.id == task.id).values({field: sa.literal(-0.0, sa.Float)})
    )
    db.session.commit()

    served = [
        client.get(url, headers=admin_headers).get_data(as_text=True)
        for url in (f"/api/tasks/{task.id}/", "/api/tasks/", "/api/tasks/analytics/")
    ]

    assert all("-0.0" not in text for text in served)
    assert f'"{field}":0.0' in served[0]


def test_a_status_staff_set_dates_the_outcome(client, admin_headers):
    """Regression (api11's finding): a task PATCHed to completed or failed kept completed_at
    null, so the API never said when it finished and the conversation page showed it
    unfinished; put back in the queue, it kept its old finish time."""
    task = make_task(make_user(PHONE))
    url = f"/api/tasks/{task.id}/"

    answered = {"status": "completed", "success": True, "ai_response": "Paris."}
    done = client.patch(url, json=answered, headers=admin_headers)
    finished = done.get_json()["completed_at"]
    assert finished is not None
    failed = client.patch(url, json={"status": "failed", "success": False}, headers=admin_headers)
    assert failed.get_json()["completed_at"] == finished  # it finished when it first did
    requeued = client.patch(url, json={"status": "queued"}, headers=admin_headers)
    assert requeued.get_json()["completed_at"] is None


def test_a_task_counts_once_when_created_and_not_again_when_marked_successful(
    client, admin_headers
):
    user = make_user(PHONE)
    created = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "hi"}, headers=admin_headers
    )
    url = f"/api/tasks/{created.get_json()['id']}/"

    answered = {"success": True, "status": "completed", "ai_response": "Hello."}
    assert client.patch(url, json=answered, headers=admin_headers).status_code == 200
    client.patch(url, json={"success": True}, headers=admin_headers)

    db.session.expire_all()
    assert (user.total_requests, user.monthly_requests) == (1, 1)


def test_task_analytics_has_the_documents_keys(client, admin_headers):
    user = make_user(PHONE)
    make_task(user, success=True, processing_time=2.0, tokens_used=100, category="coding")
    make_task(user, success=False, processing_time=4.0, tokens_used=50)

    response = client.get("/api/tasks/analytics/", headers=admin_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "total_tasks",
        "successful_tasks",
        "refused_tasks",
        "success_rate",
        "avg_processing_time",
        "avg_tokens_used",
        "category_breakdown",
        "daily_stats",
        "spend",
    }
    assert body["total_tasks"] == 2 and body["successful_tasks"] == 1
    assert body["success_rate"] == 50.0 and body["avg_processing_time"] == 3.0
    assert body["category_breakdown"]["coding"] == 1
    assert len(body["daily_stats"]) == 30
    assert body["daily_stats"][-1]["total"] == 2


def test_task_analytics_honours_the_list_filters(client, admin_headers):
    user = make_user(PHONE)
    make_task(user, success=True, category="coding")
    make_task(user, success=False, category="debug")
    make_task(make_user(), success=True, category="coding")

    filtered = client.get(
        f"/api/tasks/analytics/?category=coding&user_phone=%2B{PHONE[1:]}", headers=admin_headers
    ).get_json()

    assert filtered["total_tasks"] == 1 and filtered["success_rate"] == 100.0
    assert filtered["category_breakdown"]["debug"] == 0


@pytest.mark.parametrize("only", ["", f"&user_phone=%2B{PHONE[1:]}"])  # rollups or tasks
def test_task_analytics_of_a_past_range_chart_that_range(client, admin_headers, only):
    """A dashboard asking for a past month got its totals and, as daily_stats, the 30
    empty days up to today: the series ends where the range does."""
    user = make_user(PHONE)
    end = (utcnow() - timedelta(days=60)).date()
    for days_before in (0, 3, 3, 29, 40):
        make_task(user, created_at=utcnow() - timedelta(days=60 + days_before))

    body = client.get(
        f"/api/tasks/analytics/?created_before={end.isoformat()}{only}", headers=admin_headers
    ).get_json()

    days = body["daily_stats"]
    assert body["total_tasks"] == 5
    assert len(days) == 30 and days[-1]["date"] == end.isoformat()
    assert [day["total"] for day in days if day["total"]] == [1, 2, 1]
    first_days = client.get(
        f"/api/tasks/analytics/?created_before=0001-01-05{only}", headers=admin_headers
    )
    assert first_days.status_code == 200  # 30 days before them is before the calendar
    # The calendar's first days: the series ends on the bound, a shorter one, never past it.
    assert [day["date"] for day in first_days.get_json()["daily_stats"]] == [
        f"0001-01-0{day}" for day in range(1, 6)
    ]


def test_texter_analytics_cover_only_their_tasks(client, texter, texter_headers):
    make_task(texter)
    make_task(make_user(PHONE))
    body = client.get("/api/tasks/analytics/", headers=texter_headers).get_json()
    assert body["total_tasks"] == 1


def test_task_list_and_analytics_take_constant_queries(client, admin_headers, count_queries):
    def queries(url: str) -> int:
        with count_queries() as counter:
            assert client.get(url, headers=admin_headers).status_code == 200
        return counter.count

    client.get("/api/tasks/", headers=admin_headers)  # the token's first use writes last_used_at
    user = make_user(PHONE)
    for day in range(3):
        make_task(user, created_at=utcnow() - timedelta(days=day))
    few = (queries("/api/tasks/"), queries("/api/tasks/analytics/"))
    for day in range(40):
        make_task(user, created_at=utcnow() - timedelta(days=day % 29), success=day % 2 == 0)
    many = (queries("/api/tasks/?page_size=100"), queries("/api/tasks/analytics/"))

    assert few == many
    assert many[0] <= 4 and many[1] <= 6


def test_refused_texts_show_with_their_reason_and_filter_by_it(client, admin_headers):
    user = make_user(PHONE)
    make_task(user, sms_content="answered")
    refused = make_task(user, sms_content="over", status="refused", refusal_reason="over_quota")
    response = client.get(
        "/api/tasks/?status=refused&refusal_reason=over_quota", headers=admin_headers
    )
    assert response.status_code == 200
    [row] = response.get_json()["results"]
    assert (row["id"], row["status"], row["refusal_reason"]) == (
        str(refused.id),
        "refused",
        "over_quota",
    )
    analytics = client.get("/api/tasks/analytics/", headers=admin_headers).get_json()
    assert (analytics["total_tasks"], analytics["refused_tasks"]) == (1, 1)


def test_an_unknown_refusal_reason_filter_is_a_400(client, admin_headers):
    response = client.get("/api/tasks/?refusal_reason=bored", headers=admin_headers)
    assert response.status_code == 400
    assert "refusal_reason" in response.get_json()["details"]


def test_staff_cannot_mark_a_task_refused(client, admin_headers):
    task = make_task(make_user(PHONE))
    response = client.patch(
        f"/api/tasks/{task.id}/", json={"status": "refused"}, headers=admin_headers
    )
    assert response.status_code == 400
    assert "status" in response.get_json()["details"]


@pytest.mark.parametrize("status", ["queued", "processing", "completed", "failed"])
def test_a_refused_text_stays_refused(client, admin_headers, status):
    """Regression: PATCH status queued on a text refused over_quota made it queued with its
    refusal_reason still set (listed as refused over_quota, not counted as refused by the
    analytics) and left it for the sweeper to answer outside the quota."""
    task = make_task(make_user(PHONE), status="refused", refusal_reason="over_quota")

    response = client.patch(
        f"/api/tasks/{task.id}/", json={"status": status}, headers=admin_headers
    )

    assert response.status_code == 400
    assert "stays refused" in response.get_json()["details"]["status"][0]
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "refused"


@pytest.mark.parametrize(
    ("stored", "change"),
    [
        ("queued", {"success": True, "status": "failed"}),
        ("failed", {"success": True}),
        ("completed", {"status": "processing"}),  # a successful task stays successful
    ],
)
def test_a_task_cannot_be_made_both_successful_and_not_completed(
    client, admin_headers, stored, change
):
    task = make_task(make_user(PHONE), status=stored, success=stored == "completed")

    response = client.patch(f"/api/tasks/{task.id}/", json=change, headers=admin_headers)

    assert response.status_code == 400
    assert "only a completed task" in response.get_json()["details"]["success"][0]
    db.session.expire_all()
    assert (db.session.get(Task, task.id).status, task.success) == (stored, stored == "completed")


def test_a_task_marked_completed_and_successful_together_is_accepted(client, admin_headers):
    task = make_task(make_user(PHONE), status="failed")
    change = {"success": True, "status": "completed", "ai_response": "Paris."}
    response = client.patch(f"/api/tasks/{task.id}/", json=change, headers=admin_headers)
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["success"]) == ("completed", True)


@pytest.mark.parametrize(
    ("stored", "change"),
    [
        ({"status": "processing"}, {"status": "completed", "success": True}),
        ({"status": "queued"}, {"status": "completed", "success": True, "ai_response": "  "}),
        ({"status": "completed", "success": True, "ai_response": "Paris"}, {"ai_response": None}),
        ({"status": "completed", "success": True, "ai_response": "Paris"}, {"ai_response": ""}),
    ],
    ids=["completed-without", "completed-blank", "answer-cleared", "answer-emptied"],
)
def test_a_completed_task_without_an_answer_is_a_400(client, admin_headers, stored, change):
    """Regression: the admin refused a completed task without an answer
    (models.tasks.answer_conflict), the API stored one (200), counted as answered in every
    success rate with nothing to show in the conversation."""
    task = make_task(make_user(PHONE), **stored)

    response = client.patch(f"/api/tasks/{task.id}/", json=change, headers=admin_headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert "A completed task needs an answer" in body["details"]["ai_response"][0]
    db.session.expire_all()
    kept = db.session.get(Task, task.id)
    assert (kept.status, kept.ai_response) == (stored["status"], stored.get("ai_response"))


def test_a_task_completed_with_its_answer_is_accepted(client, admin_headers):
    task = make_task(make_user(PHONE), status="processing")
    change = {"status": "completed", "success": True, "ai_response": "Paris."}

    response = client.patch(f"/api/tasks/{task.id}/", json=change, headers=admin_headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["ai_response"] == "Paris."


@pytest.mark.parametrize(
    "change",
    [{"replying_to": "x"}, {"our_number": 5}, {"our_number": "+15559999999"}, {"sent": 5}],
)
def test_staff_cannot_rewrite_the_services_own_metadata(client, admin_headers, change):
    """Regression: a PATCH replaced a task's metadata whole, the keys the service reads back
    included: `replying_to` as text, or `our_number` as a number, made the texter's messages/
    a 500 (and send_message/ too), and another `our_number` sent staff's replies from a
    number not ours."""
    user = make_user(PHONE)
    kept = {"our_number": "+15005550006", "sent": "Paris.", "replying_to": {"text": "hi"}}
    task = make_task(user, status="completed", success=True, ai_response="Paris.", metadata_=kept)
    url = f"/api/tasks/{task.id}/"

    response = client.patch(url, json={"metadata": change}, headers=admin_headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    [key] = change
    assert "kept by the service" in response.get_json()["details"]["metadata"][key][0]
    assert client.get(url, headers=admin_headers).get_json()["metadata"] == kept
    messages = client.get(
        f"/api/users/{PHONE.replace('+', '%2B')}/messages/", headers=admin_headers
    )
    assert messages.status_code == 200


def test_staff_metadata_keeps_the_services_keys_beside_theirs(client, admin_headers):
    kept = {"our_number": "+15005550006", "sent": "Paris."}
    task = make_task(make_user(PHONE), metadata_=kept)
    url = f"/api/tasks/{task.id}/"

    dropped = client.patch(url, json={"metadata": {"source": "api"}}, headers=admin_headers)
    resent = client.patch(url, json={"metadata": {**kept, "ticket": 7}}, headers=admin_headers)

    assert dropped.status_code == 200 and resent.status_code == 200
    assert dropped.get_json()["metadata"] == {**kept, "source": "api"}
    assert resent.get_json()["metadata"] == {**kept, "ticket": 7}


def test_two_patches_at_once_cannot_make_a_task_both_failed_and_successful(
    app, client, admin_headers
):
    """Regression: each PATCH checked `status` against `success` as it read them, before the
    other wrote, so 'failed' and 'success: true' sent at once both passed (200, 200) and left
    a task failed and successful, counted in every success rate (20 of 30 pairs against a
    real server). A third transaction holding the task makes the two meet every time."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    task = make_task(make_user(PHONE), status="completed", success=False)
    db.session.commit()
    task_id, url = task.id, f"/api/tasks/{task.id}/"
    responses: dict[str, object] = {}

    def patching(change):
        return lambda: client.patch(url, json=change, headers=admin_headers)

    fail = in_app_thread(app, patching({"status": "failed"}), responses, "fail")
    succeed = in_app_thread(app, patching({"success": True}), responses, "succeed")
    with db.engine.connect() as holder:
        holder.execute(sa.select(Task.id).where(Task.id == task_id).with_for_update())
        fail.start()
        waiting_for_locks(1)
        succeed.start()
        waiting_for_locks(2)
        holder.rollback()
        fail.join(30)
        succeed.join(30)

    assert sorted(response.status_code for response in responses.values()) == [200, 400]
    db.session.expire_all()
    stored = db.session.get(Task, task_id)
    assert not (stored.success and stored.status != "completed"), (stored.status, stored.success)


#: What OpenAI answers a revoked key with: the service's diagnosis, for staff.
REVOKED_KEY = "Incorrect API key provided: sk-proj-********************wxyz."


def test_a_texter_does_not_read_the_services_diagnosis_of_their_failed_task(
    app, client, openai_server, texter, texter_headers, admin_headers
):
    """Regression: a texter's token read a failed task's error_message, the text of the
    ErrorLog it may not read (403): the model server's answer, the state of the operator's
    key or credit, internal host names. Staff still read it; the texter sees the task
    failed."""
    from sms_agent.answering import pipeline
    from tests.standins import openai_error

    openai_server.then(401, openai_error(REVOKED_KEY, "invalid_api_key"))
    task = make_task(texter, sms_content="what is DNS?")
    assert pipeline.answer(task.id) == "failed"
    url = f"/api/tasks/{task.id}/"

    staff_view = client.get(url, headers=admin_headers).get_json()
    assert REVOKED_KEY in staff_view["error_message"]
    for seen in (
        client.get(url, headers=texter_headers).get_json(),
        client.get("/api/tasks/", headers=texter_headers).get_json()["results"][0],
    ):
        assert (seen["status"], seen["success"], seen["error_message"]) == ("failed", False, None)
    export = f"/api/users/{TEXTER_PHONE}/export/?format=csv"
    assert "sk-proj" not in client.get(export, headers=texter_headers).get_data(as_text=True)
    assert REVOKED_KEY in client.get(export, headers=admin_headers).get_data(as_text=True)


def create_with_key(client, headers, key: str, text: str = "What is the capital of France?"):
    return client.post(
        "/api/tasks/",
        json={"user_phone": PHONE, "sms_content": text},
        headers={**headers, "Idempotency-Key": key},
    )


def test_a_task_created_again_with_its_idempotency_key_is_created_and_counted_once(
    client, admin_headers
):
    """A client retrying after a timeout: the retry must not ask the model, text the
    answer and count the quota a second time."""
    make_user(PHONE)

    first = create_with_key(client, admin_headers, "8c1d-retry")
    again = create_with_key(client, admin_headers, "8c1d-retry")
    other = create_with_key(client, admin_headers, "8c1d-other", "And of Spain?")

    assert (first.status_code, other.status_code) == (201, 201)
    assert again.status_code == 409
    assert again.get_json()["details"] == {
        "reason": "already_created",
        "id": first.get_json()["id"],
    }
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 2
    assert db.session.get(User, PHONE).monthly_requests == 2


def test_a_task_idempotency_key_reused_for_another_task_is_a_422(client, admin_headers):
    make_user(PHONE)

    create_with_key(client, admin_headers, "same")
    reused = create_with_key(client, admin_headers, "same", "Something else entirely")

    assert reused.status_code == 422
    assert reused.get_json()["details"]["reason"] == "key_reused"
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1


def test_a_task_refused_for_the_quota_may_be_retried_with_its_key(client, admin_headers):
    make_user(PHONE, monthly_requests=100)

    refused = create_with_key(client, admin_headers, "k")
    db.session.get(User, PHONE).monthly_requests = 0
    db.session.commit()
    retried = create_with_key(client, admin_headers, "k")

    assert (refused.status_code, retried.status_code) == (429, 201)


def test_a_held_task_is_kept_once_with_its_key(client, admin_headers):
    user = make_user(PHONE)
    handoff.take_over(user, None)
    db.session.commit()

    first = create_with_key(client, admin_headers, "held")
    again = create_with_key(client, admin_headers, "held")

    assert first.status_code == 201 and first.get_json()["status"] == "refused"
    assert again.status_code == 409
    assert again.get_json()["details"]["id"] == first.get_json()["id"]


def test_a_texters_task_keys_are_their_own(client, texter, texter_headers, admin_headers):
    mine = client.post(
        "/api/tasks/",
        json={"sms_content": "hello"},
        headers={**texter_headers, "Idempotency-Key": "k"},
    )
    staffs = client.post(
        "/api/tasks/",
        json={"user_phone": TEXTER_PHONE, "sms_content": "hello"},
        headers={**admin_headers, "Idempotency-Key": "k"},
    )

    assert (mine.status_code, staffs.status_code) == (201, 201)


def test_a_texter_reads_only_what_they_were_sent_in_their_tasks_metadata(
    client, openai_server, texter, texter_headers, admin_headers
):
    """Regression: a texter's token read the whole metadata of its tasks: which backend
    and model answered, the model server's request id, its timings: the service's records,
    for staff. It reads what it was sent and what MORE sends next, the text it replied to
    and whether it chose the category; staff still read everything."""
    from sms_agent.answering import pipeline
    from tests.standins import chat_completion

    openai_server.then(200, chat_completion("DNS maps names to addresses."))
    task = make_task(texter, sms_content="what is DNS?", metadata_={"replying_to": {"text": "hi"}})
    assert pipeline.answer(task.id) == "answered"
    url = f"/api/tasks/{task.id}/"

    staff_view = client.get(url, headers=admin_headers).get_json()["metadata"]
    assert {"backend", "model", "request_id", "llm_seconds"} <= set(staff_view)
    for seen in (
        client.get(url, headers=texter_headers).get_json(),
        client.get("/api/tasks/", headers=texter_headers).get_json()["results"][0],
    ):
        assert seen["metadata"] == {
            "sent": "DNS maps names to addresses.",
            "more": "",
            "replying_to": {"text": "hi"},
        }


@pytest.mark.parametrize("field", ["ai_response", "error_message"])
def test_a_task_answer_with_a_direction_override_is_a_400_and_nothing_changes(
    client, admin_headers, field
):
    """Regression: an answer or error set with U+2067 (an isolate) showed the rest of its
    admin cell in the wrong direction."""
    task = make_task(ai_response="Paris.", error_message=None)
    response = client.patch(
        f"/api/tasks/{task.id}/", json={field: "Par\u2067is."}, headers=admin_headers
    )
    assert response.status_code == 400
    assert "U+2067" in response.get_json()["details"][field][0]
    db.session.expire_all()
    assert getattr(db.session.get(Task, task.id), field) == getattr(task, field)
