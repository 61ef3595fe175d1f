"""The Users page: the design document's UserAdmin, column by column and action by action."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ApiToken, Task, Tier, User, first_of_next_month, utcnow
from tests.admin.conftest import csrf_for, form_as_shown, post_action
from tests.factories import make_error, make_task, make_user


def rows(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_list_shows_the_design_documents_columns_but_email_on_the_texters_page(admin_client):
    """The email left the list, so the list fits a laptop's window (see the browser test
    test_the_users_list_fits_a_laptop_screen); search still finds a texter by it."""
    make_user(full_name="Ann Smith", email="ann@example.com", total_requests=7, monthly_requests=3)
    page = rows(admin_client, "/admin/user/")
    for heading in ["Phone", "Tier", "Full name", "Total requests", "Monthly requests"]:
        assert heading in page
    for heading in ["Spend (USD)", "Active", "Last active", "Created"]:
        assert heading in page
    assert "Ann Smith" in page and "ann@example.com" not in page
    assert "Ann Smith" in rows(admin_client, "/admin/user/?search=ann@example.com")


def test_the_list_counts_its_rows_with_thousands_separators(admin_client):
    now = utcnow()
    db.session.execute(
        sa.insert(User),
        [
            {"phone_number": f"+1555{n:07d}", "tier": "free", "rate_limit_reset": now}
            for n in range(1234)
        ],
    )
    db.session.commit()
    assert "List (1,234)" in rows(admin_client, "/admin/user/")


def test_the_whole_user_lists_count_is_kept_not_counted_and_a_filtered_one_counted(
    admin_client, count_queries
):
    """At 1,000,000 texters a COUNT over the table on every visit made the page slow; the
    kept count follows new texters and deleted ones."""
    make_user(tier="premium")
    make_user()
    gone = make_user()
    with count_queries() as queries:
        assert "List (3)" in rows(admin_client, "/admin/user/")
    # (The inbox badge counts the waiting conversations, on their index: not the table.)
    whole = [sql for sql in queries.statements if "count(" in sql and sql.endswith("FROM users")]
    assert not whole
    db.session.delete(gone)
    db.session.commit()
    assert "List (2)" in rows(admin_client, "/admin/user/")
    assert "List (1)" in rows(admin_client, "/admin/user/?flt0_tier_equals=premium")


@pytest.mark.parametrize(
    ("query", "found", "missing"),
    [
        ("flt0_tier_equals=premium", "Paid Pat", "Free Fay"),
        ("flt0_active_equals=0", "Gone Gus", "Free Fay"),
        ("flt0_active_equals=1", "Free Fay", "Gone Gus"),
        ("flt0_created_smaller_than={week_ago}", "Old Olga", "Free Fay"),
        ("flt0_last_active_greater_than={week_ago}", "Free Fay", "Old Olga"),
    ],
)
def test_filters(admin_client, query, found, missing):
    week_ago = (utcnow() - timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S")
    long_ago = utcnow() - timedelta(days=90)
    make_user(full_name="Free Fay")
    make_user(full_name="Paid Pat", tier=Tier.PREMIUM.value)
    make_user(full_name="Gone Gus", is_active=False)
    make_user(full_name="Old Olga", created_at=long_ago, last_active=long_ago)
    page = rows(admin_client, "/admin/user/?" + query.format(week_ago=quote(week_ago)))
    assert found in page
    assert missing not in page


@pytest.mark.parametrize("term", ["+1555012", "ann@example", "Smith"])
def test_search_by_phone_email_and_name(admin_client, term):
    make_user("+15550123456", full_name="Ann Smith", email="ann@example.com")
    make_user("+15550999999", full_name="Bob Jones", email="bob@example.org")
    page = rows(admin_client, "/admin/user/?search=" + quote(term))
    assert "Ann Smith" in page
    assert "Bob Jones" not in page


def test_reset_monthly_requests_action(admin_client):
    users = [make_user(monthly_requests=40), make_user(monthly_requests=5)]
    untouched = make_user(monthly_requests=7)
    response = post_action(admin_client, "/admin/user/", "reset_monthly_requests", phones(users))
    assert "Reset monthly requests for 2 users." in response.get_data(as_text=True)
    db.session.expire_all()
    assert [db.session.get(User, u.phone_number).monthly_requests for u in users] == [0, 0]
    assert db.session.get(User, untouched.phone_number).monthly_requests == 7


def test_upgrade_to_premium_resets_monthly_requests_and_texts_the_user(admin_client):
    from sms_agent.models import OutboundMessage
    from sms_agent.simulator import jobs_inline

    user = make_user(monthly_requests=80)
    with jobs_inline():
        response = post_action(
            admin_client, "/admin/user/", "upgrade_to_premium", [user.phone_number]
        )
    assert "Upgraded 1 user to premium. 1 user will be texted." in response.get_data(as_text=True)
    [sms] = db.session.scalars(sa.select(OutboundMessage)).all()
    assert (sms.kind, sms.to_number) == ("tier_change", user.phone_number)
    assert "plan is now premium" in sms.body
    db.session.expire_all()
    upgraded = db.session.get(User, user.phone_number)
    assert (upgraded.tier, upgraded.monthly_requests) == ("premium", 0)


def test_a_bulk_upgrade_counts_only_the_texters_it_can_text(admin_client):
    from sms_agent.models import OutboundMessage
    from sms_agent.simulator import jobs_inline

    home, abroad = make_user(), make_user("+447700900123")  # GB: outside ALLOWED_COUNTRIES
    opted_out = make_user(opted_out_at=utcnow())
    with jobs_inline():
        response = post_action(
            admin_client, "/admin/user/", "upgrade_to_premium", phones([home, abroad, opted_out])
        )
    assert "Upgraded 3 users to premium. 1 user will be texted." in response.get_data(as_text=True)
    sent = db.session.scalars(sa.select(OutboundMessage.to_number)).all()
    assert sent == [home.phone_number]


def test_a_bulk_upgrade_says_how_long_its_texts_take_to_go_out(app, admin_client, twilio_server):
    """Three texts at half of one SMS every 20 s: the last goes out in about two minutes."""
    from tests.broker import drained

    # A sending number of its own: no other test's notices are booked ahead of these.
    number = f"+1500555{uuid.uuid4().int % 10**4:04d}"
    app.config.update(TWILIO_MPS=0.05, BULK_NOTICE_SHARE=0.5, TWILIO_PHONE_NUMBER=number)
    users = [make_user() for _ in range(3)]
    drained(app)  # what earlier tests left in the in-memory broker
    response = post_action(admin_client, "/admin/user/", "upgrade_to_premium", phones(users))
    assert (
        "Upgraded 3 users to premium. "
        "3 users will be texted over the next 2 minutes, between answers."
        in response.get_data(as_text=True)
    )
    assert len(drained(app)) == 3  # queued, each for its time


def test_upgrade_to_premium_leaves_an_enterprise_texter_on_enterprise(admin_client):
    """Staff who select every row and press Upgrade move nobody down."""
    free, enterprise = make_user(), make_user(tier="enterprise", monthly_requests=4000)
    response = post_action(
        admin_client, "/admin/user/", "upgrade_to_premium", phones([free, enterprise])
    )
    page = response.get_data(as_text=True)
    assert "Upgraded 1 user to premium. 1 user will be texted." in page
    assert "1 user already on premium or above, left as they were." in page
    db.session.expire_all()
    kept = db.session.get(User, enterprise.phone_number)
    assert (kept.tier, kept.monthly_requests) == ("enterprise", 4000)
    assert db.session.get(User, free.phone_number).tier == "premium"


def test_downgrade_to_free_keeps_the_counter(admin_client):
    users = [make_user(tier="premium", monthly_requests=300), make_user(tier="enterprise")]
    response = post_action(admin_client, "/admin/user/", "downgrade_to_free", phones(users))
    assert "Downgraded 2 users to free. 0 users will be texted." in response.get_data(as_text=True)
    db.session.expire_all()
    downgraded = [db.session.get(User, u.phone_number) for u in users]
    assert [u.tier for u in downgraded] == ["free", "free"]
    assert downgraded[0].monthly_requests == 300


def test_downgrade_to_free_counts_only_the_texters_it_moves(admin_client):
    """Staff who select every row and press Downgrade read how many were moved, not how
    many they selected."""
    users = [make_user(tier="premium"), make_user(), make_user()]
    response = post_action(admin_client, "/admin/user/", "downgrade_to_free", phones(users))
    page = response.get_data(as_text=True)
    assert "Downgraded 1 user to free." in page
    assert "2 users already on free, left as they were." in page


def test_action_on_unknown_rows_changes_nothing(admin_client):
    response = post_action(admin_client, "/admin/user/", "upgrade_to_premium", ["+19999999999"])
    page = response.get_data(as_text=True)
    assert "Nothing was done: the selected records were gone already." in page
    assert "Upgraded" not in page


def test_edit_form_is_in_the_design_documents_sections(admin_client):
    user = make_user()
    page = rows(admin_client, f"/admin/user/edit/?id={quote(user.phone_number)}")
    sections = ["Main", "Personal information", "Usage statistics", "Preferences", "Timestamps"]
    positions = [page.index(f"<h3>{name}</h3>") for name in sections]
    assert positions == sorted(positions)
    for readonly in ["created_at", "updated_at", "last_active", "phone_number"]:
        assert f'data-readonly="{readonly}"' in page
        assert f'name="{readonly}"' not in page


def test_edit_saves_fields_but_never_read_only_ones(admin_client):
    user = make_user(full_name="Ann")
    created = user.created_at
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = edit_form(admin_client, user, full_name="Ann Smith", created_at="2001-01-01 00:00:00")
    response = admin_client.post(url, data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert saved.full_name == "Ann Smith"
    assert saved.created_at == created


def test_a_tier_changed_in_the_edit_form_is_texted_like_the_bulk_action(admin_client):
    from sms_agent.models import OutboundMessage
    from sms_agent.simulator import jobs_inline

    user = make_user(full_name="Ann", monthly_requests=80)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    with jobs_inline():
        response = admin_client.post(url, data=edit_form(admin_client, user, tier="premium"))
        assert response.status_code == 302, response.get_data(as_text=True)
        # Saving again without a change texts nothing more.
        db.session.expire_all()
        same = db.session.get(User, user.phone_number)
        admin_client.post(url, data=edit_form(admin_client, same, full_name="Ann B"))
    sent = db.session.scalars(sa.select(OutboundMessage)).all()
    assert [(sms.kind, sms.to_number) for sms in sent] == [("tier_change", user.phone_number)]
    assert "plan is now premium" in sent[0].body


@pytest.mark.parametrize(
    ("timezone", "said"),
    [
        ("Mars/Base", "not a known timezone"),
        ("localtime", "not a known timezone"),
        # A box cleared was "Failed to update record." at the top of the page, an ERROR in
        # the log, and no word beside the box.
        ("", "Enter a timezone, such as UTC or America/New_York."),
    ],
)
def test_edit_rejects_a_bad_timezone_without_a_500(admin_client, timezone, said, caplog):
    user = make_user()
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    response = admin_client.post(url, data=edit_form(admin_client, user, timezone=timezone))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # A field error beside the timezone, not a flash and a traceback in the log.
    assert said in page and "Not saved" not in page and "Failed to update" not in page
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).timezone == "UTC"


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("utc", "UTC"),
        ("america/los_angeles", "America/Los_Angeles"),
        (" Europe/Paris ", "Europe/Paris"),
    ],
)
def test_a_timezone_typed_in_another_case_is_saved_as_its_name(admin_client, typed, saved):
    """Regression: staff who typed "utc" or "america/los_angeles" were told it is not a known
    timezone, though it names one; the texter keeps it written as the IANA name."""
    user = make_user(timezone="Asia/Tokyo")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    response = admin_client.post(url, data=edit_form(admin_client, user, timezone=typed))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).timezone == saved


def test_admin_can_create_a_user(admin_client):
    token = csrf_for(admin_client, "/admin/user/new/")
    form = {"csrf_token": token, "phone_number": "+1 415 555 0100", "tier": "free"}
    form.update(is_active="y", timezone="UTC", total_requests="0", monthly_requests="0")
    form.update(preferences="{}", rate_limit_reset="2030-01-01 00:00:00")
    response = admin_client.post("/admin/user/new/", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert db.session.get(User, "+14155550100") is not None


@pytest.mark.parametrize("page_name", ["details", "edit"])
def test_user_pages_link_to_the_conversation(admin_client, page_name):
    user = make_user()
    page = rows(admin_client, f"/admin/user/{page_name}/?id={quote(user.phone_number)}")
    assert f"/admin/user/conversation/?id={quote(user.phone_number)}" in page


def test_list_rows_link_to_the_conversation(admin_client):
    user = make_user()
    page = rows(admin_client, "/admin/user/")
    assert f"conversation/?id={quote(user.phone_number)}" in page


def test_conversation_of_an_unknown_user_goes_back_to_the_list(admin_client):
    response = admin_client.get("/admin/user/conversation/?id=%2B19999999999")
    assert response.status_code == 302


def phones(users) -> list[str]:
    return [user.phone_number for user in users]


def edit_form(client, user: User, **changes) -> dict:
    form = {
        "csrf_token": csrf_for(client, f"/admin/user/edit/?id={quote(user.phone_number)}"),
        "tier": user.tier,
        "is_active": "y",
        "full_name": user.full_name,
        "email": user.email or "",
        "timezone": user.timezone,
        "total_requests": str(user.total_requests),
        "monthly_requests": str(user.monthly_requests),
        "rate_limit_reset": user.rate_limit_reset.strftime("%Y-%m-%d %H:%M:%S"),
        "preferences": "{}",
    }
    form.update(changes)
    return form


def test_a_monthly_count_set_in_the_edit_form_keeps_a_request_counted_before_it(admin_client):
    """Staff setting the count by hand start a new window, as their reset does: a request
    counted before the save that fails after it takes nothing off the figure they chose."""
    from sms_agent import quota
    from sms_agent.answering import pipeline

    user = make_user(monthly_requests=10, total_requests=10)
    failing = make_task(user=user, quota_window=quota.admit(user))
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "monthly_requests": "0"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    user = db.session.get(User, user.phone_number)
    make_task(user=user, quota_window=quota.admit(user))
    db.session.commit()
    pipeline.give_up(failing.id, RuntimeError("model down"))
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.monthly_requests, saved.total_requests) == (1, 11)


def test_a_monthly_count_set_in_the_same_save_as_an_upgrade_is_the_one_kept(admin_client):
    """Regression: staff moving a texter up to premium and typing 40 requests used in the
    same save found 0 stored: the upgrade's reset overwrote the figure they chose."""
    user = make_user(monthly_requests=90, total_requests=90)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "tier": "premium", "monthly_requests": "40"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.tier, saved.monthly_requests) == ("premium", 40)


