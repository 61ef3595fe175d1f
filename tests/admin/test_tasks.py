"""The Tasks and Error logs pages: columns, filters, search, actions and query counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ErrorLog, utcnow
from tests.admin.conftest import post_action
from tests.factories import make_error, make_task, make_token, make_user


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_task_list_columns_and_the_link_to_the_user(admin_client):
    user = make_user()
    task = make_task(user=user, category="coding", processing_time=1.25, tokens_used=321)
    page = page_of(admin_client, "/admin/task/")
    for heading in ["ID", "Texter", "Category", "Success", "Status", "Processing time", "Tokens"]:
        assert heading in page
    assert str(task.id)[:8] in page and "321" in page
    assert f'href="/admin/user/details/?id={quote(user.phone_number)}"' in page


# The list shows who sent a task, not what they sent, so each task gets its own texter.
CODE, FRANCE, HISTORY = "+15550100071", "+15550100072", "+15550100073"


@pytest.mark.parametrize(
    ("query", "found", "missing"),
    [
        ("flt0_category_equals=coding", CODE, FRANCE),
        ("flt0_success_equals=1", CODE, FRANCE),
        ("flt0_status_equals=failed", FRANCE, CODE),
        ("flt0_created_smaller_than={day_ago}", HISTORY, CODE),
        ("flt0_user_tier_equals=premium", CODE, FRANCE),
    ],
)
def test_task_filters(admin_client, query, found, missing):
    day_ago = quote((utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"))
    make_task(user=make_user(CODE, tier="premium"), category="coding", success=True)
    make_task(user=make_user(FRANCE), status="failed")
    make_task(user=make_user(HISTORY), created_at=utcnow() - timedelta(days=5))
    page = page_of(admin_client, "/admin/task/?" + query.format(day_ago=day_ago))
    assert found in page
    assert missing not in page


@pytest.mark.parametrize("term", ["0100071", "fibonacci", "memoize"])
def test_task_search_by_phone_content_and_answer(admin_client, term):
    make_task(user=make_user(CODE), sms_content="fibonacci in python?", ai_response="Use memoize.")
    make_task(user=make_user(FRANCE), sms_content="weather tomorrow?", ai_response="Sunny.")
    page = page_of(admin_client, "/admin/task/?search=" + quote(term))
    assert CODE in page
    assert FRANCE not in page


def list_queries(client, count_queries, page_size: int) -> int:
    with count_queries() as queries:
        page_of(client, f"/admin/task/?page_size={page_size}")
    return queries.count


def test_task_list_runs_a_fixed_number_of_queries(admin_client, count_queries):
    users = [make_user(tier=tier) for tier in ("free", "premium", "enterprise")]
    for index in range(60):
        make_task(user=users[index % 3], sms_content=f"question {index}")
    small = list_queries(admin_client, count_queries, 20)
    large = list_queries(admin_client, count_queries, 100)
    medium = list_queries(admin_client, count_queries, 50)
    assert small == medium == large
    assert small <= 4  # staff user, count, rows (+ nothing per row)


def test_task_edit_form_sections_and_read_only_fields(admin_client):
    task = make_task()
    page = page_of(admin_client, f"/admin/task/edit/?id={task.id}")
    sections = ["Content", "Performance metrics", "Error information", "Metadata", "Timestamps"]
    positions = [page.index(f"<h3>{name}</h3>") for name in sections]
    assert positions == sorted(positions)
    for readonly in ["id", "created_at", "updated_at", "completed_at"]:
        assert f'data-readonly="{readonly}"' in page
    assert 'name="created_at"' not in page and 'name="id"' not in page


def test_tasks_cannot_be_created_by_hand(admin_client):
    assert "/admin/task/new/" not in page_of(admin_client, "/admin/task/")
    assert admin_client.get("/admin/task/new/").status_code == 302


def test_task_pages_with_a_garbage_id_go_back_to_the_list(admin_client):
    assert admin_client.get("/admin/task/details/?id=not-a-uuid").status_code == 302
    assert admin_client.get("/admin/task/edit/?id=not-a-uuid").status_code == 302


def test_admin_can_delete_tasks_in_bulk(admin_client):
    tasks = [make_task(), make_task()]
    response = post_action(admin_client, "/admin/task/", "delete", [str(t.id) for t in tasks])
    assert "2 records were successfully deleted." in response.get_data(as_text=True)


def test_error_list_filters_and_search(admin_client):
    user = make_user("+15550881234")
    make_error(
        error_type="twilio_error", error_message="carrier rejected", user_phone=user.phone_number
    )
    make_error(error_type="openai_timeout", error_message="model slow", resolved=True)
    make_error(error_message="ancient history", timestamp=utcnow() - timedelta(days=30))
    week_ago = quote((utcnow() - timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S"))
    cases = {
        "flt0_type_equals=twilio_error": ("carrier rejected", "model slow"),
        "flt0_resolved_equals=1": ("model slow", "carrier rejected"),
        f"flt0_timestamp_smaller_than={week_ago}": ("ancient history", "model slow"),
        "search=carrier": ("carrier rejected", "model slow"),
        "search=%2B1555088": ("carrier rejected", "ancient history"),
    }
    for query, (found, missing) in cases.items():
        page = page_of(admin_client, "/admin/errorlog/?" + query)
        assert found in page and missing not in page, query


def test_the_whole_error_lists_count_is_kept_not_counted_and_a_filtered_one_counted(
    admin_client, count_queries
):
    """At 1,000,000 errors a COUNT over the table on every visit made the page slow; the
    kept count follows inserts and deletions."""
    make_error(error_message="timeout one")
    make_error(error_message="timeout two")
    gone = make_error(error_type="twilio_error", error_message="carrier down")
    with count_queries() as queries:
        assert "List (3)" in page_of(admin_client, "/admin/errorlog/")
    assert not [sql for sql in queries.statements if "count(" in sql and "FROM error_logs" in sql]
    db.session.delete(gone)
    db.session.commit()
    assert "List (2)" in page_of(admin_client, "/admin/errorlog/")
    assert "List (1)" in page_of(admin_client, "/admin/errorlog/?search=two")


def test_mark_errors_resolved_and_unresolved(admin_client):
    errors = [make_error(), make_error()]
    ids = [str(error.id) for error in errors]
    response = post_action(admin_client, "/admin/errorlog/", "mark_resolved", ids)
    assert "Marked 2 errors as resolved." in response.get_data(as_text=True)
    db.session.expire_all()
    assert all(db.session.get(ErrorLog, error.id).resolved for error in errors)
    response = post_action(admin_client, "/admin/errorlog/", "mark_unresolved", ids[:1])
    assert "Marked 1 error as unresolved." in response.get_data(as_text=True)
    db.session.expire_all()
    assert [db.session.get(ErrorLog, e.id).resolved for e in errors] == [False, True]


def test_error_edit_page_opens(admin_client):
    error = make_error(resolution_notes="")
    page = page_of(admin_client, f"/admin/errorlog/edit/?id={error.id}")
    assert "<h3>Resolution</h3>" in page


def test_refused_texts_are_listed_with_their_reason_and_can_be_filtered(admin_client):
    make_task(user=make_user(CODE), status="completed")
    make_task(user=make_user(FRANCE), status="refused", refusal_reason="over_quota")
    page = page_of(admin_client, "/admin/task/")
    assert "refused: over quota" in page and "Refusal reason" in page
    for query in ("flt0_refusal_reason_equals=over_quota", "flt0_status_equals=refused"):
        filtered = page_of(admin_client, f"/admin/task/?{query}")
        assert FRANCE in filtered and CODE not in filtered
        assert "refused: over quota" in filtered


def saved_as(admin_client, task, **fields):
    """The admin's edit form of `task` posted with `fields` (a status, a success box)."""
    from tests.admin.conftest import csrf_for

    url = f"/admin/task/edit/?id={task.id}"
    form = {
        "csrf_token": csrf_for(admin_client, url),
        "sms_content": task.sms_content,
        "category": task.category,
        "metadata_": "{}",
        **fields,
    }
    return admin_client.post(url, data=form)


