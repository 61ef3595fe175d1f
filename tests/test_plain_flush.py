"""The answer's commit written by statements built once (models/plain_flush.py): the same
rows as the ORM's flush, the objects left as a flush leaves them, the same metrics, and the
ORM's own flush for every other kind of change."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task, User
from sms_agent.models.plain_flush import flush_plainly
from sms_agent.models.sent_once import PartSentElsewhere, send_once
from sms_agent.outbound.send import new_message
from tests.factories import make_staff, make_task, make_user


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def answered(task: Task) -> tuple[OutboundMessage, ModelCall]:
    """What the pipeline has pending when it commits an answer's first part."""
    task.ai_response = "Paris."
    task.tokens_used = 30
    task.metadata_ = {**task.metadata_, "llm_seconds": 0.5, "sent": "Paris."}
    call = ModelCall(
        task_id=task.id,
        user_phone=task.user_phone,
        model="gpt-4o-mini",
        prompt_tokens=20,
        completion_tokens=10,
        cost_usd=Decimal("0.000009"),
    )
    db.session.add(call)
    message = new_message(task.user, "Paris.", kind="reply", part=1, parts=1, task=task)
    db.session.add(message)
    return message, call


def stored(table: sa.Table, key) -> dict:
    """The row as another connection reads it once committed."""
    with db.engine.connect() as connection:
        return dict(connection.execute(sa.select(table).where(table.c.id == key)).one()._mapping)


def test_the_answer_its_part_and_its_call_are_stored_as_the_flush_stores_them(app):
    task = make_task()
    message, call = answered(task)
    spend = metric("model_spend_usd_total", model="gpt-4o-mini")
    tokens = metric("ai_tokens_total")

    flush_plainly(db.session())
    db.session.commit()

    row = stored(Task.__table__, task.id)
    assert (row["ai_response"], row["tokens_used"]) == ("Paris.", 30)
    assert row["metadata"]["sent"] == "Paris." and row["updated_at"] > row["created_at"]
    part = stored(OutboundMessage.__table__, message.id)
    assert (part["task_id"], part["body"], part["status"], part["part"]) == (
        task.id,
        "Paris.",
        "queued",
        1,
    )
    assert part["price_checks"] == 0 and part["created_at"] is not None
    assert part["price_usd"] == message.price_usd and part["price_estimated"] is True
    model_call = stored(ModelCall.__table__, call.id)
    assert (model_call["task_id"], model_call["cost_usd"]) == (task.id, Decimal("0.000009"))
    # Counted as a flush of them is (ops/metrics.py).
    assert metric("model_spend_usd_total", model="gpt-4o-mini") == spend + 0.000009
    assert metric("ai_tokens_total") == tokens + 30


def test_the_rows_are_left_as_after_a_flush(app, count_queries):
    """Persistent, with nothing pending: the next commit writes nothing again, reading them
    reads nothing, and the task's parts, read later, include the new one."""
    task = make_task()
    message, call = answered(task)

    flush_plainly(db.session())

    session = db.session()
    assert not session.new and not session.dirty
    for obj in (task, message, call):
        state = sa.inspect(obj)
        assert state.persistent and not state.modified
    with count_queries() as counter:
        db.session.commit()
        db.session.flush()
    assert counter.statements == []
    assert message.task is task and message.staff_user is None
    assert message.price_checks == 0
    db.session.expire_all()
    assert [part.id for part in task.outbound_messages] == [message.id]
    assert db.session.get(ModelCall, call.id).task_id == task.id


def test_a_failed_send_afterwards_is_written_by_the_orm(app):
    """The part, persistent, takes later changes as any loaded row: Twilio's refusal."""
    task = make_task()
    message, _call = answered(task)
    flush_plainly(db.session())
    db.session.commit()

    message.status = "failed"
    message.error_code = 21610
    db.session.commit()

    part = stored(OutboundMessage.__table__, message.id)
    assert (part["status"], part["error_code"]) == ("failed", 21610)


def test_other_changes_are_left_to_the_orms_flush(app):
    """A texter's change pending beside the part: the ORM writes all of it, in its order."""
    user = make_user()
    task = make_task(user)
    message, _call = answered(task)
    user.full_name = "Ada"

    flush_plainly(db.session())
    db.session.commit()

    with db.engine.connect() as connection:
        name = connection.scalar(
            sa.select(User.full_name).where(User.phone_number == user.phone_number)
        )
    assert name == "Ada"
    assert stored(OutboundMessage.__table__, message.id)["body"] == "Paris."
    assert stored(Task.__table__, task.id)["ai_response"] == "Paris."


def test_a_rollback_after_them_leaves_the_new_rows_unstored_as_after_a_flush(app):
    """A commit that fails (the database dropped the connection) leaves the new rows
    transient, so the paid model call can be stored again (costs.keep_paid_calls), and the
    task as it is stored."""
    task = make_task()
    message, call = answered(task)

    flush_plainly(db.session())
    db.session.rollback()

    assert sa.inspect(call).transient and sa.inspect(message).transient
    assert call.cost_usd == Decimal("0.000009")  # what keep_paid_calls stores again
    with db.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0
        assert connection.scalar(sa.select(sa.func.count()).select_from(ModelCall)) == 0
    assert db.session.get(Task, task.id).ai_response is None


def test_a_part_written_by_staff_names_them_though_their_row_was_expired(app):
    """The staff member's row was read before a commit (expired since): the part still
    stores who wrote it, from the row's key, without reading the row again."""
    staff = make_staff()
    task = make_task()
    message = new_message(task.user, "On it.", kind="staff", part=1, parts=1, staff_user=staff)
    db.session.add(message)
    assert "id" not in sa.inspect(staff).dict

    flush_plainly(db.session())
    db.session.commit()

    assert stored(OutboundMessage.__table__, message.id)["staff_user_id"] == staff.id


def test_a_part_another_run_stored_first_is_not_stored_again_by_either_flush(app):
    """An answer's part marked once (models/sent_once.py) is written by neither the plain
    statements nor the ORM's flush (a texter's change alongside) where the task has it."""
    task = make_task(ai_response="Paris.")
    db.session.add(new_message(task.user, "Paris.", kind="reply", part=1, parts=1, task=task))
    db.session.commit()
    for with_a_texters_change in (False, True):
        again = new_message(task.user, "Paris.", kind="reply", part=1, parts=1, task=task)
        send_once(again)
        db.session.add(again)
        if with_a_texters_change:
            task.user.full_name = "Ada"
        with pytest.raises(PartSentElsewhere):
            flush_plainly(db.session())
        db.session.rollback()
    assert len(db.session.scalars(sa.select(OutboundMessage)).all()) == 1