def test_saving_an_edit_form_left_open_keeps_the_requests_counted_since(admin_client):
    """Staff open a texter's Edit page, the texter texts meanwhile, staff change the name and
    save: the counts the form showed were written back over the texter's new requests,
    which were then free of the quota."""
    from sms_agent import quota

    user = make_user(monthly_requests=2, total_requests=2)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "full_name": "Ann"}
    make_task(user=user, quota_window=quota.admit(user))
    db.session.commit()

    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.full_name, saved.monthly_requests, saved.total_requests) == ("Ann", 3, 3)


def test_tasks_do_not_leak_into_the_user_form(admin_client):
    user = make_user()
    make_task(user=user)
    page = rows(admin_client, f"/admin/user/edit/?id={quote(user.phone_number)}")
    assert 'name="tasks"' not in page


@pytest.mark.parametrize("value", ["-5", "99999999999999999999"])
def test_a_counter_outside_its_range_is_a_form_error_and_nothing_changes(admin_client, value):
    user = make_user(phone_number="+15550004321", monthly_requests=7)
    db.session.commit()
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    data = {"tier": "free", "timezone": "UTC", "monthly_requests": value}
    data["csrf_token"] = csrf_for(admin_client, url)
    response = admin_client.post(url, data=data)
    assert response.status_code == 200
    assert "Number must be between 0 and 2147483647" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(User, "+15550004321").monthly_requests == 7