def test_a_failed_task_cannot_be_saved_as_successful(admin_client):
    task = make_task(status="failed", sms_content="hi")
    response = saved_as(admin_client, task, status="failed", success="y")
    assert "only a completed task" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(task), task.id).success is False


def test_a_task_staff_mark_failed_is_dated_finished(admin_client):
    """Regression: a task staff saved as failed (or completed) kept completed_at empty, so
    it never showed as finished, as a task the API changed did not either."""
    task = make_task(status="processing", sms_content="hi")
    assert saved_as(admin_client, task, status="failed").status_code == 302
    db.session.expire_all()
    saved = db.session.get(type(task), task.id)
    assert saved.status == "failed" and saved.completed_at is not None


def test_the_whole_lists_count_is_the_rollups_and_a_filtered_one_the_tasks(
    admin_client, count_queries
):
    """At 1,000,000 tasks a COUNT over the table took 120-160 ms of every Tasks page."""
    make_task(user=make_user(CODE), category="coding")
    make_task(user=make_user(FRANCE), status="refused", refusal_reason="over_quota")
    make_task(user=make_user(HISTORY), created_at=utcnow() - timedelta(days=40))
    with count_queries() as queries:
        page = page_of(admin_client, "/admin/task/")
    assert "List (3)" in page
    assert not [sql for sql in queries.statements if "count(" in sql and "FROM tasks" in sql]
    assert "List (1)" in page_of(admin_client, "/admin/task/?flt0_category_equals=coding")
    assert "List (1)" in page_of(admin_client, "/admin/task/?search=" + quote(FRANCE))


