"""Answering a stored task: claim, classify, context, model, shaping, sending, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.sql import cache_key
from sqlalchemy.sql.compiler import SQLCompiler

from sms_agent import handoff, quota
from sms_agent.answering import classify, pipeline
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, ModelCall, OutboundMessage, Task, User, texter_of, utcnow
from sms_agent.outbound.send import new_message, plan
from sms_agent.vendors.openai import LLMError
from tests.factories import make_staff, make_task, make_user
from tests.standins import Raw, SilentServer, chat_completion, openai_error, twilio_error


def fresh(task: Task) -> Task:
    db.session.rollback()
    return db.session.get(Task, task.id)


def outbox(kind: str | None = None) -> list[OutboundMessage]:
    query = sa.select(OutboundMessage).order_by(OutboundMessage.created_at, OutboundMessage.part)
    if kind:
        query = query.where(OutboundMessage.kind == kind)
    return list(db.session.scalars(query))


def errors() -> list[ErrorLog]:
    return list(db.session.scalars(sa.select(ErrorLog)))


def test_offline_answer_is_sent_and_labelled(app, capsys):
    task = make_task(sms_content="How do I fix a KeyError in Python?")
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert task.status == "completed" and task.success
    assert task.ai_response.startswith("[Offline mode]")
    assert task.metadata_["offline"] is True and task.tokens_used == 0
    assert task.category == "debug" and 0 <= task.complexity_score <= 1
    assert task.processing_time is not None
    [sms] = outbox()
    assert (sms.kind, sms.status, sms.to_number) == ("reply", "sent", task.user_phone)
    assert sms.sid.startswith("SM") and len(sms.sid) == 34
    assert "[Offline mode]" in capsys.readouterr().out


def test_a_one_part_reply_takes_eight_statements_in_three_transactions(app, count_queries):
    """Claim (returning the task), texter, history, stored answer with its part, the
    texter's opt-out before sending, then completion and the part's sid (the request was
    counted when it was admitted). Nothing is read again after a commit, and nothing is
    flushed early by a read in between. The claim is committed with the reads before the
    model call, the answer with its part before Twilio is called, the sid with the
    completion. On PostgreSQL the texter comes back with the claim: seven statements."""
    task_id = make_task(sms_content="How do I fix a KeyError in Python?").id
    db.session.remove()  # a job starts with an empty session, as in the worker
    with count_queries() as counter:
        assert pipeline.answer(task_id) == "answered"
    task_updates = [s for s in counter.statements if s.lstrip().startswith("UPDATE tasks")]
    assert len(task_updates) == 3
    texter_reads = [s for s in counter.statements if "FROM users" in s]
    on_postgresql = db.engine.dialect.name == "postgresql"
    assert len(counter.statements) == (7 if on_postgresql else 8)
    # The texter's row, then its opt-out before the send: the first with the claim there.
    assert len(texter_reads) == 2
    assert counter.commits == 3


def test_the_claim_on_postgresql_brings_the_texter_and_leaves_its_row_unlocked(app, count_queries):
    """The texter joined to the claim is the one the job then reads without a statement,
    and the claim locks only the task's row: a webhook of the same texter, which locks the
    texter's, does not wait for the job's first commit."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's RETURNING names only the updated table: the texter is read apart")
    task = make_task(sms_content="hello")
    task_id, phone = task.id, task.user_phone
    db.session.remove()
    claimed = pipeline.begin_claim(task_id)
    with count_queries() as counter:
        assert texter_of(claimed).phone_number == phone
    assert counter.statements == []
    with db.engine.connect() as webhook:
        webhook.execute(sa.text("SET lock_timeout = '2s'"))
        locked = sa.select(User.phone_number).where(User.phone_number == phone)
        assert webhook.scalar(locked.with_for_update(key_share=True)) == phone
        webhook.rollback()
    db.session.commit()


def test_a_claimed_task_and_its_texter_are_as_a_query_loads_them(app):
    """The claim's returned row is read into the task (and on PostgreSQL its texter)
    without the ORM's loading: every column as a query in another session reads it,
    persistent and unmodified, and the task's relationships still load when asked."""
    task = make_task(sms_content="hello")
    task_id = task.id
    db.session.remove()
    claimed = pipeline.begin_claim(task_id)
    user = texter_of(claimed)
    held = {}
    for mine in (claimed, user):
        state = sa.inspect(mine)
        assert state.persistent and not state.modified and not state.expired_attributes
        assert db.session.get(type(mine), state.identity) is mine
        held[type(mine)] = {c.key: getattr(mine, c.key) for c in state.mapper.column_attrs}
    assert claimed.status == "processing" and claimed.user is user
    db.session.commit()
    with sa.orm.Session(db.engine) as other:
        for loaded in (other.get(Task, task_id), other.get(User, user.phone_number)):
            columns = sa.inspect(loaded).mapper.column_attrs
            assert held[type(loaded)] == {c.key: getattr(loaded, c.key) for c in columns}
    assert claimed.outbound_messages == [] and user.tasks == [claimed]


