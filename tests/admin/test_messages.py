"""The outbox page: every SMS we sent, read-only, with filters and search."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, utcnow
from tests.factories import make_task, make_user


def outbound(to: str, body: str, **fields) -> OutboundMessage:
    message = OutboundMessage(to_number=to, body=body, **fields)
    db.session.add(message)
    db.session.commit()
    return message


@pytest.fixture
def outbox():
    ann, bob = make_user("+15550100081"), make_user("+15550100082")
    task = make_task(user=ann)
    outbound(
        ann.phone_number,
        "Paris is the capital.",
        task=task,
        sid="SM" + "a" * 32,
        status="delivered",
        segments=1,
        encoding="GSM-7",
    )
    outbound(
        bob.phone_number,
        "Désolé, réessayez 🙏",
        kind="apology",
        status="failed",
        error_code=30006,
        segments=2,
        encoding="UCS-2",
        created_at=utcnow() - timedelta(days=3),
    )
    return task


def listing(client, query: str = "") -> str:
    response = client.get("/admin/outboundmessage/?" + query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_outbox_columns(admin_client, outbox):
    page = listing(admin_client)
    for text in ["Paris is the capital.", "delivered", "30006", "UCS-2", "SM" + "a" * 32]:
        assert text in page
    assert f'href="/admin/task/details/?id={outbox.id}"' in page
    assert 'href="/admin/user/details/?id=%2B15550100081"' in page


@pytest.mark.parametrize(
    ("query", "found", "missing"),
    [
        ("flt0_status_equals=failed", "Désolé", "Paris"),
        ("flt0_encoding_equals=GSM-7", "Paris", "Désolé"),
        ("flt0_kind_equals=apology", "Désolé", "Paris"),
        ("flt0_sent_smaller_than={day_ago}", "Désolé", "Paris"),
        ("search=capital", "Paris", "Désolé"),
        ("search=0100082", "Désolé", "Paris"),
    ],
)
def test_outbox_filters_and_search(admin_client, outbox, query, found, missing):
    day_ago = quote((utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"))
    page = listing(admin_client, query.format(day_ago=day_ago))
    assert found in page and missing not in page


def test_outbox_is_read_only_even_for_admins(admin_client, outbox):
    page = listing(admin_client)
    assert "/admin/outboundmessage/new/" not in page
    assert "/admin/outboundmessage/edit/" not in page
    assert "With selected" not in page
    message = db.session.query(OutboundMessage).first()
    assert admin_client.get(f"/admin/outboundmessage/edit/?id={message.id}").status_code == 302
    details = admin_client.get(f"/admin/outboundmessage/details/?id={message.id}")
    assert details.status_code == 200


def test_read_only_staff_can_read_the_outbox(staff_client, outbox):
    assert "Paris is the capital." in listing(staff_client)


def test_the_whole_outboxs_count_is_kept_not_counted_and_a_filtered_one_counted(
    admin_client, outbox, count_queries
):
    """At millions of SMS a COUNT over the table on every visit made the page slow; the
    count kept with the spend rollups is exact through inserts, deletions and a texter's
    deletion (their SMS stay, detached)."""
    model_call_free = outbound("+15550100083", "A notice", kind="usage")
    with count_queries() as queries:
        assert "List (3)" in listing(admin_client)
    counted = [sql for sql in queries.statements if "count(" in sql.lower()]
    assert not [sql for sql in counted if "FROM outbound_messages" in sql]
    db.session.delete(model_call_free)
    db.session.delete(outbox.user)
    db.session.commit()
    assert "List (2)" in listing(admin_client)
    assert "List (1)" in listing(admin_client, "flt0_status_equals=failed")
    assert "List (1)" in listing(admin_client, "search=" + quote("Désolé"))