@pytest.mark.parametrize(("stored", "status"), [("refused", "queued"), ("queued", "refused")])
def test_a_task_cannot_be_moved_into_or_out_of_refused(admin_client, stored, status):
    """Regression: the edit form queued a text refused over_quota (which the sweeper then
    answers outside the quota), or refused a queued one with no reason."""
    from tests.admin.conftest import csrf_for

    reason = "over_quota" if stored == "refused" else None
    task = make_task(status=stored, refusal_reason=reason, sms_content="hi")
    url = f"/admin/task/edit/?id={task.id}"
    form = {
        "csrf_token": csrf_for(admin_client, url),
        "sms_content": "hi",
        "category": task.category,
        "status": status,
        "metadata_": "{}",
    }
    response = admin_client.post(url, data=form)
    assert "stays refused" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(task), task.id).status == stored


def test_a_tasks_message_sid_is_shown_not_edited_so_its_text_stays_received(admin_client):
    """Regression: the edit form let staff change (or empty) the MessageSid, the one record
    that the text was received: the same text, posted again as Twilio signed it (a retry,
    or a captured webhook replayed), was then taken anew, counted and answered again."""
    from sms_agent.models import Task
    from tests.admin.conftest import form_as_shown
    from tests.standins import inbound_form, signed_post

    sid = "SM" + "e" * 32
    text = inbound_form("What is 2+2?", MessageSid=sid)
    assert signed_post(admin_client, "/sms/inbound", text).status_code == 200
    [task] = db.session.scalars(sa.select(Task)).all()
    url = f"/admin/task/edit/?id={task.id}"
    page = page_of(admin_client, url)
    assert 'data-readonly="message_sid"' in page and 'name="message_sid"' not in page
    form = {**form_as_shown(admin_client, url), "message_sid": ""}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).message_sid == sid
    assert signed_post(admin_client, "/sms/inbound", text).status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 1


def test_saving_a_task_edit_page_left_open_keeps_the_answer_that_arrived_since(admin_client):
    """Regression: staff opened a queued task's Edit page, the worker answered the task
    meanwhile, staff changed its category and saved: the status, success and (empty) answer
    the page showed were written back, so the answered task read as queued again."""
    from tests.admin.conftest import form_as_shown

    task = make_task(status="queued", success=False, ai_response=None, category="general")
    url = f"/admin/task/edit/?id={task.id}"
    form = {**form_as_shown(admin_client, url), "category": "coding"}
    task.status, task.success, task.ai_response = "completed", True, "Paris."
    task.completed_at = utcnow()
    db.session.commit()

    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(type(task), task.id)
    assert (saved.category, saved.status, saved.success, saved.ai_response) == (
        "coding",
        "completed",
        True,
        "Paris.",
    )


