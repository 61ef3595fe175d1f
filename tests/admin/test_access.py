"""Read-only staff may look at everything but change nothing; every form needs CSRF."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import g

from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, User
from tests.admin.conftest import (
    PASSWORD,
    csrf_for,
    form_as_shown,
    log_in,
    post_action,
    staff_account,
)
from tests.factories import make_user

READABLE = [
    "/admin/",
    "/admin/user/",
    "/admin/task/",
    "/admin/errorlog/",
    "/admin/outboundmessage/",
]
ADMIN_ONLY = ["/admin/staffuser/", "/admin/apitoken/", "/admin/apitoken/new/"]


@pytest.mark.parametrize("url", READABLE)
def test_read_only_staff_can_read(staff_client, url):
    assert staff_client.get(url).status_code == 200


@pytest.mark.parametrize("page", ["-1", "99999999999999999999"])
@pytest.mark.parametrize("url", [*READABLE[1:], "/admin/staffuser/", "/admin/apitoken/"])
def test_a_list_page_number_out_of_range_shows_the_list_not_an_error(admin_client, url, page):
    make_user(phone_number="+15550009876")
    response = admin_client.get(f"{url}?page={page}", follow_redirects=True)
    assert response.status_code == 200
    if url == "/admin/user/":
        # The first page, or (past the end) the last page, which is the first here.
        assert "+15550009876" in response.get_data(as_text=True)


@pytest.mark.parametrize("number", ["2147483648", "99999999999999999999", "-1"])
@pytest.mark.parametrize(
    "url",
    ["/admin/staffuser/details/", "/admin/staffuser/edit/", "/admin/apitoken/details/"],
)
def test_a_record_number_no_account_or_token_can_have_is_no_such_record(admin_client, url, number):
    """A link's id edited by hand, or pasted cut into a longer number: "Record does not
    exist", as for any id nobody has, not a server error."""
    response = admin_client.get(f"{url}?id={number}", follow_redirects=True)
    assert response.status_code == 200
    assert "Record does not exist." in response.get_data(as_text=True)


@pytest.mark.parametrize("number", ["2147483648", "99999999999999999999"])
def test_an_action_on_a_record_number_nobody_can_have_changes_nothing(admin_client, number):
    response = post_action(admin_client, "/admin/apitoken/", "revoke", [number])
    assert response.status_code == 200


@pytest.mark.parametrize("url", ADMIN_ONLY)
def test_read_only_staff_cannot_open_admin_only_pages(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 403
    assert "for admin staff only" in response.get_data(as_text=True)


def test_read_only_staff_see_no_create_edit_or_actions(staff_client):
    make_user(full_name="Ann")
    page = staff_client.get("/admin/user/").get_data(as_text=True)
    assert "Ann" in page
    assert "/admin/user/new/" not in page
    assert "/admin/user/edit/" not in page
    assert "Reset monthly requests" not in page
    assert "Staff users" not in page  # the admin-only menu entries are hidden


def test_read_only_staff_post_is_refused_with_403(staff_client):
    user = make_user(monthly_requests=9)
    response = post_action(
        staff_client, "/admin/user/", "reset_monthly_requests", [user.phone_number]
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).monthly_requests == 9


def test_read_only_staff_cannot_edit_through_a_hand_made_post(staff_client):
    user = make_user(full_name="Ann")
    token = csrf_for(staff_client, "/admin/user/")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    response = staff_client.post(url, data={"full_name": "Mallory", "csrf_token": token})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).full_name == "Ann"


def test_read_only_staff_cannot_open_the_edit_page(staff_client):
    user = make_user()
    response = staff_client.get(f"/admin/user/edit/?id={quote(user.phone_number)}")
    assert response.status_code == 302  # Flask-Admin sends them back to the list


def test_action_without_csrf_token_is_rejected(admin_client):
    user = make_user(monthly_requests=9)
    data = {"action": "reset_monthly_requests", "rowid": [user.phone_number]}
    response = admin_client.post("/admin/user/action/", data=data)
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).monthly_requests == 9


def test_action_with_a_forged_csrf_token_is_rejected(admin_client):
    user = make_user(monthly_requests=9)
    data = {"action": "reset_monthly_requests", "rowid": [user.phone_number], "csrf_token": "x"}
    assert admin_client.post("/admin/user/action/", data=data).status_code == 400


