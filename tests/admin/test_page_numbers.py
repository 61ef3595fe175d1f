"""Page numbers and ids in the admin's addresses are read as written: digits 0-9 alone.
Python's int() reads "1_0" as 10, " 2" as 2 and a fullwidth "２" or Arabic-Indic "٢" as 2,
so a mistyped or pasted address named another page or another record."""

from __future__ import annotations

import re

import pytest

from tests.admin.conftest import staff_account
from tests.factories import make_error, make_user

ROW_ID = re.compile(r'name="rowid" class="action-checkbox" value="([^"]+)"')
LENIENT = ["1_0", " 1", "1 ", "\uff11", "\u0661", "+1"]


def rows_on(client, url: str) -> list[str]:
    response = client.get(url, follow_redirects=True)
    assert response.status_code == 200
    return ROW_ID.findall(response.get_data(as_text=True))


@pytest.mark.parametrize("written", LENIENT)
def test_a_list_page_number_not_written_in_plain_digits_shows_the_first_page(admin_client, written):
    for n in range(25):
        make_error(error_message=f"error {n}")
    first = rows_on(admin_client, "/admin/errorlog/?page_size=20")
    assert rows_on(admin_client, f"/admin/errorlog/?page_size=20&page={written}") == first


@pytest.mark.parametrize("written", ["2_0", "\uff12\uff10", " 20"])
def test_a_page_size_not_written_in_plain_digits_is_the_default(admin_client, written):
    for n in range(25):
        make_error(error_message=f"error {n}")
    assert len(rows_on(admin_client, f"/admin/errorlog/?page_size={written}")) == 25


@pytest.mark.parametrize("written", ["1_0", "\uff11\uff10", " 10"])
def test_a_record_id_not_written_in_plain_digits_names_no_record(admin_client, written):
    for n in range(10):
        staff_account(f"clerk{n}", is_admin=False)
    assert admin_client.get("/admin/staffuser/details/?id=10").status_code == 200
    response = admin_client.get("/admin/staffuser/details/", query_string={"id": written})
    assert response.status_code == 302  # "Record does not exist.", back to the list


@pytest.mark.parametrize("written", ["1_0", "\uff12", " 2"])
def test_an_inbox_page_number_not_written_in_plain_digits_shows_the_first_page(
    admin_client, written
):
    for n in range(60):
        make_user(f"+1555010{n:04d}")
    page = admin_client.get(f"/admin/inbox/?page={written}").get_data(as_text=True)
    assert "Page 1 of 2" in page