def test_a_processing_time_the_api_set_does_not_refuse_saving_the_task(admin_client):
    """Regression: the API sets processing_time up to 1e9 seconds, the Edit page refused
    anything above a day, so a task the API had given 90,000 s could not be saved at all
    (the field staff never touched was the form's error, in the browser first)."""
    from tests.admin.conftest import form_as_shown

    task = make_task(category="general", processing_time=90_000.0)
    url = f"/admin/task/edit/?id={task.id}"
    page = admin_client.get(url).get_data(as_text=True)
    [shown_max] = re.findall(r'<input[^>]*name="processing_time"[^>]*>', page)
    assert float(re.search(r'max="([^"]+)"', shown_max).group(1)) >= 90_000
    form = {**form_as_shown(admin_client, url), "category": "coding"}

    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(type(task), task.id)
    assert (saved.category, saved.processing_time) == ("coding", 90_000.0)


def test_a_task_saved_with_a_nul_in_its_answer_is_a_form_error_keeping_the_form(admin_client):
    """Regression: a NUL pasted into an Edit page's field got a bare "Bad Request" page and
    everything typed on the form was lost."""
    from tests.admin.conftest import form_as_shown

    task = make_task(ai_response="Paris.")
    url = f"/admin/task/edit/?id={task.id}"
    form = {**form_as_shown(admin_client, url), "ai_response": "Par\x00is!", "category": "coding"}
    response = admin_client.post(url, data=form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "NUL character" in page and "Paris!" in page
    db.session.expire_all()
    assert db.session.get(type(task), task.id).ai_response == "Paris."


def test_two_staff_changing_one_field_at_once_the_second_is_told_not_overwritten(admin_client):
    """Regression: two staff had the same error's Edit page open; each wrote resolution
    notes and saved, and the second save silently replaced the first's notes. The second now
    sees the notes saved meanwhile beside the field, and a second save replaces them."""
    from tests.admin.conftest import form_as_shown

    error = make_error(resolution_notes="")
    url = f"/admin/errorlog/edit/?id={error.id}"
    form = {**form_as_shown(admin_client, url), "resolution_notes": "Restarted the worker."}
    error.resolution_notes = "Twilio outage, nothing to do."
    db.session.commit()

    response = admin_client.post(url, data=form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Changed by someone else since you opened this page" in page
    assert "Twilio outage, nothing to do." in page
    db.session.expire_all()
    assert db.session.get(ErrorLog, error.id).resolution_notes == "Twilio outage, nothing to do."

    # Saved again as the page now shows it, staff's own notes win.
    assert admin_client.post(url, data=form_as_shown_from(page, form)).status_code == 302
    db.session.expire_all()
    assert db.session.get(ErrorLog, error.id).resolution_notes == "Restarted the worker."


def form_as_shown_from(page: str, typed: dict) -> dict:
    """The fields of a page just answered, as a browser would post them again."""
    from tests.admin.conftest import _FormReader

    reader = _FormReader()
    reader.feed(page)
    return {**reader.fields, "resolution_notes": typed["resolution_notes"]}


def test_a_page_saved_again_after_going_back_to_it_is_not_told_of_its_own_change(
    admin_client,
):
    """Saved, then Back to the Edit page (the browser keeps what was typed, and the page's
    record of what it showed) and saved again: the change made the first time is not
    "changed by someone else"."""
    from tests.admin.conftest import form_as_shown

    error = make_error(resolution_notes="")
    url = f"/admin/errorlog/edit/?id={error.id}"
    form = {**form_as_shown(admin_client, url), "resolution_notes": "Restarted the worker."}
    assert admin_client.post(url, data=form).status_code == 302
    assert admin_client.post(url, data={**form, "resolved": "y"}).status_code == 302
    db.session.expire_all()
    saved = db.session.get(ErrorLog, error.id)
    assert (saved.resolution_notes, saved.resolved) == ("Restarted the worker.", True)


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        ({"status": "completed", "ai_response": ""}, "A completed task needs an answer"),
        ({"status": "completed", "ai_response": "   "}, "A completed task needs an answer"),
        ({"status": "failed", "sms_content": "   "}, "Write some text"),
        ({"status": "failed", "sms_content": "\u200b "}, "Write some text"),
    ],
)
def test_a_task_cannot_be_saved_completed_without_an_answer_nor_its_text_blank(
    admin_client, typed, refusal
):
    """Regression: the edit form saved a task as completed with no answer (counted as
    answered although the texter never got one), and the texter's text as only spaces (a
    text nobody could have sent, which the API refuses)."""
    task = make_task(status="failed", sms_content="hi")
    response = saved_as(admin_client, task, **typed)
    assert refusal in response.get_data(as_text=True)
    db.session.expire_all()
    assert (task.status, task.sms_content) == ("failed", "hi")
    answered = saved_as(admin_client, task, status="completed", ai_response="Paris.")
    assert answered.status_code == 302


