"""Staff accounts and API tokens: admin only, passwords hashed, keys shown once."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ApiToken, StaffUser
from tests.admin.conftest import PASSWORD, csrf_for, log_in, post_action
from tests.factories import make_staff, make_token, make_user


def staff_named(username: str) -> StaffUser | None:
    return db.session.scalar(sa.select(StaffUser).where(StaffUser.username == username))


def create_staff(client, **fields):
    form = {"csrf_token": csrf_for(client, "/admin/staffuser/new/"), "is_active": "y"}
    form.update(fields)
    return client.post("/admin/staffuser/new/", data=form)


def test_admin_creates_staff_whose_password_is_hashed_and_works(admin_client):
    response = create_staff(admin_client, username="carol", password="long enough pw")
    assert response.status_code == 302, response.get_data(as_text=True)
    carol = staff_named("carol")
    assert carol.password_hash != "long enough pw" and carol.check_password("long enough pw")
    admin_client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(admin_client, "/admin/")})
    assert log_in(admin_client, "carol", "long enough pw").status_code == 302


def test_a_username_is_saved_without_surrounding_spaces_so_its_owner_can_log_in(admin_client):
    response = create_staff(admin_client, username="  carol ", password="long enough pw")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert staff_named("carol") is not None
    admin_client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(admin_client, "/admin/")})
    assert log_in(admin_client, "carol", "long enough pw").status_code == 302


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("   ", "Enter a username."),
        (" boss ", "Already exists."),
        ("Boss", "Already taken as boss: usernames must differ in more than letter case."),
        ("ｂｏｓｓ", "Already taken as boss"),  # fullwidth letters: the same name to a reader
        ("boss\u200b", "Only letters, digits, punctuation and spaces: this has U+200B."),
        ("bo\x1b[8mss", "Only letters, digits, punctuation and spaces: this has U+001B."),
    ],
)
def test_a_blank_or_taken_username_is_a_form_error(admin_client, username, error):
    response = create_staff(admin_client, username=username, password="long enough pw")
    assert response.status_code == 200
    assert error in response.get_data(as_text=True)
    assert db.session.scalars(sa.select(StaffUser.username)).all() == ["boss"]


def test_renaming_staff_to_another_accounts_name_in_other_case_is_a_form_error(admin_client):
    carol = make_staff("carol")
    url = f"/admin/staffuser/edit/?id={carol.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "BOSS", "is_active": "y"}
    response = admin_client.post(url, data=form)
    assert "Already taken as boss" in response.get_data(as_text=True)
    db.session.refresh(carol)
    assert carol.username == "carol"


def test_staff_may_change_the_case_of_their_own_username(admin_client):
    carol = make_staff("carol")
    url = f"/admin/staffuser/edit/?id={carol.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "Carol", "is_active": "y"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.refresh(carol)
    assert carol.username == "Carol"


def test_new_staff_needs_a_password_of_eight_characters(admin_client):
    assert create_staff(admin_client, username="dave").status_code == 200
    assert create_staff(admin_client, username="dave", password="short").status_code == 200
    assert staff_named("dave") is None


def test_a_password_of_only_spaces_is_refused_on_new_staff_and_on_an_edit(admin_client):
    """Regression: eight spaces were saved as a password (as `flask staff create` took them)."""
    response = create_staff(admin_client, username="dave", password=" " * 8)
    assert "Must not be only spaces" in response.get_data(as_text=True)
    assert staff_named("dave") is None
    erin = make_staff("erin", PASSWORD)
    url = f"/admin/staffuser/edit/?id={erin.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "erin", "is_active": "y"}
    response = admin_client.post(url, data={**form, "password": " " * 12})
    assert "Must not be only spaces" in response.get_data(as_text=True)
    db.session.expire_all()
    assert staff_named("erin").check_password(PASSWORD)


def test_a_password_the_login_form_would_not_take_is_refused(admin_client):
    response = create_staff(admin_client, username="dave", password="x" * 201)
    assert "Must be at most 200 characters" in response.get_data(as_text=True)
    assert staff_named("dave") is None
    assert create_staff(admin_client, username="dave", password="x" * 200).status_code == 302
    admin_client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(admin_client, "/admin/")})
    assert log_in(admin_client, "dave", "x" * 200).status_code == 302


def test_a_staff_email_must_be_an_email_address(admin_client):
    fields = {"username": "erin", "password": "long enough pw"}
    response = create_staff(admin_client, email="not an email at all", **fields)
    assert "Not a valid email address." in response.get_data(as_text=True)
    assert staff_named("erin") is None
    assert create_staff(admin_client, email="erin@example.com", **fields).status_code == 302


def test_a_staff_email_of_only_spaces_is_no_email(admin_client):
    """Regression: "   " passed as a blank field and was saved as the address."""
    fields = {"username": "erin", "password": "long enough pw"}
    assert create_staff(admin_client, email="   ", **fields).status_code == 302
    assert staff_named("erin").email is None


def test_the_password_hash_is_never_shown(admin_client):
    boss = staff_named("boss")
    for url in ["/admin/staffuser/", f"/admin/staffuser/edit/?id={boss.id}"]:
        page = admin_client.get(url).get_data(as_text=True)
        assert boss.password_hash not in page and "password_hash" not in page
    page = admin_client.get(f"/admin/staffuser/details/?id={boss.id}").get_data(as_text=True)
    assert boss.password_hash not in page


def test_editing_staff_without_a_password_keeps_the_old_one(admin_client):
    erin = make_staff("erin", PASSWORD)
    url = f"/admin/staffuser/edit/?id={erin.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "erin", "email": "e@x.org"}
    form.update(is_active="y", password="")
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    erin = staff_named("erin")
    assert erin.email == "e@x.org" and erin.check_password(PASSWORD)


def test_editing_staff_with_a_password_replaces_it(admin_client):
    erin = make_staff("erin", PASSWORD)
    url = f"/admin/staffuser/edit/?id={erin.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "erin", "is_active": "y"}
    form["password"] = "a brand new password"
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert staff_named("erin").check_password("a brand new password")


def create_token(client, **fields):
    form = {"csrf_token": csrf_for(client, "/admin/apitoken/new/"), "name": "ci"}
    form.update(fields)
    return client.post("/admin/apitoken/new/", data=form, follow_redirects=True)


def test_a_token_label_with_a_direction_control_is_a_form_error(admin_client):
    response = create_token(admin_client, staff_user=str(staff_named("boss").id), name="\u2066ci")
    assert response.status_code == 200
    assert "this has U+2066" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_new_token_key_is_shown_once_then_only_its_prefix(admin_client):
    boss = staff_named("boss")
    response = create_token(admin_client, staff_user=str(boss.id))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    key = re.search(r'value="(sat_[^"]+)"', response.get_data(as_text=True)).group(1)
    token = ApiToken.find_active(key)
    assert token is not None and token.staff_user_id == boss.id and token.name == "ci"
    # The page fetched again (Back, Reload) says the key was shown once, and not what it was.
    assert [r.status_code for r in response.history] == [303]
    again = admin_client.get(response.request.url).get_data(as_text=True)
    assert "was shown only once" in again and token.prefix in again and key not in again
    listing = admin_client.get("/admin/apitoken/").get_data(as_text=True)
    assert token.prefix in listing and key not in listing
    details = admin_client.get(f"/admin/apitoken/details/?id={token.id}").get_data(as_text=True)
    assert key not in details and token.key_hash not in details


def test_a_token_label_that_fits_without_its_surrounding_spaces_is_saved_without_them(
    admin_client,
):
    """Regression: the label was measured with the spaces around it and kept them, so one of
    100 characters (the most) pasted with a space around it was refused as too long."""
    boss = staff_named("boss")
    label = "n" * 100
    response = create_token(admin_client, staff_user=str(boss.id), name=f"  {label} ")
    assert response.status_code == 200 and "sat_" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(ApiToken.name)) == label

    response = create_token(admin_client, staff_user=str(boss.id), name=label + "n")
    assert "Field cannot be longer than 100 characters." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("page", "field"),
    [
        ("/admin/staffuser/new/", "username"),
        ("/admin/staffuser/new/", "email"),
        ("/admin/apitoken/new/", "name"),
        ("/admin/user/new/", "full_name"),
        ("/admin/user/new/", "email"),
    ],
)
def test_boxes_trimmed_before_their_length_is_checked_set_the_browser_no_maxlength(
    admin_client, page, field
):
    """Regression: the browser's maxlength counts the spaces around what is typed, which the
    server drops before checking the length: a name of the full length pasted with a space
    around it was cut short by the browser. The server alone checks these lengths."""
    html = admin_client.get(page).get_data(as_text=True)
    box = re.search(rf'<input[^>]*\bname="{field}"[^>]*>', html).group(0)
    assert "maxlength" not in box


def test_the_token_list_shows_when_each_token_expires(app, admin_client):
    """Regression: with API_TOKEN_DAYS set, tokens stop working that many days after they
    were made, but the list (and a token's details) never said when, so staff learned it
    from a client's 401."""
    app.config["API_TOKEN_DAYS"] = 30
    make_token(staff_named("boss"))
    token = db.session.scalar(sa.select(ApiToken))
    token.created_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    db.session.commit()

    listing = admin_client.get("/admin/apitoken/").get_data(as_text=True)
    details = admin_client.get(f"/admin/apitoken/details/?id={token.id}").get_data(as_text=True)

    assert "Expires" in listing and "2026-02-01 03:04 UTC (expired)" in listing
    assert "2026-02-01 03:04:05 UTC (expired)" in details
    app.config["API_TOKEN_DAYS"] = 0
    assert "never" in admin_client.get("/admin/apitoken/").get_data(as_text=True)


def test_a_token_for_a_texter(admin_client):
    user = make_user()
    response = create_token(admin_client, user_phone=user.phone_number)
    key = re.search(r'value="(sat_[^"]+)"', response.get_data(as_text=True)).group(1)
    assert ApiToken.find_active(key).user_phone == user.phone_number


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("(555) 123-0042", "+15551230042"),
        ("+1 555 123 0042", "+15551230042"),
        ("+1-555-123-0042", "+15551230042"),
        ("+49 (0) 151 1234 5678", "+4915112345678"),  # longer than the 20-character column
        # A WhatsApp sender pasted from Twilio, as the new-user form and Try it read it.
        ("whatsapp:+5215512345678", "+525512345678"),
    ],
)
def test_a_token_for_a_texter_whose_number_is_typed_in_another_notation(
    admin_client, typed, number
):
    make_user(number)
    response = create_token(admin_client, user_phone=typed)
    key = re.search(r'value="(sat_[^"]+)"', response.get_data(as_text=True)).group(1)
    assert ApiToken.find_active(key).user_phone == number


