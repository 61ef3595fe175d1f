"""A texter's conversation as it happens, for the export's tests: a question answered end to
end through the model and SMS stand-ins (a priced model call, an estimated SMS), a refused
text, a staff message Twilio has priced, and rows of another texter that must stay out."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from sms_agent import handoff
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task, User, utcnow
from tests.factories import make_staff, make_task, make_user
from tests.standins import chat_completion

D = Decimal
MODEL_PRICES = {"standin-model": {"input": D("0.37"), "output": D("1.13")}}
#: What Twilio charged for the staff message (Twilio reports it negative; stored positive).
TWILIO_PRICE = D("0.007900")
#: (direction, author) of the texter's entries, oldest first.
ENTRIES = [("in", "texter"), ("model", None), ("out", "ai"), ("in", "texter"), ("out", "ann")]


@dataclass
class History:
    user: User
    answered: Task
    refused: Task


def conversation(app, openai_server, user: User | None = None) -> History:
    app.config["MODEL_PRICES"] = MODEL_PRICES
    user = user or make_user()
    answered = make_task(user, sms_content="What is the capital of France?")
    answered.created_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    openai_server.then(
        200, chat_completion("Paris.", tokens=777, completion_tokens=77, cached_tokens=512)
    )
    pipeline.answer(answered.id)
    refused = make_task(
        user, sms_content="=1+1 and more?", status="refused", refusal_reason="over_quota"
    )
    [message] = handoff.send_as_staff(user, "Hello from the team.", make_staff("ann"))
    message.price_usd, message.price_estimated = TWILIO_PRICE, False
    db.session.commit()
    other = make_user()
    make_task(other, sms_content="Someone else's question")
    db.session.add(OutboundMessage(to_number=other.phone_number, body="x", price_usd=D(1)))
    db.session.commit()
    return History(user, db.session.get(Task, answered.id), refused)


def ledger(phone: str) -> dict:
    """The texter's rows as stored, to compare the export with."""
    db.session.rollback()
    sent = db.session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.to_number == phone)
    ).all()
    calls = db.session.scalars(sa.select(ModelCall).where(ModelCall.user_phone == phone)).all()
    tasks = db.session.scalars(sa.select(Task).where(Task.user_phone == phone)).all()
    return {"sent": sent, "calls": calls, "tasks": tasks}


def read_csv(text: str) -> list[dict]:
    """The export's CSV as a program reads it (README, "Cost and limits"): each cell that
    starts with an apostrophe loses that one, which the export added for spreadsheets."""
    return [
        {name: cell[1:] if cell.startswith("'") else cell for name, cell in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]