def test_a_task_the_session_holds_takes_the_claimed_row(app):
    """As a query with populate_existing: the claim returns the object the session already
    holds, with the claimed row's values and no pending change."""
    task = make_task(sms_content="hello")
    db.session.commit()
    held = db.session.get(Task, task.id)
    assert held.status == "queued"
    assert pipeline.begin_claim(task.id) is held
    assert held.status == "processing" and held.lease_at is not None
    assert not sa.inspect(held).modified
    db.session.commit()


def test_a_job_builds_no_statement_the_previous_job_built(app, openai_server, monkeypatch):
    """Every statement of a job is one SQLAlchemy has keyed and compiled before: a statement
    built afresh per job (the ORM's UPDATE of the claim, an INSERT asked to return server
    defaults) costs a new cache key and a cache lookup each time, about 0.1 ms of CPU."""
    keyed = []
    generate = cache_key.HasCacheKey._generate_cache_key

    def counting(statement):
        keyed.append(type(statement).__name__)
        return generate(statement)

    monkeypatch.setattr(cache_key.HasCacheKey, "_generate_cache_key", counting)
    user = make_user()
    first, second = (make_task(user).id for _ in "12")
    db.session.remove()  # each job starts with an empty session, as in the worker
    assert pipeline.answer(first) == "answered"
    db.session.remove()
    keyed.clear()
    assert pipeline.answer(second) == "answered"
    assert keyed == []


def test_a_job_renders_no_statement_again(app, openai_server, monkeypatch):
    """No statement of a job holds a list SQLAlchemy writes into its SQL at each execution
    (an IN of fixed statuses or kinds given as values): rendering the conversation's query
    again cost about 2.5% of a job's instructions."""
    rendered = []
    render = SQLCompiler._process_parameters_for_postcompile

    def counting(compiled, *args, **kwargs):
        rendered.append(compiled.string[:40])
        return render(compiled, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "_process_parameters_for_postcompile", counting)
    user = make_user()
    first, second = (make_task(user).id for _ in "12")
    db.session.remove()
    assert pipeline.answer(first) == "answered"
    db.session.remove()
    assert pipeline.answer(second) == "answered"
    assert rendered == []


def test_model_answer_records_what_the_provider_said(app, openai_server):
    task = make_task(sms_content="What is the capital of France?")
    pipeline.answer(task.id)
    task = fresh(task)
    assert task.ai_response == "Paris is the capital of France."
    assert task.tokens_used == 42
    meta = task.metadata_
    assert (meta["model"], meta["finish_reason"], meta["request_id"]) == (
        "standin-model",
        "stop",
        "req_standin",
    )
    assert meta["offline"] is False
    [(_, path, request)] = openai_server.requests
    assert path == "/v1/chat/completions"
    assert request["messages"][0]["role"] == "system"
    assert "plain text" in request["messages"][0]["content"]
    assert request["messages"][-1] == {"role": "user", "content": "What is the capital of France?"}
    assert request["max_completion_tokens"] > 0


def test_system_prompt_follows_the_category_and_the_tier_budget(app, openai_server):
    free = make_task(user=make_user(tier="free"), sms_content="Write a Python function to sort")
    premium = make_task(user=make_user(tier="premium"), sms_content="Write a Python function")
    pipeline.answer(free.id)
    pipeline.answer(premium.id)
    free_prompt = openai_server.requests[0][2]["messages"][0]["content"]
    premium_prompt = openai_server.requests[1][2]["messages"][0]["content"]
    assert "programming" in free_prompt
    assert "under 450 characters" in free_prompt
    assert "under 1520 characters" in premium_prompt