def test_a_token_needs_exactly_one_owner(admin_client):
    boss = staff_named("boss")
    user = make_user()
    for fields in [{}, {"staff_user": str(boss.id), "user_phone": user.phone_number}]:
        response = create_token(admin_client, **fields)
        assert "not both" in response.get_data(as_text=True)
    response = create_token(admin_client, user_phone="+19999999999")
    assert "No texter with that phone number." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_staff_make_staff_tokens_only_for_themselves(admin_client):
    """A token that authenticates as another staff member would let its maker act, and be
    recorded, as them; the operator's `flask token create USERNAME` still may."""
    quinn = make_staff("quinn", PASSWORD, is_admin=False)
    page = admin_client.get("/admin/apitoken/new/").get_data(as_text=True)
    assert "boss (you)" in page and f'value="{quinn.id}"' not in page
    response = create_token(admin_client, staff_user=str(quinn.id))
    assert response.status_code == 200 and "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_no_token_is_made_for_an_inactive_texter(admin_client):
    """Its key could never work (find_active refuses an inactive owner's tokens)."""
    user = make_user(is_active=False)
    response = create_token(admin_client, user_phone=user.phone_number)
    assert response.status_code == 200 and "is inactive" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_revoke_action(admin_client):
    key = make_token(staff_named("boss"))
    token = ApiToken.find_active(key)
    response = post_action(admin_client, "/admin/apitoken/", "revoke", [str(token.id)])
    assert "Revoked 1 token." in response.get_data(as_text=True)
    db.session.expire_all()
    assert ApiToken.find_active(key) is None