def test_the_conversation_shows_texts_refused_for_the_quota_with_their_reason(admin_client):
    user = make_user()
    make_task(
        user, sms_content="one question too many", status="refused", refusal_reason="over_quota"
    )
    page = rows(admin_client, f"/admin/user/conversation/?id={quote(user.phone_number)}")
    assert "one question too many" in page and "refused: over quota" in page


def test_users_list_and_page_show_what_each_texter_cost(admin_client):
    from decimal import Decimal

    from sms_agent.extensions import db
    from sms_agent.models import ModelCall, OutboundMessage

    user = make_user()
    db.session.add_all(
        [
            OutboundMessage(to_number=user.phone_number, body="a", price_usd=Decimal("0.0083")),
            ModelCall(user_phone=user.phone_number, model="gpt-4o", cost_usd=Decimal("0.001")),
        ]
    )
    db.session.commit()
    listing = admin_client.get("/admin/user/").get_data(as_text=True)
    assert "Spend this month (USD)" in listing and "0.0093" in listing
    page = admin_client.get(f"/admin/user/details/?id={quote(user.phone_number)}")
    page = page.get_data(as_text=True)
    assert 'data-testid="user-spend"' in page and "0.009300" in page


@pytest.mark.parametrize("how", ["bulk action", "row delete"])
def test_deleting_texters_keeps_their_spend_but_not_their_number(admin_client, how):
    from sms_agent.costs import report
    from sms_agent.models import ModelCall, OutboundMessage

    users = [make_user(), make_user()]
    for user in users:
        task = make_task(user)
        db.session.add_all(
            [
                OutboundMessage(
                    task_id=task.id, to_number=user.phone_number, body="About you", price_usd=1
                ),
                ModelCall(task_id=task.id, user_phone=user.phone_number, model="m", cost_usd=2),
            ]
        )
    db.session.commit()
    if how == "bulk action":
        response = post_action(admin_client, "/admin/user/", "delete", phones(users))
    else:
        token = csrf_for(admin_client, "/admin/user/")
        for user in users:
            response = admin_client.post(
                "/admin/user/delete/",
                data={"id": user.phone_number, "csrf_token": token},
                follow_redirects=True,
            )
    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(User.phone_number))) == 0
    sent = db.session.execute(sa.select(OutboundMessage.to_number, OutboundMessage.body)).all()
    assert sorted(sent) == [(None, ""), (None, "")]
    assert db.session.scalars(sa.select(ModelCall.user_phone)).all() == [None, None]
    assert report.totals()["total_usd"] == 6


