"""Asking for a person: the texter's keywords, the acknowledgement, staff's alert, texts held
for staff (not answered, not counted), and the way back to the AI."""

from __future__ import annotations

import http.server
import json
import threading
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from sms_agent import handoff, inbox, jobs, simulator
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.inbound import keywords
from sms_agent.models import Conversation, OutboundMessage, StaffUser, Task, User, utcnow
from tests.admin.conftest import csrf_for, log_in, post_action, staff_account
from tests.factories import make_staff, make_token, make_user
from tests.standins import inbound_form, openai_standin, signed_post

PHONE = "+15551230000"


def text_in(client, body: str) -> dict:
    """A signed SMS from PHONE through the real webhook, its jobs run at once."""
    form = inbound_form(body, From=PHONE)
    with simulator.jobs_inline():
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    db.session.rollback()
    return form


def sent(kind: str | None = None) -> list[OutboundMessage]:
    query = sa.select(OutboundMessage).order_by(OutboundMessage.created_at)
    messages = db.session.scalars(query).all()
    return [m for m in messages if kind is None or m.kind == kind]


def texter() -> User:
    return db.session.get(User, PHONE)


@pytest.mark.parametrize(
    "body",
    [
        "AGENT",
        "human",
        "Human!",
        "talk to a person",
        "Speak to a human.",
        "real person",
        "customer service",
        "I want to talk to a person",
        "ＡＧＥＮＴ",
    ],
)
def test_whole_messages_asking_for_a_person_are_the_agent_keyword(body):
    assert keywords.parse(body) is keywords.Keyword.AGENT


@pytest.mark.parametrize(
    "body", ["Is a human heart bigger than a dog's?", "agent orange", "talk to a person about tax"]
)
def test_a_question_that_mentions_a_person_is_still_a_question(body):
    assert keywords.parse(body) is None


def test_agent_acknowledges_once_and_waits_for_staff(app, client):
    app.config["STAFF_HOURS"] = "Mon-Fri 9-17 ET"
    make_user(PHONE)
    form = text_in(client, "AGENT")
    with simulator.jobs_inline():
        signed_post(client, "/sms/inbound", form)  # Twilio's retry changes nothing
    db.session.rollback()

    [ack] = sent()
    assert ack.kind == "handoff"
    assert ack.body == (
        "Thanks. A person from our team will reply to you here. Staff hours: Mon-Fri 9-17 ET"
    )
    assert texter().conversation_state == "waiting"
    conversation = db.session.get(Conversation, PHONE)
    assert conversation.handoff_source == "keyword" and conversation.requested_at is not None
    assert db.session.scalars(sa.select(Task)).all() == []


def test_the_acknowledgement_is_configurable(app, client):
    app.config["HANDOFF_ACK_TEXT"] = "Hold on, a human is coming."
    make_user(PHONE)
    text_in(client, "talk to a person")
    assert [m.body for m in sent()] == ["Hold on, a human is coming."]


def test_texts_while_waiting_are_held_for_staff_not_answered_nor_counted(app, client):
    make_user(PHONE, monthly_requests=3, total_requests=3)
    text_in(client, "HUMAN")
    text_in(client, "My order never arrived")
    text_in(client, "")  # even an empty one is for staff now

    held = db.session.scalars(sa.select(Task).order_by(Task.created_at)).all()
    assert [(t.status, t.refusal_reason, t.status_label) for t in held] == [
        ("refused", "held_for_staff", "held for staff")
    ] * 2
    assert [m.kind for m in sent()] == ["handoff"]  # no answer, no how-to
    user = texter()
    assert (user.monthly_requests, user.total_requests) == (3, 3)
    assert db.session.get(Conversation, PHONE).unread == 2


