"""A second run of a task's job while the first is still at it: the first run's claim has
gone stale (its worker looked dead), the sweeper hands the task on, another worker runs it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import Task, utcnow
from sms_agent.ops.sweeper import claim_stranded
from sms_agent.vendors import openai as llm


def run_again_meanwhile(app, task_id) -> str:
    """The sweep and the second run, from inside the first (a stand-in's handler, say):
    returns what the second run did."""
    with app.app_context():
        long_ago = utcnow() - timedelta(seconds=app.config["STALE_TASK_SECONDS"] + 1)
        db.session.execute(sa.update(Task).values(lease_at=long_ago))
        assert claim_stranded() == [task_id]
        db.session.commit()
        outcome = pipeline.answer(task_id)
        db.session.remove()
    llm.forget_clients()  # the second run's client, made in this thread
    return outcome