def new_user_form(client, phone: str, **fields) -> dict:
    form = {**form_as_shown(client, "/admin/user/new/"), "phone_number": phone}
    form.update({"rate_limit_reset": "2030-01-01 00:00:00", **fields})
    return form


@pytest.mark.parametrize("notation", ["(555) 123-0002", "+1 555 123 0002", "555.123.0002"])
def test_creating_a_number_that_exists_in_another_notation_is_a_form_error(admin_client, notation):
    make_user("+15551230002", full_name="Ann")
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, notation))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "A user with this number exists." in page
    assert "INSERT" not in page and "IntegrityError" not in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert db.session.get(User, "+15551230002").full_name == "Ann"


def test_a_number_pasted_in_a_long_notation_is_taken_whole(admin_client):
    """The box stopped at the column's 20 characters: "+49 (0) 151 1234 5678" pasted in
    became "+49 (0) 151 1234 567", and so another (valid) number, +491511234567."""
    page = rows(admin_client, "/admin/user/new/")
    box = re.search(r'<input[^>]*name="phone_number"[^>]*>', page).group(0)
    assert int(re.search(r'maxlength="(\d+)"', box).group(1)) >= 32
    pasted = "+49 (0) 151 1234 5678"
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, pasted))
    assert response.status_code == 302
    assert db.session.get(User, "+4915112345678") is not None


def test_a_save_the_database_refuses_is_told_without_its_sql(app, admin_client):
    """Another request creates the same number between the form's check and the commit."""

    def someone_else_was_first(_mapper, _connection, user):
        with db.engine.begin() as other:
            other.execute(
                sa.insert(User).values(phone_number=user.phone_number, rate_limit_reset=utcnow())
            )

    sa.event.listen(User, "before_insert", someone_else_was_first)
    form = new_user_form(admin_client, "+1 415 555 0100")
    try:
        response = admin_client.post("/admin/user/new/", data=form, follow_redirects=True)
    finally:
        sa.event.remove(User, "before_insert", someone_else_was_first)
    page = response.get_data(as_text=True)
    assert "Not saved: it would repeat a value that must be unique" in page
    for leak in ("INSERT", "IntegrityError", "parameters", "+14155550100',"):
        assert leak not in page


@pytest.mark.parametrize("email", ["not an email at all", "ann@", "@example.com"])
def test_an_email_that_is_not_one_is_a_form_error_on_create_and_edit(admin_client, email):
    response = admin_client.post(
        "/admin/user/new/", data=new_user_form(admin_client, "+14155550100", email=email)
    )
    assert response.status_code == 200
    assert "Not a valid email address." in response.get_data(as_text=True)
    assert db.session.get(User, "+14155550100") is None

    user = make_user(email="ann@example.com")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    response = admin_client.post(url, data={**form_as_shown(admin_client, url), "email": email})
    assert "Not a valid email address." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).email == "ann@example.com"


def test_an_email_of_only_spaces_is_no_email_on_create_and_edit(admin_client):
    """Regression: "  " passed as a blank field and was saved as the texter's address,
    which the API refuses as not an email."""
    data = new_user_form(admin_client, "+14155550100", email="  ")
    assert admin_client.post("/admin/user/new/", data=data).status_code == 302
    assert db.session.get(User, "+14155550100").email is None

    user = make_user(email="ann@example.com")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "email": " \t "}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).email is None


def test_a_real_email_is_saved(admin_client):
    data = new_user_form(admin_client, "+14155550100", email="ann@example.com")
    assert admin_client.post("/admin/user/new/", data=data).status_code == 302
    assert db.session.get(User, "+14155550100").email == "ann@example.com"