def test_a_takeover_while_the_model_answers_holds_the_answer_for_staff(app, client, monkeypatch):
    make_user(PHONE, monthly_requests=3, total_requests=3)
    ask_model = pipeline.ask_model

    def ask_model_then_staff_take_over(task, user):
        ask_model(task, user)
        with db.engine.begin() as admin:  # staff press Take over, in a web process
            admin.execute(
                sa.update(User).where(User.phone_number == PHONE).values(conversation_state="staff")
            )

    monkeypatch.setattr(pipeline, "ask_model", ask_model_then_staff_take_over)
    text_in(client, "My order never arrived")

    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")
    assert task.ai_response  # what the AI would have said, for staff to read
    assert sent() == []  # the AI stays out of a conversation staff hold
    user = texter()
    assert (user.monthly_requests, user.total_requests) == (3, 3)
    assert db.session.get(Conversation, PHONE).unread == 1


def test_the_answer_held_for_staff_is_not_the_texters_to_read(app, client, monkeypatch):
    """Regression: the answer the AI wrote before staff took the conversation over is kept
    for staff, never sent (the AI stays out), yet the texter's own token read it on the
    task, word for word. Staff still read it there; the texter sees their text held."""
    make_user(PHONE)
    ask_model = pipeline.ask_model

    def ask_model_then_staff_take_over(task, user):
        ask_model(task, user)
        with db.engine.begin() as admin:
            admin.execute(
                sa.update(User).where(User.phone_number == PHONE).values(conversation_state="staff")
            )

    monkeypatch.setattr(pipeline, "ask_model", ask_model_then_staff_take_over)
    text_in(client, "My order never arrived")
    [task] = db.session.scalars(sa.select(Task)).all()
    url = f"/api/tasks/{task.id}/"
    staff = {"Authorization": f"Token {make_token(make_staff('ann', is_admin=True))}"}
    own = {"Authorization": f"Token {make_token(texter())}"}

    assert client.get(url, headers=staff).get_json()["ai_response"] == task.ai_response
    seen = client.get(url, headers=own).get_json()
    assert (seen["refusal_reason"], seen["ai_response"]) == ("held_for_staff", None)
    listed = client.get("/api/tasks/", headers=own).get_json()["results"]
    assert [row["ai_response"] for row in listed] == [None]
    # Nor as the shaped text it would have been sent as (metadata's sent and more).
    words = task.ai_response.split()[0]
    assert not any(words in json.dumps(row) for row in [seen, *listed])


@pytest.mark.parametrize("state", ["waiting", "staff"])
def test_stop_start_and_help_work_in_every_state(app, client, state):
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    if state == "staff":
        handoff.take_over(user, make_staff("ann"))
    db.session.commit()

    text_in(client, "HELP")
    text_in(client, "STOP")
    assert texter().is_opted_out
    text_in(client, "START")
    assert not texter().is_opted_out
    assert [m.kind for m in sent()] == ["help", "opt_out", "opt_in"]
    assert texter().conversation_state == state


def test_an_opted_out_texter_asking_for_a_person_changes_nothing(app, client):
    make_user(PHONE, opted_out_at=utcnow())
    text_in(client, "AGENT")
    assert texter().conversation_state == "ai" and sent() == []


def test_staff_are_alerted_through_the_alert_webhook(app, client):
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    app.config["ALERT_WEBHOOK_URL"] = f"http://127.0.0.1:{server.server_port}/alert"
    make_user(PHONE)
    text_in(client, "agent")
    thread.join(timeout=5)
    server.server_close()
    assert received == [
        {
            "event": "handoff_requested",
            "message": "A texter asked for a person (keyword).",
            "user": "***0000",
            "source": "keyword",
        }
    ]