def test_a_picture_sent_without_text_can_be_saved_with_its_text_still_empty(admin_client):
    """Regression: a task of a picture or voice note alone (no text, as Twilio sent it) could
    not be saved at all: its empty text was "This field is required."; emptied by staff, a
    text is still refused."""
    task = make_task(status="failed", sms_content="", ai_response=None)
    response = saved_as(admin_client, task, status="failed", category="coding")
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    assert (task.category, task.sms_content) == ("coding", "")
    texted = make_task(status="failed", sms_content="hi")
    assert "Write some text" in saved_as(
        admin_client, texted, status="failed", sms_content=""
    ).get_data(as_text=True)


def test_staff_cannot_change_the_metadata_the_service_reads_back(admin_client):
    """Regression: the edit form saved any metadata, so a `replying_to` typed as text broke
    the texter's thread, and another `our_number` sent replies from a number not ours, as
    the API's PATCH did before it kept them (service_metadata.py). Left out, they stay."""
    quoted = {"text": "Earlier answer", "sid": "SM" + "a" * 32}
    task = make_task(sms_content="hi", metadata_={"replying_to": quoted, "note": "old"})

    response = saved_as(admin_client, task, metadata_='{"replying_to": "Earlier answer"}')
    assert "kept by the service" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(task), task.id).metadata_["replying_to"] == quoted

    assert saved_as(admin_client, task, metadata_='{"note": "new"}').status_code == 302
    db.session.expire_all()
    assert db.session.get(type(task), task.id).metadata_ == {"replying_to": quoted, "note": "new"}


@pytest.mark.parametrize(
    ("field", "typed", "says"),
    [
        ("processing_time", "1e-400", "Too close to 0 for a float"),
        ("complexity_score", "-1E-999", "Too close to 0 for a float"),
        ("processing_time", "1_0", "Not a valid number"),
        ("processing_time", "２", "Not a valid number"),
        ("processing_time", "٣", "Not a valid number"),
        ("processing_time", "1e999", "Too large for a float (it would be read as Infinity)"),
        ("complexity_score", "-1E400", "Too large for a float (it would be read as Infinity)"),
    ],
)
def test_a_number_box_refuses_what_it_would_save_as_another_number(
    admin_client, field, typed, says
):
    """Regression: the task's number boxes saved 1e-400 as 0, "1_0" as 10 and a fullwidth
    "２" as 2 (Python's Decimal reads them so); they now refuse them as the API does."""
    from tests.admin.conftest import form_as_shown

    task = make_task(processing_time=1.5, complexity_score=0.5)
    url = f"/admin/task/edit/?id={task.id}"
    form = {**form_as_shown(admin_client, url), field: typed}

    response = admin_client.post(url, data=form)

    assert response.status_code == 200
    assert says in response.get_data(as_text=True)
    db.session.expire_all()
    assert (task.processing_time, task.complexity_score) == (1.5, 0.5)