def test_edit_without_csrf_token_is_rejected(admin_client):
    user = make_user(full_name="Ann")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    assert admin_client.post(url, data={"full_name": "Mallory"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).full_name == "Ann"


def test_delete_without_csrf_token_is_rejected(admin_client):
    user = make_user()
    response = admin_client.post("/admin/user/delete/", data={"id": user.phone_number})
    assert response.status_code == 400
    assert db.session.get(User, user.phone_number) is not None


def test_every_admin_form_carries_a_csrf_token(admin_client):
    user = make_user()
    for url in [
        "/admin/user/",
        "/admin/user/new/",
        f"/admin/user/edit/?id={quote(user.phone_number)}",
    ]:
        assert csrf_for(admin_client, url)


def test_branding(admin_client):
    page = admin_client.get("/admin/user/").get_data(as_text=True)
    assert "<title>Users | SMS-to-AI Agent Admin</title>" in page
    assert "SMS-to-AI Agent Administration" in page


@pytest.mark.parametrize(
    "url",
    [
        "/admin/user/?search=%00",
        "/admin/task/?search=%00",
        "/admin/errorlog/?search=%00",
        "/admin/outboundmessage/?search=%00",
        "/admin/user/?flt1_0=%00",
    ],
)
def test_admin_searches_and_filters_with_a_nul_are_refused(admin_client, url):
    assert admin_client.get(url).status_code == 400


def test_an_admin_form_with_a_nul_is_refused_and_the_row_kept(admin_client):
    """Refused beside the field, the form shown again (it was a bare 400 page)."""
    user = make_user(phone_number="+15550009876", full_name="Ada")
    db.session.commit()
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    data = {"full_name": "Ad\x00a", "tier": "free", "csrf_token": csrf_for(admin_client, url)}
    response = admin_client.post(url, data=data)
    assert "held a NUL character" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(User, "+15550009876").full_name == "Ada"


@pytest.mark.parametrize("who", ["admin", "nobody logged in"])
def test_a_form_too_large_to_take_gets_the_admins_own_page_with_the_limit(app, client, who):
    if who == "admin":
        staff_account("boss", is_admin=True)
        assert log_in(client, "boss").status_code == 302
        url, fields = "/admin/user/new/", {"phone_number": "+15550009877"}
    else:
        url, fields = "/admin/auth/login/", {"username": "boss", "password": "x"}
    data = {"csrf_token": csrf_for(client, url), **fields, "full_name": "x" * 70_000}
    response = client.post(url, data=data)
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<title>Too large | SMS-to-AI Agent Admin</title>" in page  # the admin's layout
    assert "SMS-to-AI Agent Administration" in page
    limit = f"{app.config['MAX_CONTENT_LENGTH']:,} bytes"
    assert "too large" in page and limit in page and "Nothing was saved" in page
    assert db.session.get(User, "+15550009877") is None


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/inbox/",
        "/admin/user/",
        "/admin/user/conversation/?id=%2B15550100777",
        "/admin/user/conversation/messages/?id=%2B15550100777",
        "/admin/task/",
    ],
)
def test_pages_shown_to_staff_are_kept_by_no_cache(staff_client, url):
    """Regression: staff's pages (texters' numbers and messages) came with no Cache-Control,
    so a browser or proxy could keep them, to be shown from its cache after logging out on
    a shared computer; the API's answers and exports already said no-store."""
    make_user("+15550100777")
    response = staff_client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_the_admins_own_files_stay_cacheable(staff_client):
    response = staff_client.get("/admin-assets/admin.css")
    response.close()
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_a_save_posted_after_logging_out_says_on_the_login_page_it_was_not_saved(admin_client):
    """Regression: staff logged out in another tab (or their session ended), then pressed
    Save on an Edit page: they got the login page, then the Edit page as it was before, and
    nothing said that their change had been dropped."""
    from tests.admin.conftest import form_as_shown
    from tests.factories import make_task

    task = make_task()
    url = f"/admin/task/edit/?id={task.id}"
    form = {**form_as_shown(admin_client, url), "category": "coding"}
    admin_client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(admin_client, url)})

    response = admin_client.post(url, data=form, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'name="password"' in page
    assert "Not saved: you were logged out" in page
    # A poll or a measure the page posts by itself says nothing.
    admin_client.post(url, data=form, headers={"Sec-Fetch-Mode": "cors"})
    assert "Not saved" not in admin_client.get("/admin/auth/login/").get_data(as_text=True)


def test_logging_in_after_a_reply_posted_logged_out_returns_to_the_conversation(admin_client):
    """Regression: a reply sent after logging out in another tab took staff to the login
    page, which then sent them on to the Send button's own address: a bare "Method Not
    Allowed" instead of the conversation they were writing in (and so for any action)."""
    make_user("+15550100777")
    page = "/admin/user/conversation/?id=%2B15550100777"
    form = form_as_shown(admin_client, page)
    admin_client.post("/admin/auth/logout/", data={"csrf_token": form["csrf_token"]})

    response = admin_client.post(
        "/admin/user/conversation/send/?id=%2B15550100777",
        data={**form, "message": "Still there?"},
        headers={"Referer": "http://localhost" + page},
    )
    login = response.headers["Location"]
    fields = {**form_as_shown(admin_client, login), "username": "boss", "password": PASSWORD}
    response = admin_client.post(login, data=fields, follow_redirects=True)
    assert response.status_code == 200
    assert response.request.full_path == page


def test_a_reply_from_a_page_opened_before_logging_in_again_says_it_was_not_sent(admin_client):
    """Regression: logged out in another tab and back in, staff pressed Send on the page
    still open in this one: its form's CSRF token was of the session before, and the
    answer was a bare "Bad Request: The CSRF tokens do not match." outside the admin."""
    make_user("+15550100777")
    page = "/admin/user/conversation/?id=%2B15550100777"
    form = form_as_shown(admin_client, page)
    admin_client.post("/admin/auth/logout/", data={"csrf_token": form["csrf_token"]})
    log_in(admin_client, "boss")
    admin_client.get("/admin/")  # where the login lands, in the other tab

    response = admin_client.post(
        "/admin/user/conversation/send/?id=%2B15550100777",
        data={**form, "message": "Still there?"},
        headers={"Referer": "http://localhost" + page},
        follow_redirects=True,
    )
    assert response.request.full_path == page
    text = response.get_data(as_text=True)
    assert "Not done: this page was opened before you last logged in" in text
    assert db.session.scalars(sa.select(OutboundMessage.body)).all() == []


@pytest.mark.parametrize("referrer", ["//evil.example/x", "/\\evil.example/x", "/\t/evil.example"])
def test_a_stale_form_never_sends_staff_off_the_site_whatever_its_referrer(admin_client, referrer):
    """Hardening (attack10's finding): the page a stale form returns to was the Referer's
    path as sent, so a Referer of http://localhost//evil.example redirected staff to
    //evil.example, another site. It goes to the admin's home instead."""
    make_user("+15550100777")
    form = form_as_shown(admin_client, "/admin/user/conversation/?id=%2B15550100777")
    admin_client.post("/admin/auth/logout/", data={"csrf_token": form["csrf_token"]})
    log_in(admin_client, "boss")
    admin_client.get("/admin/")

    response = admin_client.post(
        "/admin/user/conversation/send/?id=%2B15550100777",
        data={**form, "message": "Still there?"},
        headers={"Referer": "http://localhost/" + referrer.removeprefix("/")},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_a_form_posted_without_its_session_cookie_goes_to_the_login_page_saying_so(
    admin_client,
):
    """The session cookie gone (the browser cleared it, a new SECRET_KEY): the post had no
    CSRF secret to match, and was a bare "Bad Request" page."""
    make_user("+15550100777")
    page = "/admin/user/conversation/?id=%2B15550100777"
    form = form_as_shown(admin_client, page)
    admin_client.delete_cookie("session")
    g.pop("_login_user", None)  # the test's requests share its `g`, where Flask-Login keeps it

    response = admin_client.post(
        "/admin/user/conversation/send/?id=%2B15550100777",
        data={**form, "message": "Still there?"},
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert 'name="password"' in text and "Not saved: you were logged out" in text


@pytest.mark.parametrize(
    "who, url, token",
    [
        ("admin", "/admin/user/action/", "not-a-token"),
        ("admin", "/admin/user/action/", None),
        ("admin", "/admin/auth/logout/", "not-a-token"),
        ("nobody logged in", "/admin/auth/login/", "not-a-token"),
        ("nobody logged in", "/admin/auth/login/", None),
    ],
)
def test_a_form_whose_csrf_token_is_refused_gets_the_admins_own_page(client, who, url, token):
    """Regression: a form posted with a CSRF token that was missing or could not be read got
    Flask's bare "400 Bad Request / The CSRF token is invalid." page, with no way back."""
    user = make_user(phone_number="+15550009878")
    if who == "admin":
        staff_account("boss", is_admin=True)
        assert log_in(client, "boss").status_code == 302
    fields = {"action": "delete", "rowid": user.phone_number, "username": "boss", "password": "x"}
    if token is not None:
        fields["csrf_token"] = token
    back = "http://localhost/admin/user/"
    response = client.post(url, data=fields, headers={"Referer": back})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<title>Form expired | SMS-to-AI Agent Admin</title>" in page  # the admin's layout
    assert "This form expired" in page and "Nothing was saved or sent" in page
    # Back to the page the form was on: the login page itself, or the list an action was on.
    assert f'href="{url if url.endswith("login/") else "/admin/user/"}"' in page
    db.session.expire_all()
    assert db.session.get(User, user.phone_number) is not None


def test_a_script_posting_without_a_csrf_token_keeps_the_plain_400(admin_client):
    response = admin_client.post("/admin/user/action/", headers={"Sec-Fetch-Mode": "cors"})
    assert response.status_code == 400
    assert "Form expired" not in response.get_data(as_text=True)


def test_the_address_make_run_prints_opens_the_admin(client):
    """Regression: http://127.0.0.1:5000, where README's `make run` says the web is, was a
    bare 404 page; it leads to the admin (its login page for someone not logged in)."""
    answer = client.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/"