@pytest.mark.parametrize("state", ["waiting", "staff"])
def test_asking_again_for_a_person_is_held_for_staff_not_acknowledged_again(app, client, state):
    """Regression: each AGENT sent while the conversation waited for staff (or was with
    them) got the acknowledgement again, an SMS paid each time (a phone resending it, an
    impatient texter), and staff never saw the texter had asked again: nothing was stored.
    The one acknowledgement stands; a repeated request is a held text, unread for staff."""
    before = REGISTRY.get_sample_value("handoffs_requested_total", {"source": "keyword"}) or 0
    make_user(PHONE)
    text_in(client, "AGENT")
    if state == "staff":
        handoff.take_over(texter(), make_staff("ann"))
        db.session.commit()
    text_in(client, "AGENT")
    text_in(client, "talk to a person!")
    after = REGISTRY.get_sample_value("handoffs_requested_total", {"source": "keyword"})
    assert after - before == 1
    assert [m.kind for m in sent()] == ["handoff"]
    held = db.session.scalars(sa.select(Task).order_by(Task.created_at)).all()
    assert [(t.sms_content, t.refusal_reason) for t in held] == [
        ("AGENT", "held_for_staff"),
        ("talk to a person!", "held_for_staff"),
    ]
    assert db.session.get(Conversation, PHONE).unread == 2


def test_released_by_staff_the_next_text_is_answered_by_the_ai(app, client):
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    db.session.commit()
    handoff.release(texter())
    db.session.commit()
    text_in(client, "What is DNS?")
    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.status == "completed" and [m.kind for m in sent()] == ["reply"]


def test_after_the_idle_time_the_ai_answers_again_and_the_texter_is_told_once(app, client):
    app.config["HANDOFF_IDLE_MINUTES"] = 30
    idle, busy = make_user(PHONE), make_user("+15551230001")
    for user in (idle, busy):
        handoff.request_human(user, "keyword")
    db.session.get(Conversation, PHONE).staff_clock_at = utcnow() - timedelta(minutes=31)
    db.session.commit()

    with simulator.jobs_inline():
        assert jobs.release_idle_conversations.apply().get() == 1
        assert jobs.release_idle_conversations.apply().get() == 0
    db.session.rollback()
    assert texter().conversation_state == "ai"
    assert db.session.get(User, "+15551230001").conversation_state == "waiting"
    [told] = sent()
    assert (told.kind, told.to_number) == ("handoff_ended", PHONE)
    assert "Reply AGENT" in told.body
    # what staff saw and left unanswered stays so (sms10's finding): told only that "the
    # AI answers your texts again", they waited for those answers
    assert "Please resend anything still unanswered." in told.body


def left_idle(app, client, *texts: str) -> list[str]:
    """PHONE sends `texts` (AGENT first), nobody from staff looks at them for
    HANDOFF_IDLE_MINUTES, and the conversation goes back to the AI by itself (the beat job
    run twice, as the next minute would): the kinds of the SMS PHONE got."""
    app.config["HANDOFF_IDLE_MINUTES"] = 30
    make_user(PHONE)
    for body in texts:
        text_in(client, body)
    db.session.get(Conversation, PHONE).staff_clock_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    with simulator.jobs_inline():
        assert jobs.release_idle_conversations() == 1
        assert jobs.release_idle_conversations() == 0
    db.session.expire_all()
    assert texter().conversation_state == "ai"
    assert db.session.get(Conversation, PHONE).unread == 0
    return [m.kind for m in sent()]


def answered() -> list[str]:
    return db.session.scalars(sa.select(Task.sms_content).where(Task.status == "completed")).all()


def test_the_idle_hand_back_answers_the_newest_text_nobody_saw_once(app, client):
    """Regression: texts held while nobody from staff looked were answered by nobody when the
    conversation went back to the AI by itself: the texter was told to resend them. As on
    Return to AI, the newest unseen one is answered (the older its context), once, after
    the notice that says the AI answers again."""
    kinds = left_idle(app, client, "AGENT", "My parcel never came", "Hello? What is DNS?")
    assert kinds == ["handoff", "handoff_ended", "reply"]
    assert answered() == ["Hello? What is DNS?"]
    assert texter().monthly_requests == 1  # counted, as a text answered


