"""On PostgreSQL an error log's count is taken when its transaction commits, after what the
transaction wrote before it (at_commit.py): one counter row for the whole table, which every
transaction that logs an error takes. A transaction that took it before its ledger rows met
one that took it after them, and PostgreSQL aborted one of the two."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import outbound
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ErrorLog
from sms_agent.models.row_counts import RowCount
from tests.factories import make_task
from tests.lock_waits import in_app_thread, waiting_for_locks
from tests.standins import twilio_error
from tests.test_undelivered import SID, sent_reply


def test_a_failed_send_and_a_failed_delivery_report_commit_at_once_without_a_deadlock(
    app, twilio_server
):
    """A report of a message that failed moves its price to 0 (the day's spend row), then
    logs the error (the error logs' counter row). An answer whose send Twilio refuses did the
    same two the other way round: the flush wrote the error log before the message. A third
    transaction holding the counter row makes both commits meet, every time; PostgreSQL
    then failed one (the answer's lost its failed SMS and its error, the report was a 500)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    reported = sent_reply()
    refused = make_task()
    reported_id, refused_id = reported.id, refused.id
    db.session.add(RowCount(table_name="error_logs", rows=0))  # as migration 0024 counts
    db.session.commit()
    twilio_server.then(400, twilio_error(400, 21211, "The 'To' number is not valid"))
    db.session.remove()
    results: dict = {}

    def report_the_failure():
        outbound.record_delivery_status(SID, "failed", "30007", str(reported_id))
        db.session.commit()

    def answer_with_a_refused_reply():
        return pipeline.answer(refused_id)

    with db.engine.connect() as holder:
        holder.execute(
            sa.text("SELECT 1 FROM row_counts WHERE table_name = 'error_logs' FOR UPDATE")
        )
        answerer = in_app_thread(app, answer_with_a_refused_reply, results, "answer")
        answerer.start()
        waiting_for_locks(1)  # the refused answer's commit waits for the error logs' count
        reporter = in_app_thread(app, report_the_failure, results, "report")
        reporter.start()
        waiting_for_locks(2)  # the report's too, at the first row of the two it reached
        holder.rollback()
        answerer.join(30)
        reporter.join(30)
    assert results["report"] is None, results["report"]
    assert isinstance(results["answer"], str), results["answer"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ErrorLog)) == 2
    assert db.session.get(RowCount, "error_logs").rows == 2