def test_saving_the_edit_form_unchanged_changes_nothing(admin_client):
    """The form shows timestamps to the second; the stored ones keep their microseconds."""
    now = utcnow().replace(microsecond=311695)
    user = make_user(
        full_name="Ann",
        email="ann@example.com",
        preferences={"language": "fr", "tags": [1, 2]},
        opted_out_at=now,
        context_reset_at=now - timedelta(days=1),
        rate_limit_reset=now + timedelta(days=20),
    )
    columns = [column.key for column in User.__table__.columns if column.key != "updated_at"]
    before = {name: getattr(user, name) for name in columns}
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    assert admin_client.post(url, data=form_as_shown(admin_client, url)).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert {name: getattr(saved, name) for name in columns} == before


def test_a_name_with_a_line_break_left_as_shown_is_kept(admin_client):
    """Regression: a name the API stored with a line break comes back from the page's
    one-line input without it (HTML's value sanitization): taken for staff's change, it
    was saved so, and when the API had renamed the texter meanwhile, the untouched name was
    the form's "changed by someone else" error."""
    user = make_user(full_name="Ann\nSmith", timezone="UTC")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    as_a_browser_sends_it = {"full_name": "AnnSmith", "timezone": "Europe/Paris"}
    form = {**form_as_shown(admin_client, url), **as_a_browser_sends_it}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.full_name, saved.timezone) == ("Ann\nSmith", "Europe/Paris")

    form = {**form_as_shown(admin_client, url), "full_name": "AnnSmith", "timezone": "UTC"}
    saved.full_name = "Ann\nJones"  # the API renames the texter while the page is open
    db.session.commit()
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.full_name, saved.timezone) == ("Ann\nJones", "UTC")


def test_a_timestamp_staff_change_is_saved(admin_client):
    user = make_user(context_reset_at=utcnow().replace(microsecond=311695))
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "context_reset_at": "2030-05-06 07:08:09"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number).context_reset_at
    assert saved.strftime("%Y-%m-%d %H:%M:%S.%f") == "2030-05-06 07:08:09.000000"


@pytest.mark.parametrize("posted", ["", "2030-05-06 07:08:09"])
def test_staff_cannot_clear_or_move_a_texters_opt_out(admin_client, posted):
    """STOP is the texter's own word to the carrier: only their START undoes it. The edit
    form shows when they opted out, read-only, and a posted value is ignored."""
    opted_out = utcnow().replace(microsecond=0) - timedelta(days=3)
    user = make_user(opted_out_at=opted_out)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    page = rows(admin_client, url)
    assert 'data-readonly="opted_out_at"' in page and 'name="opted_out_at"' not in page
    form = {**form_as_shown(admin_client, url), "opted_out_at": posted}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).opted_out_at == opted_out


def test_staff_cannot_create_a_texter_as_opted_out(admin_client):
    assert 'name="opted_out_at"' not in rows(admin_client, "/admin/user/new/")
    form = new_user_form(admin_client, "+14155550100", opted_out_at="2030-05-06 07:08:09")
    assert admin_client.post("/admin/user/new/", data=form).status_code == 302
    assert db.session.get(User, "+14155550100").opted_out_at is None


@pytest.mark.parametrize("when", ["9999-12-31 23:59:59", "0001-01-01 00:00:00"])
def test_a_date_far_away_is_a_form_error_and_nothing_changes(admin_client, when):
    user = make_user(timezone="Pacific/Kiritimati")
    before = user.rate_limit_reset
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "rate_limit_reset": when}
    response = admin_client.post(url, data=form)
    assert response.status_code == 200
    assert "Enter a date between 1970 and 2999." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).rate_limit_reset == before


@pytest.mark.parametrize("view", ["user", "task"])
def test_a_details_page_shows_its_times_in_utc_to_the_second(admin_client, view):
    """Regression: the Details pages wrote times as Python prints them,
    "2026-12-01 01:08:00.181709+00:00", where every list says "2026-12-01 01:08 UTC"."""
    from tests.factories import make_task, make_user

    at = utcnow().replace(year=2026, month=12, day=1, hour=1, minute=8, second=0)
    user = make_user(created_at=at, last_active=at)
    task = make_task(user=user, created_at=at)
    pk = quote(user.phone_number) if view == "user" else task.id
    page = admin_client.get(f"/admin/{view}/details/?id={pk}").get_data(as_text=True)
    assert "2026-12-01 01:08:00 UTC" in page
    assert "+00:00" not in page


@pytest.mark.parametrize("notation", ["+15551230002", "(555) 123-0002"])
def test_a_number_that_exists_is_said_once(admin_client, notation):
    """Regression: the number written as stored got two errors under it, "A user with this
    number exists." and Flask-Admin's own "Already exists.", for one mistake."""
    make_user("+15551230002", full_name="Ann")
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, notation))
    page = response.get_data(as_text=True)
    assert "A user with this number exists." in page and "Already exists." not in page


@pytest.mark.parametrize(
    ("pasted", "texter"),
    [
        ("whatsapp:+15551230003", "+15551230003"),
        # WhatsApp writes Mexico's mobiles with the 1 their dial plan dropped.
        ("whatsapp:+5215512345678", "+525512345678"),
    ],
)
def test_a_whatsapp_sender_pasted_from_twilio_creates_the_texter_its_texts_reach(
    admin_client, pasted, texter
):
    """The texter the webhook files that sender's texts under: a Mexican WhatsApp sender was
    refused as "not a possible phone number", though its texts arrive as +52 55..."""
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, pasted))
    assert response.status_code == 302
    assert db.session.scalars(sa.select(User.phone_number)).all() == [texter]