def test_tokens_cannot_be_edited(admin_client):
    key = make_token(staff_named("boss"))
    token = ApiToken.find_active(key)
    assert admin_client.get(f"/admin/apitoken/edit/?id={token.id}").status_code == 302


def test_staff_list_filters_and_search(admin_client):
    make_staff("quinn", PASSWORD, is_admin=False, email="quinn@example.org")
    make_staff("retired", PASSWORD, is_admin=False, is_active=False)
    cases = {
        "flt0_admin_equals=1": ("boss", "quinn"),
        "flt0_active_equals=0": ("retired", "quinn"),
        "search=example.org": ("quinn", "retired"),
    }
    for query, (found, missing) in cases.items():
        page = admin_client.get("/admin/staffuser/?" + query).get_data(as_text=True)
        table = re.search(r'<table class="table[^"]*model-list.*?</table>', page, re.S).group(0)
        assert found in table and missing not in table, query


def test_token_list_filters_and_search(admin_client):
    boss = staff_named("boss")
    live = ApiToken.find_active(make_token(boss))
    revoked = ApiToken.find_active(make_token(boss))
    revoked.revoke()
    db.session.commit()
    page = admin_client.get("/admin/apitoken/?search=" + live.prefix).get_data(as_text=True)
    assert live.prefix in page and revoked.prefix not in page
    page = admin_client.get("/admin/apitoken/?flt0_revoked_empty=1").get_data(as_text=True)
    assert live.prefix in page and revoked.prefix not in page