def test_an_unseen_request_for_a_person_is_not_answered_on_the_idle_hand_back(app, client):
    """Regression: an AGENT the texter sent again while nobody from staff looked was the
    newest unseen text, so the idle hand-back gave it to the model, which asked for a
    person at once: the texter read "Nobody from our team could reply in time" and then
    "A person from our team will reply", and the conversation waited for staff again. A
    request for a person asks the AI nothing: the newest unseen text that is no such
    request is answered, and with none the texter is told only that the AI answers again
    (with "Reply AGENT to ask for a person")."""
    with openai_standin(human_when="agent") as server:
        app.config.update(LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1")
        kinds = left_idle(app, client, "AGENT", "What is DNS?", "AGENT")
    assert kinds == ["handoff", "handoff_ended", "reply"]
    assert answered() == ["What is DNS?"]


def test_an_unseen_request_for_a_person_alone_owes_only_the_hand_back_notice(app, client):
    assert left_idle(app, client, "AGENT", "talk to a person!") == ["handoff", "handoff_ended"]
    assert answered() == []


@pytest.mark.parametrize(
    "last",
    [
        "Liked \u201cThanks. A person from our team will reply to you here.\u201d",
        "   ",
        "\u200b",
    ],
    ids=["a tapback", "spaces", "a zero-width space"],
)
def test_an_unseen_text_that_asks_nothing_leaves_the_question_before_it_answered(app, client, last):
    """Regression: a tapback on our acknowledgement (or a blank text) after the question was
    the newest unseen text, so the hand-back had the model answer it ("Liked ..." or
    nothing at all, a reply paid for no question) and the question went unanswered. Had
    the AI had the conversation, neither would have reached the model."""
    assert left_idle(app, client, "AGENT", "What is DNS?", last)[-1] == "reply"
    assert answered() == ["What is DNS?"]


def test_an_unseen_text_of_a_texter_who_opted_out_is_not_queued_on_the_idle_hand_back(app, client):
    """Regression: queued for the AI, it ended unsent ("opted out"), a task staff read as
    answered by nobody for a fault: nothing may reach the texter, so it stays held."""
    assert left_idle(app, client, "AGENT", "What is DNS?", "STOP") == ["handoff", "opt_out"]
    task = db.session.scalar(sa.select(Task).where(Task.sms_content == "What is DNS?"))
    assert (task.status, task.refusal_reason) == ("refused", "held_for_staff")


def test_a_staff_reply_restarts_the_idle_clock(app):
    app.config["HANDOFF_IDLE_MINUTES"] = 30
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    db.session.get(Conversation, PHONE).staff_clock_at = utcnow() - timedelta(minutes=31)
    handoff.record_staff_reply(user, make_staff("ann"))
    db.session.commit()
    assert handoff.release_idle() == []
    assert texter().conversation_state == "staff"


def test_taking_over_from_another_staff_member_needs_force(app):
    ann, bob = make_staff("ann"), make_staff("bob")
    user = make_user(PHONE)
    handoff.take_over(user, ann)
    with pytest.raises(handoff.HeldByOther, match="ann is handling"):
        handoff.take_over(user, bob)
    assert handoff.take_over(user, bob, force=True).held_by == bob


@pytest.mark.parametrize("action", [handoff.take_over, handoff.release])
def test_a_hold_confirmed_for_one_holder_is_not_taken_from_another(app, action):
    """The admin's "anyway?" names a holder: by the time it is confirmed another staff
    member may hold the conversation, and their hold was not what was agreed to."""
    ann, bob, carol = make_staff("ann"), make_staff("bob"), make_staff("carol")
    user = make_user(PHONE)
    handoff.take_over(user, carol)
    with pytest.raises(handoff.HeldByOther, match="carol is handling") as refused:
        action(user, bob, confirmed_holder_id=ann.id)
    assert (refused.value.holder, refused.value.holder_id) == ("carol", carol.id)
    assert handoff.find(PHONE).held_by == carol
    action(user, bob, confirmed_holder_id=carol.id)
    assert handoff.find(PHONE).held_by == (bob if action is handoff.take_over else None)


def test_two_staff_taking_over_at_once_the_second_is_asked_first(app):
    ann, bob = make_staff("ann"), make_staff("bob")
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    db.session.commit()
    as_bob_read_it = texter()  # bob's page read the texter while it was still waiting
    # ...and ann's Take over committed in another web process before bob's reached the lock.
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(User).where(User.phone_number == PHONE).values(conversation_state="staff")
        )
        connection.execute(
            sa.update(Conversation)
            .where(Conversation.user_phone == PHONE)
            .values(held_by_id=ann.id)
        )
    with pytest.raises(handoff.HeldByOther, match="ann is handling"):
        handoff.take_over(as_bob_read_it, bob)


