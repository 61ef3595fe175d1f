"""Two saves of one texter's tier at once (a double click on Upgrade or Save, two admins):
the texter is told of the change once."""

from __future__ import annotations

import time
from unittest import mock
from urllib.parse import quote

import sqlalchemy as sa
from flask_admin.contrib.sqla import ModelView

from sms_agent.admin import users as user_admin
from sms_agent.extensions import db
from sms_agent.models import User
from tests.admin.conftest import csrf_for, form_as_shown, post_at_once
from tests.broker import drained
from tests.factories import make_user
from tests.lock_waits import in_app_thread

#: How long each post holds on between reading the texter and committing: long enough for
#: the other post to read the texter meanwhile, unless it has to wait for the first.
SLOW = 0.3


def told(app) -> list[str]:
    """The tier-change notices queued (each a job for one texter)."""
    return [m for m in drained(app) if m.headers["task"].endswith("send_notice")]


def test_two_simultaneous_upgrades_of_one_texter_text_them_once(app, admin_client):
    user = make_user(monthly_requests=40)
    drained(app)  # what earlier tests left in the in-memory broker
    form = {
        "action": "upgrade_to_premium",
        "rowid": [user.phone_number],
        "csrf_token": csrf_for(admin_client, "/admin/user/"),
        "url": "/admin/user/",
    }
    real = user_admin.change_tier

    def slow_change(*args):
        time.sleep(SLOW)
        return real(*args)

    with mock.patch.object(user_admin, "change_tier", slow_change):
        statuses = post_at_once(app, admin_client, "/admin/user/action/", form)
    assert statuses == [302, 302]
    assert len(told(app)) == 1
    db.session.expire_all()
    upgraded = db.session.get(User, user.phone_number)
    assert (upgraded.tier, upgraded.monthly_requests) == ("premium", 0)


def test_two_simultaneous_saves_of_one_tier_change_text_the_texter_once(app, admin_client):
    user = make_user()
    drained(app)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "tier": "premium"}
    real = ModelView.update_model

    def slow_update(view, *args):
        time.sleep(SLOW)
        return real(view, *args)

    with mock.patch.object(ModelView, "update_model", slow_update):
        statuses = post_at_once(app, admin_client, url, form)
    assert statuses == [302, 302]
    assert len(told(app)) == 1


def test_a_save_while_a_text_is_counted_keeps_the_count(app, admin_client):
    """Regression: saving a texter's name while one of their texts was being counted (the
    save waits for the texter's lock, then reads the row again) wrote back the counters the
    form had read before the lock: the request was lost, a free one for the texter."""
    user = make_user(total_requests=7, monthly_requests=3)
    url = f"/admin/user/edit/?id={quote(user.phone_number)}"
    form = {**form_as_shown(admin_client, url), "full_name": "Renamed"}
    real = user_admin.lock_texter

    def counted_meanwhile(phone):
        # A text counted in another transaction, committed while this save waited for it.
        thread = in_app_thread(app, lambda: count_a_request(phone), {}, "webhook")
        thread.start()
        thread.join()
        return real(phone)

    with mock.patch.object(user_admin, "lock_texter", counted_meanwhile):
        assert admin_client.post(url, data=form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.phone_number)
    assert (saved.full_name, saved.total_requests, saved.monthly_requests) == ("Renamed", 8, 4)


def count_a_request(phone: str) -> None:
    db.session.execute(
        sa.update(User)
        .where(User.phone_number == phone)
        .values(total_requests=User.total_requests + 1, monthly_requests=User.monthly_requests + 1)
    )
    db.session.commit()
