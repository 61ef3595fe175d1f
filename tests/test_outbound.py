"""Sending: the one entry point every SMS the service sends goes through."""

from __future__ import annotations

import pytest

from sms_agent import outbound
from sms_agent.extensions import db
from sms_agent.models import utcnow
from tests.factories import make_user
from tests.test_pipeline import outbox


def test_send_refuses_an_opted_out_user_and_stores_nothing(app):
    user = make_user(opted_out_at=utcnow())
    with pytest.raises(outbound.OptedOut):
        outbound.send(user, "hello", kind="api")
    assert outbox() == []


def test_send_records_encoding_and_segments(app):
    user = make_user()
    [message] = outbound.send(user, "Γειά σου " * 10, kind="api")
    db.session.commit()
    assert (message.encoding, message.segments, message.status) == ("UCS-2", 2, "sent")