@pytest.mark.parametrize("pasted", ["tel:+15551230003", "sms:+15551230003", "TEL:+1-555-123-0003"])
def test_a_number_copied_from_a_tel_or_sms_link_creates_its_texter(admin_client, pasted):
    """A number copied from a web page's or a CRM's link is written tel:+1... (RFC 3966) or
    sms:+1... (RFC 5724): the admin refused it as "not a channel we serve", where the API
    took it; both take it now, as the number it names."""
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, pasted))
    assert response.status_code == 302
    assert db.session.scalars(sa.select(User.phone_number)).all() == ["+15551230003"]


def test_another_channels_address_is_refused_as_no_texter_of_ours(admin_client):
    """ "messenger:+15551230003" was taken for the SMS number +15551230003."""
    form = new_user_form(admin_client, "messenger:+15551230003")
    page = admin_client.post("/admin/user/new/", data=form).get_data(as_text=True)
    assert "is not a channel we serve (SMS and WhatsApp)" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_the_forms_date_time_boxes_say_they_are_in_utc(admin_client):
    """A Los Angeles texter's quota resetting at their midnight read "Quota resets
    2027-01-01 08:00:00", no zone said, and staff typed their own local time."""
    user = make_user(timezone="America/Los_Angeles")
    for url in ("/admin/user/new/", f"/admin/user/edit/?id={quote(user.phone_number)}"):
        page = rows(admin_client, url)
        for name in ("rate_limit_reset", "context_reset_at"):
            box = re.search(rf'<input[^>]*name="{name}"[^>]*>\s*<small[^>]*>\s*([^<]*)', page)
            assert box and box.group(1).strip() == "UTC, as YYYY-MM-DD HH:MM:SS", (url, name)


@pytest.mark.parametrize(
    ("typed", "saved"),
    [("   ", ""), ("\u3000\u200b ", ""), ("  Ann Smith  ", "Ann Smith")],
)
def test_a_name_of_only_spaces_is_no_name_on_create_and_edit(admin_client, typed, saved):
    """Regression: a name of spaces was saved as such, and the list showed a texter with a
    name nobody could read; the API keeps the same rule (User.full_name)."""
    created = admin_client.post(
        "/admin/user/new/", data=new_user_form(admin_client, "+15551230077", full_name=typed)
    )
    assert created.status_code == 302
    assert db.session.get(User, "+15551230077").full_name == saved

    user = make_user(full_name="Ann")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "full_name": typed}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).full_name == saved


@pytest.mark.parametrize(
    ("stored", "typed"),
    [("Ann", "Ann\u202emoc.elgoog"), ("Ann \u202emoc.elgoog", "Anna \\u202emoc.elgoog")],
    ids=["typed", "edited-around-its-escape"],
)
def test_a_name_with_a_direction_control_is_a_form_error(admin_client, stored, typed):
    """Regression: a name holding U+202E showed in the list's cell with the words after it
    backwards ("Ann\u202emoc.elgoog" as "Ann google.com"). The escape an edit box shows for
    one stored before the rule stands for the character: a name edited around it is refused
    too, never saved with the six characters "\\u202e" in it."""
    user = make_user(full_name=stored)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "full_name": typed}

    response = admin_client.post(url, data=form)

    assert response.status_code == 200
    assert "this has U+202E" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).full_name == stored


def test_a_quota_reset_in_the_past_is_a_form_error_and_nothing_changes(admin_client):
    """Regression: a reset typed in the past was saved; the texter's next text then started
    a new window, as if staff had reset their requests (the action that says so)."""
    user = make_user(monthly_requests=7)
    before = user.rate_limit_reset
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    yesterday = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = admin_client.post(
        url, data={**form_as_shown(admin_client, url), "rate_limit_reset": yesterday}
    )
    assert response.status_code == 200
    assert "Enter a time after now" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).rate_limit_reset == before

    form = new_user_form(admin_client, "+15551230078", rate_limit_reset=yesterday)
    assert admin_client.post("/admin/user/new/", data=form).status_code == 200
    assert db.session.get(User, "+15551230078") is None


def test_a_reset_that_has_passed_left_as_shown_does_not_stop_a_save(admin_client):
    """A texter who has not texted since their window ended still has its end stored (the
    next text rolls it): their form saves other changes as it is."""
    user = make_user(rate_limit_reset=utcnow() - timedelta(days=3), full_name="Ann")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "full_name": "Ann Smith"}
    assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).full_name == "Ann Smith"


def test_a_quota_reset_typed_with_a_new_timezone_is_saved_as_typed(admin_client):
    """Regression: changing the timezone and typing a reset in the same save moved the typed
    reset to midnight in the new timezone; a reset left as shown still moves there."""
    user = make_user(timezone="UTC")
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    for typed, reset in [
        ({"timezone": "Asia/Tokyo", "rate_limit_reset": "2030-03-15 12:00:00"}, "03-15 12:00"),
        ({"timezone": "America/New_York"}, "03-15 04:00"),  # midnight there (EDT), the same day
    ]:
        form = {**form_as_shown(admin_client, url), **typed}
        assert admin_client.post(url, data=form).status_code == 302
        db.session.expire_all()
        saved = db.session.get(User, user.phone_number)
        assert saved.timezone == typed["timezone"]
        assert saved.rate_limit_reset.strftime("%m-%d %H:%M") == reset


def test_a_name_and_email_that_fit_once_their_surrounding_spaces_go_are_saved(admin_client):
    """Regression: the length was checked before the spaces around were dropped, so a
    100-character name typed with two spaces before it was refused, although the name
    saved (without them) fits its 100 characters; an email alike."""
    name, email = "N" * 100, "e" * 64 + "@" + "d" * 60 + ".example"
    form = new_user_form(admin_client, "+15551230091", full_name="  " + name, email=f"  {email}  ")
    assert admin_client.post("/admin/user/new/", data=form).status_code == 302
    saved = db.session.get(User, "+15551230091")
    assert (saved.full_name, saved.email) == (name, email)
    too_long = new_user_form(admin_client, "+15551230092", full_name=" " + name + "N")
    assert "Field cannot be longer than 100 characters." in admin_client.post(
        "/admin/user/new/", data=too_long
    ).get_data(as_text=True)