def test_the_system_prompt_tells_the_model_the_texters_commands(app, openai_server):
    """Regression: asked "how do I get the rest?", the model knew nothing of MORE, nor of
    RESET, AGENT, HELP or STOP, and made up an answer."""
    pipeline.answer(make_task(sms_content="How do I get the rest of your answer?").id)
    prompt = openai_server.requests[0][2]["messages"][0]["content"]
    for command in ("MORE", "RESET", "AGENT", "HELP", "STOP"):
        assert command in prompt
    assert "rest of" in prompt and "start over" in prompt


def test_markdown_from_the_model_is_sent_as_plain_text(app, openai_server):
    openai_server.then(200, chat_completion("**Paris** is the capital — of *France*."))
    pipeline.answer(make_task().id)
    [sms] = outbox()
    assert sms.body == "Paris is the capital - of France."
    assert sms.encoding == "GSM-7"


def test_a_length_cut_is_trimmed_at_a_sentence(app, openai_server):
    cut = "Paris is the capital. It has about two million people. The Seine runs thro"
    openai_server.then(200, chat_completion(cut, finish_reason="length"))
    task = make_task()
    pipeline.answer(task.id)
    assert fresh(task).ai_response == "Paris is the capital. It has about two million people."
    assert fresh(task).metadata_["finish_reason"] == "length"


def test_a_long_answer_is_split_into_numbered_parts_sent_in_order(app, openai_server):
    long_answer = " ".join(f"Sentence number {n} explains one more detail." for n in range(80))
    openai_server.then(200, chat_completion(long_answer))
    user = make_user(tier="enterprise")
    pipeline.answer(make_task(user=user).id)
    parts = outbox()
    assert len(parts) > 1
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.body.startswith(f"({p.part}/{len(parts)})") for p in parts)
    assert all(p.sid and len(p.body) <= 1600 for p in parts)
    assert sum(p.segments for p in parts) <= 20


def answered_exchanges(user, count: int) -> None:
    """`count` questions ("q0"...) answered ("a0"...) a few minutes ago, a minute apart."""
    for n in range(count):
        make_task(
            user=user,
            sms_content=f"q{n}",
            ai_response=f"a{n}",
            status="completed",
            success=True,
            created_at=utcnow() - timedelta(minutes=10 - n),
        )


def test_context_holds_recent_exchanges_oldest_first(app, openai_server):
    app.config["CONTEXT_TURNS"] = 2
    user = make_user()
    answered_exchanges(user, 3)
    task = make_task(user=user, sms_content="q3")
    pipeline.answer(task.id)
    messages = openai_server.requests[0][2]["messages"]
    assert [m["content"] for m in messages[1:]] == ["q1", "a1", "q2", "a2", "q3"]
    assert fresh(task).metadata_["context_turns"] == 2


def test_a_text_sent_right_after_another_is_asked_with_the_earlier_ones_words(app, openai_server):
    """Regression: "What is the capital of France?" and, seconds later, "And its
    population?" are answered at once by two worker threads; the second was asked alone,
    and the model could not know whose population. It is now asked with the earlier
    text's words (in its own message: many chat templates refuse two user turns in a row),
    and answered without waiting for the first."""
    user = make_user()
    first = make_task(
        user=user,
        sms_content="What is the capital of France?",
        created_at=utcnow() - timedelta(seconds=3),
    )
    second = make_task(user=user, sms_content="And its population?")
    assert pipeline.answer(second.id) == "answered"
    messages = openai_server.requests[0][2]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == (
        '(Texted just before, answered separately:\n"What is the capital of France?")'
        "\n\nAnd its population?"
    )
    assert fresh(second).metadata_["context_turns"] == 0
    assert fresh(first).status == "queued"  # answered in its own turn, not waited for


def test_a_burst_of_texts_does_not_crowd_earlier_exchanges_out_of_the_context(app, openai_server):
    """Regression: the texts of the last minute still being answered took the places of
    CONTEXT_TURNS, so a texter who sent three quick texts had the model forget the
    exchange they were all about."""
    app.config["CONTEXT_TURNS"] = 2
    user = make_user()
    answered_exchanges(user, 2)
    for n in range(3):
        make_task(
            user=user, sms_content=f"quick{n}", created_at=utcnow() - timedelta(seconds=9 - n)
        )
    task = make_task(user=user, sms_content="last")
    pipeline.answer(task.id)
    messages = openai_server.requests[0][2]["messages"]
    assert [m["content"] for m in messages[1:]] == [
        "q0",
        "a0",
        "q1",
        "a1",
        '(Texted just before, answered separately:\n"quick1"\n"quick2")\n\nlast',
    ]


