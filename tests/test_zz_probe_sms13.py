"""Temporary probe (not committed)."""

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, Task, User
from tests.factories import ESTABLISHED, make_user
from tests.standins import inbound_form
from tests.test_notices import text_in

SEQS = [
    ["STOP", "HELP"],
    ["STOP", "What is DNS?"],
    ["STOP", "Start 👍"],
    ["STOP", "start!"],
    ["STOP", "YES"],
    ["STOP", "yes."],
    ["STOP", "UNSTOP"],
    ["STOP", "RESET"],
    ["STOP", "USAGE"],
    ["STOP", "AGENT"],
    ["STOP", "MORE"],
    ["STOP", "AIDE"],
    ["STOP", ""],
    ["STOP", "😀"],
    ["AGENT", "STOP"],
    ["AGENT", "HELP"],
    ["AGENT", "What is DNS?"],
    ["AGENT", "RESET"],
    ["AGENT", "USAGE"],
    ["AGENT", "MORE"],
    ["AGENT", "AGENT"],
    ["AGENT", ""],
    ["What is DNS?", "RESET", "MORE"],
    ["What is DNS?", "USAGE"],
]


@pytest.mark.parametrize("seq", SEQS, ids=lambda s: "|".join(s))
def test_probe(app, client, seq):
    make_user("+15551230000", service_state=dict(ESTABLISHED))
    for body in seq:
        text_in(client, body)
    sent = db.session.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.created_at)).all()
    tasks = db.session.scalars(sa.select(Task)).all()
    user = db.session.get(User, "+15551230000")
    print(
        "\nPROBE",
        seq,
        "out=",
        user.opted_out_at is not None,
        user.conversation_state,
        "tasks=",
        [(t.sms_content[:10], t.status, t.refusal_reason) for t in tasks],
        "sent=",
        [(m.kind, m.body[:50]) for m in sent],
    )


def test_same_sid_twice_different_bodies(app, client):
    make_user("+15551230000", service_state=dict(ESTABLISHED))
    form = inbound_form("What is DNS?")
    text_in(client, "x", **form)
    text_in(client, "x", **form)
    form2 = dict(form, Body="STOP")
    text_in(client, "x", **form2)
    sent = db.session.scalars(sa.select(OutboundMessage)).all()
    user = db.session.get(User, "+15551230000")
    print("\nPROBE sid", user.opted_out_at, [(m.kind, m.body[:40]) for m in sent])