def test_once_the_texters_month_has_rolled_over_the_list_shows_no_request_used(app, admin_client):
    """Regression: the texter's month ended at midnight in their timezone, but the list
    showed last month's count until their next text rolled it: the quota used up, for a
    texter whose USAGE said none was used and whose next text was answered (as the API)."""
    limit = app.config["QUOTA_FREE"]
    make_user(timezone="Asia/Tokyo", monthly_requests=limit, total_requests=limit + 7,
              rate_limit_reset=utcnow() - timedelta(hours=1))  # fmt: skip
    page = rows(admin_client, "/admin/user/")
    cells = re.findall(r'class="col-(monthly|total)_requests">\s*(\d+)\s*<', page)
    assert cells == [("total", str(limit + 7)), ("monthly", "0")]


def test_a_counter_too_long_to_read_is_a_form_error_saying_so(admin_client):
    """Regression: a count of more than 4,300 digits (Python reads no longer integer) was
    "Not a valid integer value.", of a number written in digits alone; the form now says
    what the API says of it."""
    user = make_user(phone_number="+15550004321", monthly_requests=7)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    data = {"tier": "free", "timezone": "UTC", "monthly_requests": "9" * 4301}
    data["csrf_token"] = csrf_for(admin_client, url)

    response = admin_client.post(url, data=data)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "More digits than any number this service takes (at most 4300)." in page
    assert "Not a valid integer value." not in page
    db.session.rollback()
    assert db.session.get(User, "+15550004321").monthly_requests == 7


def test_a_texter_whose_month_has_ended_is_shown_when_the_running_window_ends(admin_client):
    """Regression: the page showed the running window's count (0 once the texter's month
    has ended) beside the ended window's reset, a moment already past, until the texter's
    next request or the hourly roll; it shows when the window their next request counts in
    ends, midnight on the first of next month in their timezone."""
    user = make_user(timezone="Asia/Tokyo", monthly_requests=7,
                     rate_limit_reset=utcnow() - timedelta(hours=1))  # fmt: skip
    page = admin_client.get(f"/admin/user/details/?id={quote(user.phone_number)}")
    page = page.get_data(as_text=True)
    ends = first_of_next_month(utcnow(), "Asia/Tokyo")
    assert ends.strftime("%Y-%m-%d %H:%M:%S UTC") in page


#: A name saved before names were checked (clean_text.name_problem): U+202E made it read
#: "Ann google.com" in the admin.
OLD_NAME = "Ann \u202emoc.elgoog"
OLD_PHONE = "+15550100077"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/user/",
        f"/admin/user/details/?id={quote(OLD_PHONE)}",
        f"/admin/user/conversation/?id={quote(OLD_PHONE)}",
        "/admin/inbox/",
        "/admin/apitoken/",
        "/admin/errorlog/",
        "/admin/",  # the dashboard's latest errors
    ],
)
def test_a_direction_override_stored_before_the_rules_is_shown_escaped_not_obeyed(
    admin_client, url
):
    """Regression: a name (or notes) stored before the name and prose rules still showed
    backwards; the page now writes the override as its escape, and the data stays as stored."""
    user = make_user(OLD_PHONE, full_name=OLD_NAME)
    token, _key = ApiToken.issue(name=OLD_NAME, user=user)
    db.session.add(token)
    make_error(error_message=OLD_NAME, user_phone=OLD_PHONE)
    db.session.commit()

    page = rows(admin_client, url)

    assert "\u202e" not in page
    assert "Ann \\u202emoc.elgoog" in page
    db.session.expire_all()
    assert db.session.get(User, OLD_PHONE).full_name == OLD_NAME


def test_a_texters_direction_override_shows_as_its_escape_in_the_thread(admin_client):
    """Regression: the conversation's bubbles wrote a texter's words as sent, so an override
    in them showed the rest of the bubble backwards to staff ("moc.elgoog" as a link-like
    "google.com"); written as its escape, staff see what was sent. The task keeps it."""
    user = make_user(OLD_PHONE)
    task = make_task(user, sms_content="see \u202emoc.elgoog", ai_response="ok")

    page = admin_client.get(f"/admin/user/conversation/?id={quote(OLD_PHONE)}").get_data(
        as_text=True
    )

    assert "\u202e" not in page
    assert "see \\u202emoc.elgoog" in page
    db.session.expire_all()
    assert db.session.get(Task, task.id).sms_content == "see \u202emoc.elgoog"


@pytest.mark.parametrize("mark", ["\u200f", "\u061c"])
def test_a_texters_direction_mark_shows_as_its_escape_in_the_thread_list_and_details(
    admin_client, mark
):
    """Regression: an override showed as its escape, a right-to-left mark as nothing."""
    user = make_user(OLD_PHONE, full_name=f"Ann{mark} 12")
    task = make_task(user, sms_content=f"price 100{mark}-200", ai_response="ok")
    escape = f"\\u{ord(mark):04x}"

    thread = rows(admin_client, f"/admin/user/conversation/?id={quote(OLD_PHONE)}")
    listed = rows(admin_client, "/admin/user/") + rows(
        admin_client, f"/admin/task/details/?id={task.id}"
    )

    assert mark not in thread + listed
    assert f"price 100{escape}-200" in thread
    assert f"Ann{escape} 12" in listed and f"price 100{escape}-200" in listed


