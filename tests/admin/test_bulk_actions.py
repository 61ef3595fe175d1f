"""The lists' "With selected" menu: the bulk actions each list offers, in a safe order."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import StaffUser
from tests.admin.conftest import post_action
from tests.factories import make_user

_ACTION = re.compile(r"modelActions\.execute\('(\w+)'\)")


@pytest.mark.parametrize(
    "url", ["/admin/user/", "/admin/task/", "/admin/errorlog/", "/admin/staffuser/"]
)
def test_delete_comes_last_in_the_with_selected_menu(admin_client, url):
    """Regression: the menu listed its actions by their method's name, so Delete came
    first, above Reset monthly requests or Mark as resolved, one slip of the mouse away
    from what staff meant to click."""
    page = admin_client.get(url).get_data(as_text=True)
    actions = _ACTION.findall(page)
    assert actions[-1] == "delete", actions


_ALERT = re.compile(r"&times;</button>(.*?)</div>", re.S)


def _alerts(page: str) -> list[str]:
    """The flashed messages on the page, as staff read them."""
    return [" ".join(alert.split()) for alert in _ALERT.findall(page)]


def test_a_refused_delete_is_told_without_a_success_beside_it(admin_client):
    """Regression: deleting the only admin was refused in red, and beside it, in green,
    "0 records were successfully deleted." told staff something had worked."""
    boss = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == "boss"))
    page = post_action(admin_client, "/admin/staffuser/", "delete", [str(boss.id)])
    assert _alerts(page.get_data(as_text=True)) == [
        "boss is the only active admin: make another staff member an admin first."
    ]


def test_deleting_rows_deleted_meanwhile_says_they_were_gone(admin_client):
    """A second click on Delete (or another admin) finds the rows gone: nothing is claimed."""
    ids = [make_user().phone_number for _ in range(2)]
    assert "2 records were" in post_action(admin_client, "/admin/user/", "delete", ids).get_data(
        as_text=True
    )
    page = post_action(admin_client, "/admin/user/", "delete", ids).get_data(as_text=True)
    assert _alerts(page) == ["Nothing was deleted: the selected records were gone already."]


@pytest.mark.parametrize(
    ("url", "action", "gone"),
    [
        ("/admin/user/", "reset_monthly_requests", "+15550109998"),
        ("/admin/user/", "upgrade_to_premium", "+15550109998"),
        ("/admin/user/", "downgrade_to_free", "+15550109998"),
        ("/admin/user/", "export_conversations", "+15550109998"),
        ("/admin/errorlog/", "mark_resolved", "999999"),
        ("/admin/errorlog/", "mark_unresolved", "999999"),
        ("/admin/apitoken/", "revoke", "999999"),
    ],
)
def test_an_action_on_rows_deleted_meanwhile_says_they_were_gone(admin_client, url, action, gone):
    """Regression: an action on rows another admin (or the API) had deleted since the list
    was shown said, in green, "Reset monthly requests for 0 users." or "Revoked 0 tokens.",
    as if something had been done; it now says what Delete says of them."""
    page = post_action(admin_client, url, action, [gone]).get_data(as_text=True)

    assert _alerts(page) == ["Nothing was done: the selected records were gone already."]


@pytest.mark.parametrize("action", ["reset_monthly_requests", "export_conversations", "delete"])
def test_an_action_on_no_rows_says_none_was_selected(admin_client, action):
    """An action posted with no row ticked (the page's script stops that, a form resent or
    a page without scripts does not) said "the selected records were gone already", of
    records nobody selected (found probing the running app)."""
    make_user()
    page = post_action(admin_client, "/admin/user/", action, []).get_data(as_text=True)
    done = "deleted" if action == "delete" else "done"
    assert _alerts(page) == [f"Nothing was {done}: no records were selected."]