def test_an_answer_waiting_for_its_sending_slot_is_context_for_the_next_text(app, openai_server):
    user = make_user()
    make_task(
        user=user,
        sms_content="Name a French cheese",
        ai_response="Brie.",
        status="processing",
        created_at=utcnow() - timedelta(seconds=5),
    )
    task = make_task(user=user, sms_content="Another one?")
    pipeline.answer(task.id)
    messages = openai_server.requests[0][2]["messages"]
    assert [m["content"] for m in messages[1:]] == ["Name a French cheese", "Brie.", "Another one?"]


def test_after_staff_hand_the_conversation_back_the_model_knows_what_was_said(app, openai_server):
    """Regression: the texts held for staff and staff's replies were left out of the
    context, so a texter asking "When will I see the money?" after staff refunded them was
    answered as if nothing had happened."""
    user = make_user()
    answered_exchanges(user, 1)
    for n, text in enumerate(["My order 12 never came", "Can I get a refund?"]):
        make_task(
            user=user,
            sms_content=text,
            status="refused",
            refusal_reason="held_for_staff",
            created_at=utcnow() - timedelta(minutes=5 - n),
        )
    handoff.take_over(user, make_staff())
    handoff.send_as_staff(user, "We refunded order 12 today.", None)
    db.session.commit()
    handoff.release(user)
    db.session.commit()
    task = make_task(user=user, sms_content="When will I see the money?")
    pipeline.answer(task.id)
    messages = openai_server.requests[0][2]["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "q0"),
        ("assistant", "a0"),
        ("user", "My order 12 never came\nCan I get a refund?"),
        ("assistant", "(A person from our team replied:) We refunded order 12 today."),
        ("user", "When will I see the money?"),
    ]


def test_staff_replies_in_a_row_are_one_turn_said_once_to_be_staffs(app, openai_server):
    user = make_user()
    for text in ["Your plan changes tomorrow.", "It will cost less."]:
        handoff.send_as_staff(user, text, None)
        db.session.commit()
    task = make_task(user=user, sms_content="Why?")
    pipeline.answer(task.id)
    [_, _, staff, _] = openai_server.requests[0][2]["messages"]
    assert staff["content"] == (
        "(A person from our team replied:) Your plan changes tomorrow.\nIt will cost less."
    )


def test_a_conversation_staff_started_opens_with_the_texter_in_the_context(app, openai_server):
    """Chat templates that want turns to alternate refuse a first turn of the assistant's."""
    user = make_user()
    handoff.send_as_staff(user, "Hi, your plan changes tomorrow.", None)
    db.session.commit()
    task = make_task(user=user, sms_content="Why?")
    pipeline.answer(task.id)
    messages = openai_server.requests[0][2]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_a_text_left_unanswered_for_long_is_no_context(app, openai_server):
    """Stuck for more than a minute (its worker died; the sweeper will run it again), it
    is no longer the thought the new text follows."""
    user = make_user()
    make_task(user=user, sms_content="stuck", created_at=utcnow() - timedelta(minutes=5))
    task = make_task(user=user, sms_content="Hello?")
    pipeline.answer(task.id)
    messages = openai_server.requests[0][2]["messages"]
    assert [m["content"] for m in messages[1:]] == ["Hello?"]


@pytest.mark.parametrize(
    "error",
    [
        openai_error("This model's maximum context length is 4096 tokens.", None, "BadRequest"),
        openai_error("too long", "context_length_exceeded", "invalid_request_error"),
        openai_error("the request exceeds the available context size", None, "exceed_context"),
    ],
    ids=["vllm", "openai", "llama.cpp"],
)
def test_a_conversation_too_long_for_the_model_is_left_out_not_apologised_for(
    app, openai_server, error
):
    """Each new question got the apology until the earlier exchanges aged out."""
    user = make_user()
    earlier = utcnow() - timedelta(minutes=5)
    make_task(user=user, ai_response="a0", status="completed", created_at=earlier)
    openai_server.then(400, error)
    task = make_task(user=user, sms_content="q1")
    assert pipeline.answer(task.id) == "answered"
    [too_long, alone] = [request[2] for request in openai_server.requests]
    assert len(too_long["messages"]) == 4
    assert [m["content"] for m in alone["messages"][1:]] == ["q1"]
    assert alone["tools"]  # the server's tools are not blamed for the length
    assert fresh(task).metadata_["context_turns"] == 0 and errors() == []
    assert [m.kind for m in outbox()] == ["reply"]