def _row_with_old_text(kind: str, field: str):
    """A row holding OLD_NAME in `field`, as stored before the name and prose rules."""
    if kind == "user":
        return make_user(OLD_PHONE, **{field: OLD_NAME})
    if kind == "task":
        return make_task(make_user(OLD_PHONE), **{"ai_response": "ok", field: OLD_NAME})
    return make_error(**{field: OLD_NAME})


OLD_TEXT_FIELDS = [
    ("user", "full_name"),
    ("task", "ai_response"),
    ("task", "sms_content"),
    ("errorlog", "error_message"),
    ("errorlog", "resolution_notes"),
]


@pytest.mark.parametrize(("kind", "field"), OLD_TEXT_FIELDS)
def test_an_edit_box_shows_a_stored_direction_override_as_its_escape(admin_client, kind, field):
    """Regression: the list showed "Ann \\u202emoc.elgoog", but the edit box held the override
    itself and showed "Ann google.com", the words after it backwards."""
    row = _row_with_old_text(kind, field)
    row_id = quote(OLD_PHONE) if kind == "user" else row.id

    form = form_as_shown(admin_client, f"/admin/{kind}/edit/?id={row_id}")

    assert form[field].strip() == "Ann \\u202emoc.elgoog"
    assert "\u202e" not in "".join(form.values())


def test_a_name_left_escaped_as_shown_saves_the_rest_and_keeps_the_name(admin_client):
    make_user(OLD_PHONE, full_name=OLD_NAME)
    url = f"/admin/user/edit/?id={quote(OLD_PHONE)}"
    form = {**form_as_shown(admin_client, url), "timezone": "Europe/Paris"}

    assert admin_client.post(url, data=form).status_code == 302

    db.session.expire_all()
    user = db.session.get(User, OLD_PHONE)
    assert (user.full_name, user.timezone) == (OLD_NAME, "Europe/Paris")


def test_a_texters_words_edited_keep_the_character_their_escape_shows(admin_client):
    task = make_task(make_user(OLD_PHONE), sms_content=OLD_NAME, ai_response="ok")
    url = f"/admin/task/edit/?id={task.id}"
    form = {**form_as_shown(admin_client, url), "sms_content": "Ann \\u202emoc.elgoog!"}

    assert admin_client.post(url, data=form).status_code == 302

    db.session.expire_all()
    assert db.session.get(Task, task.id).sms_content == OLD_NAME + "!"


#: A model's answer about Unicode escapes: the six characters, not the character they name.
WRITTEN_ESCAPE = "In JavaScript, '\\u200b' is a zero-width space and '\\u202e' reverses text."


def test_an_answer_that_writes_an_escape_out_keeps_it_when_staff_save_the_task(admin_client):
    """Regression: the edit box read every escape typed back as its character, so saving a
    task whose answer explains "\\u200b" (changing nothing, or another field) stored an
    invisible character in its place: the answer staff and the API read was no longer the
    one the texter got."""
    task = make_task(make_user(OLD_PHONE), ai_response=WRITTEN_ESCAPE)
    url = f"/admin/task/edit/?id={task.id}"

    assert admin_client.post(url, data=form_as_shown(admin_client, url)).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).ai_response == WRITTEN_ESCAPE

    edited = {**form_as_shown(admin_client, url), "ai_response": WRITTEN_ESCAPE + " Done."}
    assert admin_client.post(url, data=edited).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).ai_response == WRITTEN_ESCAPE + " Done."


def test_an_escape_shown_for_a_stored_character_beside_a_written_one_reads_back_as_it(
    admin_client,
):
    """The box shows a stored override as its escape and a written-out escape as written;
    saved as shown, each is what it was."""
    stored = "see \u202emoc.elgoog; " + WRITTEN_ESCAPE.replace("\\u202e", "\\u2066")
    task = make_task(make_user(OLD_PHONE), sms_content=stored, ai_response="ok")
    url = f"/admin/task/edit/?id={task.id}"

    edited = {**form_as_shown(admin_client, url)}
    edited["sms_content"] = edited["sms_content"] + "!"
    assert admin_client.post(url, data=edited).status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).sms_content == stored + "!"


NEVER_TEXTED = "+15551230004"


def test_a_texter_staff_create_has_never_been_active_until_they_text(admin_client):
    """Regression: the admin's Create set last_active to the moment staff saved the form, so
    the list, the texter's page and the dashboard showed a texter who never texted as active
    (now "never", and the "Last active: empty" filter finds them)."""
    response = admin_client.post("/admin/user/new/", data=new_user_form(admin_client, NEVER_TEXTED))
    assert response.status_code == 302
    make_user("+15551230003", full_name="Texted Tess")

    assert db.session.get(User, NEVER_TEXTED).last_active is None
    listed = re.search(
        rf"<tr>(?:(?!</tr>).)*{re.escape(NEVER_TEXTED)}.*?</tr>",
        rows(admin_client, "/admin/user/"),
        re.S,
    )
    assert "never" in listed.group(0)
    details = rows(admin_client, f"/admin/user/details/?id={quote(NEVER_TEXTED)}")
    assert re.search(r"Last active(?:(?!</tr>).)*>\s*never\s*<", details, re.S)
    edit = rows(admin_client, f"/admin/user/edit/?id={quote(NEVER_TEXTED)}")
    assert 'data-readonly="last_active">never<' in edit
    never = rows(admin_client, "/admin/user/?flt0_last_active_empty=1")
    assert NEVER_TEXTED in never and "Texted Tess" not in never
    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    summary = re.search(r'data-testid="summary".*?data-testid="chart-daily"', dashboard, re.S)
    users, active_day, active_week = re.findall(r'sms-card-value">([^<]+)<', summary.group(0))[:3]
    assert (users, active_day, active_week) == ("2", "1", "1")
