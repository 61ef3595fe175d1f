"""The lists' "With selected" menu: the bulk actions each list offers, in a safe order."""

from __future__ import annotations

import re

import pytest

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