def test_context_forgets_old_exchanges_resets_and_offline_notices(app, openai_server):
    user = make_user(context_reset_at=utcnow() - timedelta(hours=1))
    make_task(
        user=user,
        sms_content="too old",
        ai_response="x",
        status="completed",
        created_at=utcnow() - timedelta(hours=30),
    )
    make_task(
        user=user,
        sms_content="before reset",
        ai_response="x",
        status="completed",
        created_at=utcnow() - timedelta(hours=2),
    )
    make_task(
        user=user,
        sms_content="offline",
        ai_response="x",
        status="completed",
        metadata_={"offline": True},
        created_at=utcnow() - timedelta(minutes=5),
    )
    make_task(
        user=user,
        sms_content="kept",
        ai_response="y",
        status="completed",
        created_at=utcnow() - timedelta(minutes=4),
    )
    pipeline.answer(make_task(user=user, sms_content="now").id)
    contents = [m["content"] for m in openai_server.requests[0][2]["messages"][1:]]
    assert contents == ["kept", "y", "now"]


# --- exactly once ----------------------------------------------------------------------


def test_a_completed_task_is_never_answered_again(app):
    task = make_task()
    pipeline.answer(task.id)
    assert pipeline.answer(task.id) == "skipped"
    assert len(outbox()) == 1


def test_a_task_held_by_a_live_worker_is_left_alone(app):
    task = make_task(status="processing")
    assert pipeline.answer(task.id) == "skipped"
    assert fresh(task).status == "processing"
    assert outbox() == []