@pytest.mark.parametrize("typed", ["0.25", " .25 ", "2.5e-1", "0e-400"])
def test_a_number_box_takes_a_number_as_written(admin_client, typed):
    from tests.admin.conftest import form_as_shown

    task = make_task(processing_time=1.5)
    url = f"/admin/task/edit/?id={task.id}"
    form = {**form_as_shown(admin_client, url), "processing_time": typed}

    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert task.processing_time == (0.0 if typed == "0e-400" else 0.25)


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        ("created_equals=2026-12-03 10:21:05", ["within"]),
        ("created_not_equal=2026-12-03 10:21:05", ["before", "after"]),
        ("created_greater_than=2026-12-03 10:21:05", ["after"]),
        ("created_smaller_than=2026-12-03 10:21:05", ["before"]),
        ("created_between=2026-12-03 10:21:05 to 2026-12-03 10:21:05", ["within"]),
        ("created_not_between=2026-12-03 10:21:05 to 2026-12-03 10:21:05", ["before", "after"]),
    ],
)
def test_a_date_time_filter_takes_its_value_as_the_whole_second_typed(admin_client, query, listed):
    """Regression: a stored time keeps its microseconds, so "Created equals 10:21:05" (the
    box takes seconds) matched no task created at 10:21:05.83, "greater than" listed it, and
    "between 10:00:00 and 10:21:05" left it out."""
    second = datetime(2026, 12, 3, 10, 21, 5, tzinfo=UTC)
    tasks = {
        "before": make_task(created_at=second - timedelta(microseconds=1)),
        "within": make_task(created_at=second + timedelta(microseconds=829_174)),
        "after": make_task(created_at=second + timedelta(seconds=1)),
    }

    page = page_of(admin_client, "/admin/task/?flt0_" + quote(query, safe="="))

    assert [name for name, task in tasks.items() if f"id={task.id}" in page] == listed


@pytest.mark.parametrize(
    "kind, field",
    [("task", "ai_response"), ("task", "error_message"), ("errorlog", "resolution_notes")],
)
def test_prose_with_a_direction_override_is_a_form_error_keeping_the_form(
    admin_client, kind, field
):
    """Regression: U+202E saved in an answer or resolution notes showed the rest of its cell
    backwards; the API refuses it too (clean_text.prose_problem)."""
    from tests.admin.conftest import form_as_shown

    row = make_task(ai_response="Paris.") if kind == "task" else make_error(resolution_notes="")
    url = f"/admin/{kind}/edit/?id={row.id}"
    form = {**form_as_shown(admin_client, url), field: "Fixed \u202edekrow"}
    response = admin_client.post(url, data=form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "this has U+202E" in page and "dekrow" in page
    db.session.expire_all()
    assert getattr(db.session.get(type(row), row.id), field) == getattr(row, field)


def test_stored_prose_left_as_shown_does_not_refuse_saving_the_rest(admin_client):
    """Notes saved before the prose rule keep saving: staff are not told to fix a field
    they did not touch."""
    from tests.admin.conftest import form_as_shown

    error = make_error(resolution_notes="Old \u202enote")
    url = f"/admin/errorlog/edit/?id={error.id}"
    form = {**form_as_shown(admin_client, url), "resolved": "y"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(ErrorLog, error.id).resolved


@pytest.mark.parametrize("view", ["task", "errorlog", "apitoken"])
def test_the_texters_number_is_headed_texter_in_every_list_and_details_page(admin_client, view):
    """Regression: the same field, a texter's number, was "User" in Tasks and Error logs and
    "Texter" in API tokens and the Inbox; it is "Texter" everywhere (a "user" of the admin
    is a staff member)."""
    texter = make_user()
    task = make_task(user=texter)
    make_error(user_phone=texter.phone_number, task_id=task.id)
    make_token(texter)
    page = page_of(admin_client, f"/admin/{view}/")
    headers = re.findall(r'<th class="column-header[^"]*">\s*(?:<a[^>]*>)?\s*([^<]+?)\s*<', page)
    assert "Texter" in headers and "User" not in headers