def test_a_reply_sent_from_a_page_read_before_another_took_over_leaves_them_the_holder(app):
    ann, bob = make_staff("ann"), make_staff("bob")
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    db.session.commit()
    as_bob_read_it = texter()  # bob's page read the texter while it was still waiting
    with db.engine.begin() as connection:  # ...and ann took it over before bob pressed Send
        connection.execute(
            sa.update(User).where(User.phone_number == PHONE).values(conversation_state="staff")
        )
        connection.execute(
            sa.update(Conversation)
            .where(Conversation.user_phone == PHONE)
            .values(held_by_id=ann.id)
        )
    handoff.send_as_staff(as_bob_read_it, "On it.", bob, submission="bob-form")
    db.session.commit()
    db.session.expire_all()
    assert [m.body for m in sent("staff")] == ["On it."]
    assert (texter().conversation_state, db.session.get(Conversation, PHONE).held_by) == (
        "staff",
        ann,
    )


def test_the_first_staff_reply_is_timed_from_the_request(app):
    count = REGISTRY.get_sample_value("handoff_first_staff_reply_seconds_count") or 0
    user = make_user(PHONE)
    handoff.request_human(user, "keyword")
    db.session.commit()
    staff = make_staff("ann")
    handoff.record_staff_reply(user, staff)
    db.session.commit()
    handoff.record_staff_reply(user, staff)  # a second reply is not a first one
    db.session.commit()
    assert REGISTRY.get_sample_value("handoff_first_staff_reply_seconds_count") == count + 1


def test_metrics_show_the_conversations_waiting_now(app, client):
    for phone in ("+15551230001", "+15551230002"):
        handoff.request_human(make_user(phone), "keyword")
    db.session.commit()
    body = client.get("/metrics").get_data(as_text=True)
    assert "conversations_waiting 2.0" in body


def test_a_loop_of_metrics_scrapes_reads_the_database_once_a_second(
    app, client, count_queries, monkeypatch
):
    """Regression: without METRICS_TOKEN anyone who reaches /metrics may scrape it, and each
    scrape counted the waiting conversations in the database: a stranger's loop cost as
    many queries. The figure is kept for READYZ_CACHE_SECONDS, as /readyz keeps its answer."""
    import sms_agent.ops.health as health

    now = [time.monotonic()]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    app.config["READYZ_CACHE_SECONDS"] = 1.0
    handoff.request_human(make_user("+15551230001"), "keyword")
    db.session.commit()
    with count_queries() as counter:
        bodies = [client.get("/metrics").get_data(as_text=True) for _ in range(10)]
    assert counter.count == 1
    assert all("conversations_waiting 1.0" in body for body in bodies)

    handoff.request_human(make_user("+15551230002"), "keyword")
    db.session.commit()
    assert "conversations_waiting 1.0" in client.get("/metrics").get_data(as_text=True)
    now[0] += 1.0
    assert "conversations_waiting 2.0" in client.get("/metrics").get_data(as_text=True)


