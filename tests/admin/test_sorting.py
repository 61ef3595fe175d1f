"""Lists page after page: every row once, whatever column staff sort by, and a page past
the end is the last page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task, User, utcnow
from tests.admin.conftest import csrf_for
from tests.factories import make_error, make_task, make_user

#: The smallest page size the list offers.
PAGE = 20
ROW_ID = re.compile(r'name="rowid" class="action-checkbox" value="([^"]+)"')


def ids_on(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return ROW_ID.findall(response.get_data(as_text=True))


def every_page(client, view: str, sort: int, desc: int, pages: int) -> list[str]:
    shown = []
    for page in range(pages):
        url = f"/admin/{view}/?sort={sort}&desc={desc}&page_size={PAGE}&page={page}"
        shown += ids_on(client, url)
    return shown


def sort_index(client, view: str, heading: str) -> int:
    """The ?sort= of the list's column headed `heading`, as its header's link says."""
    page = client.get(f"/admin/{view}/").get_data(as_text=True)
    link = re.search(r'href="[^"]*[?&]sort=(\d+)[^"]*"[^>]*>\s*' + re.escape(heading), page)
    assert link, f"{heading} is not sortable"
    return int(link.group(1))


@pytest.mark.parametrize("desc", [0, 1])
def test_users_sorted_by_a_column_many_share_are_each_listed_once(admin_client, desc):
    """Sorted by Tier (most texters are on free), PostgreSQL gave each page its own order
    among equals: paging through 120 texters showed 99, some twice, and a bulk action on a
    page acted on texters already done and missed others."""
    now = utcnow()
    rows = [
        {
            "phone_number": f"+1555{n:07d}",
            "tier": "premium" if n % 7 == 3 else "free",
            "rate_limit_reset": now,
            "created_at": now,
        }
        for n in range(120)
    ]
    db.session.execute(sa.insert(User), rows)
    db.session.commit()
    shown = every_page(admin_client, "user", sort_index(admin_client, "user", "Tier"), desc, 6)
    assert sorted(shown) == sorted(row["phone_number"] for row in rows)


def test_tasks_sorted_by_a_column_many_share_are_each_listed_once(admin_client):
    user = User(phone_number="+15550000001", tier="free")
    db.session.add(user)
    now = utcnow()
    db.session.add_all(
        Task(user=user, sms_content=f"question {n}", category="general", created_at=now)
        for n in range(100)
    )
    db.session.commit()
    everyone = {str(task_id) for task_id in db.session.scalars(sa.select(Task.id))}
    for heading in ("Category", "Created"):
        shown = every_page(admin_client, "task", sort_index(admin_client, "task", heading), 0, 5)
        assert sorted(shown) == sorted(everyone), heading


@pytest.mark.parametrize("heading", ["Spend this month (USD)", "Spend (USD)"])
def test_users_sort_by_what_they_cost(admin_client, heading):
    """Staff looking for the texters who cost most could not sort by spend."""
    last_year = utcnow().replace(year=utcnow().year - 1)
    costly, cheap, costly_once, free = (make_user() for _ in range(4))
    db.session.add_all(
        [
            OutboundMessage(to_number=costly.phone_number, body="a", price_usd=Decimal("0.5")),
            ModelCall(user_phone=cheap.phone_number, model="m", cost_usd=Decimal("0.01")),
            OutboundMessage(
                to_number=costly_once.phone_number,
                body="b",
                price_usd=Decimal("9"),
                created_at=last_year,
            ),
        ]
    )
    db.session.commit()
    sort = sort_index(admin_client, "user", heading)
    most_first = ids_on(admin_client, f"/admin/user/?sort={sort}&desc=1")
    if heading == "Spend (USD)":
        assert most_first[:3] == [u.phone_number for u in (costly_once, costly, cheap)]
        assert most_first == ids_on(admin_client, f"/admin/user/?sort={sort}")[::-1]
    else:
        assert most_first[:2] == [costly.phone_number, cheap.phone_number]
        assert set(most_first[2:]) == {costly_once.phone_number, free.phone_number}


def test_deleting_every_row_of_the_last_page_returns_to_the_new_last_page(admin_client):
    """The action went back to the page it ran on, now past the end: "There are no items in
    the table." under "List (20)", and staff took every error for gone."""
    errors = [make_error(error_message=f"error {n}") for n in range(25)]
    last_page = f"/admin/errorlog/?page=1&page_size={PAGE}"
    on_it = ids_on(admin_client, last_page)
    assert len(on_it) == 5
    form = {"action": "delete", "rowid": on_it, "url": last_page}
    form["csrf_token"] = csrf_for(admin_client, last_page)
    response = admin_client.post("/admin/errorlog/action/", data=form)
    assert response.location == last_page  # the action returns to the page it ran on
    response = admin_client.get(last_page)
    assert response.status_code == 302
    assert "page=0" in response.location or "page=" not in response.location
    shown = ids_on(admin_client, response.location)
    assert len(shown) == PAGE and set(shown) == {str(e.id) for e in errors} - set(on_it)


@pytest.mark.parametrize("view", ["user", "task", "errorlog", "outboundmessage"])
def test_a_page_past_the_end_shows_the_last_page(admin_client, view):
    texter = make_user()
    make_task(texter)
    make_error()
    db.session.add(OutboundMessage(to_number=texter.phone_number, body="Hi"))
    db.session.commit()
    response = admin_client.get(f"/admin/{view}/?page=7", follow_redirects=True)
    assert response.status_code == 200
    assert "There are no items in the table." not in response.get_data(as_text=True)


def test_users_sort_by_the_monthly_requests_the_list_shows(admin_client):
    """The column shows the running window's count (0 once a texter's month has ended),
    but sorted by the stored one: a texter whose 90 requests were last month's topped
    "most requests this month" while the list showed them 0."""
    now = utcnow()
    past = make_user(monthly_requests=90, rate_limit_reset=now - timedelta(days=2))
    busy = make_user(monthly_requests=40, rate_limit_reset=now + timedelta(days=9))
    quiet = make_user(monthly_requests=3, rate_limit_reset=now + timedelta(days=9))
    sort = sort_index(admin_client, "user", "Monthly requests")

    most_first = ids_on(admin_client, f"/admin/user/?sort={sort}&desc=1")
    fewest_first = ids_on(admin_client, f"/admin/user/?sort={sort}")

    assert most_first == [busy.phone_number, quiet.phone_number, past.phone_number]
    assert fewest_first == most_first[::-1]
    page = admin_client.get(f"/admin/user/?sort={sort}&desc=1").get_data(as_text=True)
    shown = re.findall(r'<td class="col-monthly_requests">\s*(\d+)\s*</td>', page)
    assert shown == ["40", "3", "0"]
