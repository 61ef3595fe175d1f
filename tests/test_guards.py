"""Nothing a texter, a REST client or a staff member sends can reach the database as text it
cannot hold: NUL characters (PostgreSQL refuses them) get a clear 400, or, in an SMS body,
become U+FFFD so the message is still stored and answered."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import Task
from tests.standins import inbound_form, signed_post


def test_an_sms_body_with_a_nul_is_stored_with_a_replacement_character(app, client):
    response = signed_post(client, "/sms/inbound", inbound_form("what is a\x00b?"))
    assert response.status_code == 200
    assert db.session.scalar(sa.select(Task.sms_content)) == "what is a\ufffdb?"


@pytest.mark.parametrize("sid", ["SM\x00abc", "SM abc", "SM/../x", "S", "SM" + "a" * 63])
def test_a_malformed_message_sid_is_refused_and_nothing_stored(client, sid):
    response = signed_post(client, "/sms/inbound", inbound_form("hi", MessageSid=sid))
    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0


def test_a_status_callback_with_a_malformed_sid_is_refused(client):
    form = {"MessageSid": "SM\x00x", "MessageStatus": "delivered"}
    assert signed_post(client, "/sms/status", form).status_code == 400