@pytest.mark.parametrize(
    "change", [{"is_admin": ""}, {"is_active": ""}], ids=["not admin", "inactive"]
)
def test_the_only_admin_cannot_take_away_their_own_admin_rights(admin_client, change):
    """Left without an active admin, nobody could change anything in the admin any more."""
    boss = staff_named("boss")
    url = f"/admin/staffuser/edit/?id={boss.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "boss", "is_admin": "y"}
    form = {**form, "is_active": "y", **change}
    form = {name: value for name, value in form.items() if value}  # an unticked box
    page = admin_client.post(url, data=form, follow_redirects=True).get_data(as_text=True)
    assert "the only active admin" in page
    db.session.expire_all()
    boss = staff_named("boss")
    assert boss.is_admin and boss.is_active
    assert admin_client.get("/admin/staffuser/").status_code == 200


def test_the_only_admin_cannot_delete_their_own_account(admin_client):
    boss = staff_named("boss")
    response = post_action(admin_client, "/admin/staffuser/", "delete", [str(boss.id)])
    assert "the only active admin" in response.get_data(as_text=True)
    db.session.expire_all()
    assert staff_named("boss") is not None


def test_an_admin_may_step_down_while_another_admin_remains(admin_client):
    make_staff("ann", PASSWORD, is_admin=True)
    boss = staff_named("boss")
    url = f"/admin/staffuser/edit/?id={boss.id}"
    form = {"csrf_token": csrf_for(admin_client, url), "username": "boss", "is_active": "y"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert not staff_named("boss").is_admin


def test_two_admins_taking_each_others_rights_at_once_leave_one_admin(app, admin_client):
    """Regression: each save counted the other as the admin who remains, before either was
    written, and both were saved: nobody was left to change anything in the admin."""
    ann = make_staff("ann", PASSWORD, is_admin=True)
    boss = staff_named("boss")
    ann_client = app.test_client()
    posts = []

    def open_edit_form(client, other: tuple[int, str], username=None):
        """Ann's in a thread and app context of its own, as another browser's requests:
        this test's app context would hand her boss's login (flask_login keeps it in g)."""
        with app.app_context():
            if username:
                assert log_in(client, username).status_code == 302
            url = f"/admin/staffuser/edit/?id={other[0]}"
            token = csrf_for(client, url)
        form = {"csrf_token": token, "username": other[1], "is_active": "y"}
        posts.append((client, url, form))  # "is_admin" unticked

    open_edit_form(admin_client, (ann.id, "ann"))
    ann_opens = threading.Thread(target=open_edit_form, args=(ann_client, (boss.id, "boss"), "ann"))
    ann_opens.start()
    ann_opens.join(timeout=60)
    assert len(posts) == 2
    statuses = []

    def save(client, url, form):
        with app.app_context():
            statuses.append(client.post(url, data=form).status_code)

    with held_staff_rows():  # both saves reach the database while another writer holds it
        threads = [threading.Thread(target=save, args=post) for post in posts]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    admins = db.session.scalars(sa.select(StaffUser).where(StaffUser.is_admin)).all()
    assert len(admins) == 1, statuses


@contextlib.contextmanager
def held_staff_rows():
    """Another transaction writing the staff rows: PostgreSQL's row locks, SQLite's one
    write lock."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(sa.select(StaffUser.id).with_for_update())
        yield
        connection.rollback()


def test_one_submission_of_the_token_form_makes_one_token_however_often_posted(admin_client):
    """Regression: a double click on Create (or a resent form) made two tokens, the key of
    the first never seen; the second post now says the token was made already, on a page
    of its own (a GET: the 409 answering the POST was "ERR_CACHE_MISS" on Back)."""
    from tests.admin.conftest import form_as_shown

    boss = staff_named("boss")
    form = {**form_as_shown(admin_client, "/admin/apitoken/new/"), "staff_user": str(boss.id)}
    first = admin_client.post("/admin/apitoken/new/", data=form, follow_redirects=True)
    assert 'value="sat_' in first.get_data(as_text=True)
    again = admin_client.post("/admin/apitoken/new/", data=form)
    (token,) = db.session.scalars(sa.select(ApiToken)).all()
    assert again.status_code == 303
    assert again.location == f"/admin/apitoken/created/?id={token.id}"
    text = admin_client.get(again.location).get_data(as_text=True)
    assert 'value="sat_' not in text and 'data-testid="key-shown-once"' in text
    assert f"already made token {token.prefix}" in text


def test_a_double_click_on_create_shows_the_key_on_the_page_the_browser_keeps(admin_client):
    """A double click: the browser drops the first answer and follows the second. The key,
    which no page has shown yet, is shown by that one, not called "shown already"."""
    from tests.admin.conftest import form_as_shown

    boss = staff_named("boss")
    form = {**form_as_shown(admin_client, "/admin/apitoken/new/"), "staff_user": str(boss.id)}
    admin_client.post("/admin/apitoken/new/", data=form)  # its answer never followed
    again = admin_client.post("/admin/apitoken/new/", data=form, follow_redirects=True)
    text = again.get_data(as_text=True)
    assert 'value="sat_' in text and "already made" not in text
    assert len(db.session.scalars(sa.select(ApiToken)).all()) == 1


def test_two_simultaneous_posts_of_the_token_form_make_one_token(app, admin_client):
    from tests.admin.conftest import form_as_shown, post_at_once

    boss = staff_named("boss")
    form = {**form_as_shown(admin_client, "/admin/apitoken/new/"), "staff_user": str(boss.id)}
    assert sorted(post_at_once(app, admin_client, "/admin/apitoken/new/", form)) == [303, 303]
    db.session.expire_all()
    assert len(db.session.scalars(sa.select(ApiToken)).all()) == 1