def test_releasing_idle_conversations_reads_the_texters_in_one_statement(app, count_queries):
    """The beat job releases at most a minute's idle conversations, but each SELECT per
    texter adds up at scale: the statements do not grow with the conversations released."""
    app.config["HANDOFF_IDLE_MINUTES"] = 30

    def release(count: int, first: int) -> int:
        phones = [f"+1555123{first + n:04d}" for n in range(count)]
        for phone in phones:
            handoff.request_human(make_user(phone), "keyword")
            db.session.get(Conversation, phone).staff_clock_at = utcnow() - timedelta(minutes=31)
        db.session.commit()
        with count_queries() as counter:
            assert jobs.release_idle_conversations() == count
        return counter.count

    assert release(1, first=100) == release(4, first=200)


@pytest.mark.parametrize(
    ("twilio_answers", "remembered"),
    [
        ([(400, 21211)], False),  # the first part refused: nothing reached the texter
        ([(201, None), (400, 21211)], True),  # the second refused: the first is on its way
        ([(500, 20500)], False),  # Twilio answered with an error: it created nothing
    ],
)
def test_a_refused_staff_message_may_be_resent_only_if_none_of_it_went(
    app, twilio_server, twilio_answers, remembered
):
    from sms_agent import outbound
    from tests.standins import twilio_error, twilio_message

    user = make_user(PHONE, tier="enterprise")
    for status, code in twilio_answers:
        body = twilio_message({"To": PHONE}) if code is None else twilio_error(status, code, "no")
        twilio_server.then(status, body)

    with pytest.raises(outbound.SendFailed):
        handoff.send_as_staff(user, "A sentence that runs on. " * 80, None, submission="form-1")

    assert handoff.was_sent(user, "form-1") is remembered


@pytest.mark.parametrize("departure", ["deleted", "deactivated"])
def test_a_conversation_held_by_staff_who_leave_waits_for_another(app, departure):
    """It stayed "with staff", held by nobody, every text held unanswered, until the idle
    release."""
    ann, bob = make_staff("ann"), make_staff("bob")
    held, other = make_user(PHONE), make_user("+15551230001")
    handoff.take_over(held, ann)
    handoff.take_over(other, bob)
    db.session.commit()

    if departure == "deleted":
        db.session.delete(ann)
    else:
        ann.is_active = False
    db.session.commit()

    db.session.expire_all()
    assert (texter().conversation_state, db.session.get(Conversation, PHONE).held_by) == (
        "waiting",
        None,
    )
    assert db.session.get(User, "+15551230001").conversation_state == "staff"
    assert db.session.get(Conversation, "+15551230001").held_by.username == "bob"


def delete_in_admin(client, tasks: list[Task], bulk: bool) -> None:
    staff_account("boss", is_admin=True)
    assert log_in(client, "boss").status_code == 302
    ids = [str(task.id) for task in tasks]
    if bulk:
        response = post_action(client, "/admin/task/", "delete", ids)
        assert f"{len(ids)} records were successfully deleted." in response.get_data(as_text=True)
        return
    token = csrf_for(client, "/admin/task/")
    for task_id in ids:
        response = client.post("/admin/task/delete/", data={"id": task_id, "csrf_token": token})
        assert response.status_code == 302


def delete_through_the_api(client, tasks: list[Task]) -> None:
    headers = {"Authorization": f"Token {make_token(make_staff('ops', is_admin=True))}"}
    for task in tasks:
        assert client.delete(f"/api/tasks/{task.id}/", headers=headers).status_code == 204


DOORS = {
    "admin row delete": lambda client, tasks: delete_in_admin(client, tasks, bulk=False),
    "admin bulk delete": lambda client, tasks: delete_in_admin(client, tasks, bulk=True),
    "API delete": delete_through_the_api,
}


