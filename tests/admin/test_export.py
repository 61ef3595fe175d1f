"""The users list's "Export conversations" action: a CSV of the selected texters'
conversations with their costs, the same rows the API and the CLI export."""

from __future__ import annotations

import pytest

from sms_agent import costs
from sms_agent.export import COLUMNS
from tests.admin.conftest import csrf_for
from tests.export_data import conversation, read_csv
from tests.factories import make_task, make_user

LIST = "/admin/user/"


def export_action(client, phones: list[str]):
    """Post the action as the list page's form would; the answer is the download itself."""
    token = csrf_for(client, LIST)
    data = {"action": "export_conversations", "rowid": phones, "csrf_token": token, "url": LIST}
    return client.post(LIST + "action/", data=data)


@pytest.fixture
def history(app, openai_server):
    return conversation(app, openai_server)


def test_the_action_is_offered_on_the_users_list(admin_client):
    page = admin_client.get(LIST).get_data(as_text=True)
    assert "export_conversations" in page and "Export conversations" in page


def test_export_conversations_answers_a_csv_of_the_selected_texters(admin_client, history):
    chosen = make_user()
    make_task(chosen, sms_content="Chosen one's question")
    left_out = make_user()
    make_task(left_out, sms_content="Not exported")
    phones = [history.user.phone_number, chosen.phone_number]
    response = export_action(admin_client, phones)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="conversations-')
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = read_csv(text)
    assert {row["phone_number"] for row in rows} == set(phones)
    assert "Not exported" not in text
    totals = {row["phone_number"]: row for row in rows if row["direction"] == "total"}
    for phone in phones:
        assert totals[phone]["cost_usd"] == str(costs.report.spent_by(phone))
    history_rows = [row for row in rows if row["phone_number"] == history.user.phone_number]
    assert [row["direction"] for row in history_rows] == [
        "in",
        "model",
        "out",
        "in",
        "out",
        "total",
    ]
    assert history_rows[3]["refusal_reason"] == "over_quota"


def test_a_selected_texter_without_messages_gets_a_zero_total_row(admin_client):
    quiet = make_user()
    rows = read_csv(export_action(admin_client, [quiet.phone_number]).text)
    assert [(row["direction"], row["cost_usd"]) for row in rows] == [("total", "0.000000")]


def test_read_only_staff_cannot_run_the_action(staff_client):
    user = make_user()
    response = export_action(staff_client, [user.phone_number])
    assert response.status_code == 403
    assert "text/csv" not in response.headers["Content-Type"]
