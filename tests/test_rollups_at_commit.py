"""On PostgreSQL a rollup's bucket is locked only while a transaction commits.

Every webhook of the day adds to the same task bucket, every model call to the same spend
row. Locked from a transaction's first write, they made each writer wait for every other
writer's whole transaction; under a burst of webhooks 30 of a worker's 32 connections
waited there (`make bench-e2e`). The counts stay exact.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from sms_agent.extensions import db
from sms_agent.models import ModelCall, Task, TaskRollup
from sms_agent.models.spend_rollups import SpendDaily
from tests.factories import make_user
from tests.test_rollups import _assert_rollups_match_a_recount
from tests.test_spend_rollups import _task_costs_match_the_ledgers


def _a_question_and_its_model_call(session: Session, phone: str) -> None:
    task = Task(user_phone=phone, sms_content="hi", status="queued", category="general")
    session.add(task)
    session.flush()
    session.add(ModelCall(task_id=task.id, user_phone=phone, model="m", cost_usd=Decimal("0.002")))
    session.flush()


def test_a_writer_waits_for_no_other_writers_open_transaction(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    first_texter, second_texter = make_user().phone_number, make_user().phone_number
    db.session.commit()
    with db.engine.connect() as first, db.engine.connect() as second:
        first_session, second_session = Session(bind=first), Session(bind=second)
        _a_question_and_its_model_call(first_session, first_texter)
        # The same day's queued bucket, hour and spend row, while the first is still open.
        second.exec_driver_sql("SET lock_timeout = '2s'")
        _a_question_and_its_model_call(second_session, second_texter)
        second_session.commit()
        second.commit()  # the session joined the transaction SET began: the connection ends it
        first_session.commit()
    _assert_rollups_match_a_recount()
    _task_costs_match_the_ledgers()
    assert db.session.scalar(sa.select(sa.func.sum(TaskRollup.tasks))) == 2
    assert db.session.scalar(sa.select(sa.func.sum(SpendDaily.model_micro))) == 4000


def test_rollups_are_written_when_their_transaction_commits(app):
    """Only the writing transaction itself sees its rollups late: nothing reads them there."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs its triggers at the write")
    phone = make_user().phone_number
    db.session.commit()
    _a_question_and_its_model_call(db.session, phone)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskRollup)) == 0
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.sum(TaskRollup.tasks))) == 1
    _task_costs_match_the_ledgers()