@pytest.mark.parametrize("door", DOORS)
def test_deleting_held_texts_takes_only_the_unread_ones_off_the_unread_count(app, client, door):
    make_user(PHONE)
    text_in(client, "HUMAN")
    text_in(client, "Read by staff")
    handoff.mark_read(PHONE)  # staff opened the conversation
    db.session.commit()
    for body in ("Still unread", "Also unread", "Newest, unread"):
        text_in(client, body)
    assert db.session.get(Conversation, PHONE).unread == 3

    held = {task.sms_content: task for task in db.session.scalars(sa.select(Task))}
    DOORS[door](client, [held["Read by staff"], held["Also unread"]])

    db.session.expire_all()
    assert db.session.get(Conversation, PHONE).unread == 2
    assert inbox.entry_for(texter()).unread == 2


def test_a_text_held_while_staff_delete_an_unread_one_keeps_the_count_exact(app, client):
    """The webhook reads the count, staff delete an unread text in another process, then
    the webhook writes: the deleted text is not counted again."""
    make_user(PHONE)
    text_in(client, "HUMAN")
    text_in(client, "Unread, deleted")
    [deleted] = db.session.scalars(sa.select(Task.id)).all()
    user = texter()
    handoff.hold_text(user)  # a new text held: the count it read is 1
    db.session.add(
        Task(user=user, sms_content="Held", status="refused", refusal_reason="held_for_staff")
    )
    with sa.orm.Session(db.engine) as staff_process:
        staff_process.delete(staff_process.get(Task, deleted))
        staff_process.commit()
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Conversation, PHONE).unread == 1
    assert inbox.entry_for(texter()).unread == 1


def test_a_deleted_texter_who_writes_again_starts_with_nothing_unread(app, client):
    make_user(PHONE)
    text_in(client, "HUMAN")
    text_in(client, "Unread")
    headers = {"Authorization": f"Token {make_token(make_staff('ops', is_admin=True))}"}
    assert client.delete(f"/api/users/{quote(PHONE)}/", headers=headers).status_code == 204

    make_user(PHONE)
    text_in(client, "HUMAN")
    text_in(client, "Hello again")
    assert inbox.entry_for(texter()).unread == 1


def test_a_release_and_a_takeover_at_once_make_one_conversation(app, monkeypatch):
    """Regression: both found no conversation row for a texter who never had one, both made
    it, and the second commit failed (a 500 for one of the two staff members)."""
    phone = make_user(PHONE).phone_number
    staff_id = make_staff("admin", is_admin=True).id
    db.session.commit()
    both_looked = threading.Barrier(2, timeout=1)
    looked_up = handoff.find

    def find_then_wait(found_phone):
        conversation = looked_up(found_phone)
        try:
            both_looked.wait()  # without the texter's lock, both find nothing here
        except threading.BrokenBarrierError:
            pass  # the other waits for the lock this one holds
        return conversation

    monkeypatch.setattr(handoff, "find", find_then_wait)
    failures = []

    def act(action):
        with app.app_context():
            try:
                user = db.session.get(User, phone)
                if action == "take over":
                    handoff.take_over(user, db.session.get(StaffUser, staff_id))
                else:
                    handoff.release(user)
                db.session.commit()
            except Exception as exc:  # any failure fails the test below
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=act, args=(action,)) for action in ("take over", "release")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert failures == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 1


def test_staffs_first_message_to_a_number_comes_after_the_program_notice(app):
    """Regression: a texter's first message from us must carry the carriers' program notice
    (name, rates, HELP, STOP), as an AI answer or a notice does; staff writing first (from
    the admin or POST /api/users/<phone>/messages/) sent theirs without it, and the next
    answer then brought it after the conversation had begun. Once, on each channel."""
    user = make_user(PHONE, service_state={})
    handoff.send_as_staff(user, "Hello, this is Ann from support.", None)
    handoff.send_as_staff(user, "Anything else?", None)
    db.session.rollback()
    assert [message.kind for message in sent()] == ["program", "staff", "staff"]
    assert "Reply HELP for help, STOP to opt out." in sent()[0].body