def test_a_task_left_processing_by_a_dead_worker_is_taken_over(app):
    task = make_task(status="processing")
    db.session.execute(
        sa.update(Task).where(Task.id == task.id).values(lease_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    assert pipeline.answer(task.id) == "answered"


def test_claiming_is_a_conditional_update_only_one_caller_wins(app):
    task = make_task()
    assert pipeline.claim(task.id) is not None
    assert pipeline.claim(task.id) is None


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_task_ids_are_skipped(app, bad):
    assert pipeline.answer(bad) == "skipped"


def crashed_midway(app, sent_parts: int, interrupted: bool = False) -> Task:
    """A task whose worker died after sending `sent_parts` parts of a 3-part answer, and
    (`interrupted`) after committing the next part as about to be sent."""
    app.config["SEGMENTS_ENTERPRISE"] = 40
    answer = " ".join(f"Sentence {n} adds a little more to the answer." for n in range(90))
    user = make_user(tier="enterprise")
    task = make_task(user=user, ai_response=answer, status="processing")
    texts = plan(user, answer).parts
    assert len(texts) == 3
    for number, text in enumerate(texts[: sent_parts + interrupted], start=1):
        message = new_message(user, text, kind="reply", part=number, parts=3, task=task)
        if number <= sent_parts:
            message.sid, message.status = f"SM{number:032x}", "sent"
        db.session.add(message)
    db.session.commit()
    db.session.execute(
        sa.update(Task).where(Task.id == task.id).values(lease_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    return task


def test_a_redelivered_job_after_a_crash_sends_only_the_missing_parts(app, openai_server):
    task = crashed_midway(app, sent_parts=1)
    assert pipeline.answer(task.id) == "answered"
    parts = outbox()
    assert [p.part for p in parts] == [1, 2, 3]
    assert parts[0].sid == f"SM{1:032x}"
    assert all(p.sid for p in parts)
    assert openai_server.requests == []  # the stored answer is used; the model is not asked
    assert fresh(task).status == "completed"


def test_a_crash_after_every_part_was_sent_sends_nothing_more(app, twilio_server):
    task = crashed_midway(app, sent_parts=3)
    assert pipeline.answer(task.id) == "answered"
    assert twilio_server.requests == []
    assert len(outbox()) == 3
    assert fresh(task).status == "completed"


def test_a_part_whose_send_was_interrupted_is_not_resent_blind(app, twilio_server):
    task = crashed_midway(app, sent_parts=1, interrupted=True)
    pipeline.answer(task.id)
    part_two = [p for p in outbox() if p.part == 2]
    assert len(part_two) == 1 and part_two[0].sid is None
    assert [r[2]["Body"][:5] for r in twilio_server.requests] == ["(3/3)"]
    assert fresh(task).status == "completed"


def test_a_stalled_run_and_the_run_that_took_over_send_each_remaining_part_once(app, twilio_server):
    """Regression: a run resuming a 3-part answer stalled while Twilio had its part 2 (past
    STALE_TASK_SECONDS); the sweeper's run sent part 3, then the stalled run, going on,
    stored and sent part 3 too: the texter got it twice."""
    from tests.second_run import run_again_meanwhile

    task = crashed_midway(app, sent_parts=1)
    second_run = []

    def stalled_on_part_two(method, path, body):
        if method == "POST" and not second_run:
            second_run.append("started")
            second_run.append(run_again_meanwhile(app, task.id))
        return twilio_server_default(method, path, body)

    twilio_server_default, twilio_server.default = twilio_server.default, stalled_on_part_two
    pipeline.answer(task.id)

    assert second_run == ["started", "answered"]
    sent = [r[2]["Body"][:5] for r in twilio_server.requests if r[0] == "POST"]
    assert sorted(sent) == ["(2/3)", "(3/3)"]
    assert sorted(p.part for p in outbox()) == [1, 2, 3]
    assert fresh(task).status == "completed"


# --- failures --------------------------------------------------------------------------


def test_a_passing_model_failure_asks_for_a_retry_and_requeues(app, openai_server):
    openai_server.then(503, openai_error("overloaded", None))
    task = make_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert caught.value.limit_key == "OPENAI_MAX_RETRIES"
    assert fresh(task).status == "queued"
    assert outbox() == []


def test_an_exhausted_ai_credit_fails_at_once_with_an_apology(app, openai_server):
    openai_server.then(429, openai_error("You exceeded your quota", "insufficient_quota"))
    task = make_task()
    assert pipeline.answer(task.id) == "failed"
    task = fresh(task)
    assert task.status == "failed" and not task.success
    [error] = errors()
    assert error.error_type == "openai_error" and "insufficient_quota" in error.error_message
    assert "Traceback" in error.stack_trace
    assert [m.kind for m in outbox()] == ["apology"]


def test_give_up_records_a_timeout_as_openai_timeout(app):
    from sms_agent.vendors.openai import LLMError

    task = make_task()
    cause = LLMError("AI timeout", error_type="openai_timeout", retryable=True)
    pipeline.give_up(task.id, cause)
    assert errors()[0].error_type == "openai_timeout"
    assert fresh(task).status == "failed"
    assert [m.kind for m in outbox()] == ["apology"]


def test_giving_up_after_a_retry_reads_the_task_again(app, monkeypatch):
    """The job gives up right after its last retry raised; if another worker finished the
    task meanwhile, giving up must see that and leave it (and the texter) alone."""
    task = make_task()
    task_id = task.id

    def the_model_times_out(task, user):
        raise LLMError("AI timeout", error_type="openai_timeout", retryable=True)

    monkeypatch.setattr(pipeline, "ask_model", the_model_times_out)
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task_id)
    with db.engine.begin() as other_worker:
        other_worker.execute(
            sa.update(Task).where(Task.id == task_id).values(status="completed", success=True)
        )
    pipeline.give_up(task_id, caught.value.cause)
    assert db.session.get(Task, task_id).status == "completed"
    assert outbox() == [] and errors() == []


def test_twilio_5xx_during_the_reply_is_logged_and_retried(app, twilio_server):
    twilio_server.then(500, twilio_error(500, 20500, "Internal Server Error"))
    task = make_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert caught.value.limit_key == "TWILIO_MAX_RETRIES"
    [error] = errors()
    assert error.error_type == "twilio_error" and error.metadata_["twilio_code"] == 20500
    [failed] = outbox()
    assert (failed.status, failed.error_code) == ("failed", 20500)
    assert fresh(task).status == "queued"
    assert pipeline.answer(task.id) == "answered"
    [sent] = outbox()
    assert sent.id == failed.id and sent.status == "queued" and sent.sid.startswith("SM")


def test_twilio_21610_opts_the_user_out_and_is_not_retried(app, twilio_server):
    twilio_server.then(400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))
    task = make_task()
    assert pipeline.answer(task.id) == "opted_out"
    task = fresh(task)
    assert task.status == "failed" and task.user.is_opted_out
    assert errors()[0].error_type == "twilio_error"
    assert len(twilio_server.requests) == 1


def test_an_opted_out_or_inactive_texter_is_not_answered(app):
    opted_out = make_task(user=make_user(opted_out_at=utcnow()))
    inactive = make_task(user=make_user(is_active=False))
    assert pipeline.answer(opted_out.id) == "not_sent"
    assert pipeline.answer(inactive.id) == "not_sent"
    assert outbox() == []


@pytest.mark.parametrize(
    "error",
    [
        ZeroDivisionError("bug in the classifier"),
        # Regression: redis-py's errors carry an `error_type` of their own (ExceptionType
        # .NETWORK), which give_up took for ours; the ErrorLog refused it, the job crashed
        # and the task stayed processing, swept and crashing again for ever.
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
    ],
)
def test_an_unexpected_error_fails_the_task_with_a_system_error(app, monkeypatch, error):
    def broken(_text):
        raise error

    monkeypatch.setattr(classify, "classify", broken)
    task = make_task()
    assert pipeline.answer(task.id) == "failed"
    assert errors()[0].error_type == "system_error"
    assert fresh(task).status == "failed"
    assert [m.kind for m in outbox()] == ["apology"]


# --- send_text ---------------------------------------------------------------------------


def texter_sends_stop_once_the_model_answered(monkeypatch) -> None:
    """The model answers, then the texter's STOP is stored (by another process, the
    webhook's) before the reply goes out."""
    ask_model = pipeline.ask_model

    def ask_model_then_the_texter_sends_stop(task, user):
        ask_model(task, user)
        with db.engine.begin() as webhook:
            webhook.execute(
                sa.update(User)
                .where(User.phone_number == user.phone_number)
                .values(opted_out_at=utcnow())
            )

    monkeypatch.setattr(pipeline, "ask_model", ask_model_then_the_texter_sends_stop)


def test_a_stop_sent_while_the_model_thinks_stops_the_reply(app, monkeypatch):
    task = make_task(sms_content="What is the capital of France?")
    texter_sends_stop_once_the_model_answered(monkeypatch)
    assert pipeline.answer(task.id) == "opted_out"
    task = fresh(task)
    assert task.status == "failed" and task.ai_response is not None
    # Nothing went out, so no reply is on record as queued after the STOP, nor paid for,
    # nor as what the texter was sent.
    assert outbox("reply") == []
    assert "sent" not in task.metadata_ and "more" not in task.metadata_
    assert task.cost_usd == 0


def test_a_stop_sent_while_the_model_thinks_keeps_the_request_counted(app, monkeypatch):
    """Regression: the request went back to the quota though the model had answered (and
    was paid): asking, then STOP before the reply and START, asked the model for free, as
    often as the texter liked. A STOP before the model is asked still gives it back."""
    texter = make_user(monthly_requests=0, total_requests=0)
    window = quota.admit(texter)
    task = make_task(user=texter, sms_content="What is the capital of France?", quota_window=window)
    texter_sends_stop_once_the_model_answered(monkeypatch)
    assert pipeline.answer(task.id) == "opted_out"
    db.session.refresh(texter)
    assert (texter.monthly_requests, texter.total_requests) == (1, 1)


@pytest.mark.parametrize("deleted", ["the texter", "the task"])
def test_a_task_deleted_while_the_model_thinks_is_dropped_and_its_call_stays_paid(
    app, openai_server, twilio_server, monkeypatch, deleted
):
    task = make_task(sms_content="What is the capital of France?")
    task_id, phone, ask_model = task.id, task.user_phone, pipeline.ask_model

    def ask_model_then_staff_delete(task, user):
        ask_model(task, user)
        with db.engine.begin() as admin:  # the API or the admin, in another process
            if deleted == "the texter":
                admin.execute(sa.delete(User).where(User.phone_number == phone))
            else:
                admin.execute(sa.delete(Task).where(Task.id == task_id))

    monkeypatch.setattr(pipeline, "ask_model", ask_model_then_staff_delete)
    assert pipeline.answer(task_id) == "deleted"
    db.session.rollback()
    assert db.session.get(Task, task_id) is None
    assert twilio_server.requests == [] and errors() == []
    # The model answered and was paid: its call stays in the spend, detached.
    [call] = db.session.scalars(sa.select(ModelCall))
    assert (call.task_id, call.model) == (None, "standin-model") and call.completion_tokens > 0
    assert call.user_phone == (None if deleted == "the texter" else phone)


def test_a_stop_sent_while_the_model_fails_gets_no_apology(app, monkeypatch):
    task = make_task(sms_content="What is the capital of France?")

    def the_texter_sends_stop_then_the_model_fails(task, user):
        db.session.commit()  # as ask_model does before its call: the claim and the reads
        with db.engine.begin() as webhook:
            webhook.execute(
                sa.update(User)
                .where(User.phone_number == user.phone_number)
                .values(opted_out_at=utcnow())
            )
        raise LLMError("AI error 400", error_type="openai_error", retryable=False)

    monkeypatch.setattr(pipeline, "ask_model", the_texter_sends_stop_then_the_model_fails)
    assert pipeline.answer(task.id) == "failed"
    assert fresh(task).status == "failed"
    assert outbox() == []


def test_a_send_whose_answer_was_lost_is_not_sent_again(app, twilio_server):
    """Twilio may have accepted it: at most once beats a duplicate reply."""
    task = make_task()
    with SilentServer() as hanging:
        app.config.update(TWILIO_API_BASE_URL=hanging.url, TWILIO_TIMEOUT=0.3)
        with pytest.raises(pipeline.TryAgain):
            pipeline.answer(task.id)
    [unknown] = outbox()
    assert (unknown.status, unknown.sid) == ("queued", None)
    assert "no answer from Twilio" in unknown.error_message
    assert errors()[0].error_type == "twilio_error"
    app.config["TWILIO_API_BASE_URL"] = twilio_server.url
    assert pipeline.answer(task.id) == "answered"
    assert twilio_server.requests == []
    assert len(outbox()) == 1


def test_a_send_twilio_answered_with_a_page_is_not_sent_again_nor_apologised_for(
    app, twilio_server
):
    """A 201 whose body is no message (a proxy's page): the job crashed, the texter got the
    answer and then the apology, and the request was given back for an answer they had."""
    twilio_server.then(201, Raw(b"<html>Accepted</html>", "text/html"))
    user = make_user()
    task = make_task(user=user, quota_window=quota.admit(user))
    with pytest.raises(pipeline.TryAgain):
        pipeline.answer(task.id)
    assert pipeline.answer(task.id) == "answered"
    assert [request[2]["Body"] for request in twilio_server.requests] == [fresh(task).ai_response]
    assert [message.kind for message in outbox()] == ["reply"]
    assert quota.used(db.session.get(User, user.phone_number)) == 1


def test_workers_racing_for_one_task_let_exactly_one_claim_it(app):
    import threading

    task_id = make_task().id
    barrier = threading.Barrier(4)
    won = []

    def worker():
        with app.app_context():
            barrier.wait()
            won.append(pipeline.claim(task_id) is not None)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_the_model_is_told_not_to_ask_what_a_lone_stop_or_end_would_answer(
    app, openai_server, channel
):
    """Regression: "Which should I explain: the start or the end?" "End" unsubscribed the
    texter, as carriers and Twilio obey END whatever was asked; the model did not know that
    a one-word answer can be a command."""
    texter = make_user(channel=channel, last_whatsapp_at=utcnow())
    pipeline.answer(make_task(user=texter).id)
    prompt = openai_server.requests[0][2]["messages"][0]["content"]
    assert "only STOP, END, QUIT, CANCEL, HELP or INFO" in prompt and "unsubscribe" in prompt


@pytest.mark.parametrize("texter", ["known", "new"])
def test_a_run_whose_claim_went_stale_before_its_answer_was_stored_sends_no_second_answer(
    app, openai_server, texter
):
    """The worker stalls between the model's answer and its commit (stopped, starved, its
    host paused) for longer than STALE_TASK_SECONDS: the sweeper hands the task to a second
    run, which answers and texts the texter. The first run, going on, must not text a second
    answer over it (nor, to a new texter, a second program notice)."""
    from tests.second_run import run_again_meanwhile

    task_id = make_task(make_user(service_state={}) if texter == "new" else None).id
    runs = []

    def stalled_first_answer(method, path, body):
        if not runs:
            runs.append("first")
            runs.append(run_again_meanwhile(app, task_id))
            return 200, chat_completion("The first run's answer."), {}
        return 200, chat_completion("The second run's answer."), {}

    openai_server.default = stalled_first_answer
    first = pipeline.answer(task_id)

    assert runs == ["first", "answered"]
    assert first == "skipped"
    assert [message.body for message in outbox("reply")] == ["The second run's answer."]
    assert len(outbox()) == (2 if texter == "new" else 1)  # the program notice, once
    task = fresh(db.session.get(Task, task_id))
    assert (task.status, task.ai_response) == ("completed", "The second run's answer.")
    # Both model calls were paid for, so both stay in the spend.
    assert db.session.scalar(sa.select(sa.func.count(ModelCall.id))) == 2
