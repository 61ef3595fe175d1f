"""The texter's monthly spend cap per tier (SPEND_CAP_<TIER>): past it, one notice a month
and no answers, nor tasks through the API, until the next UTC month."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sms_agent import handoff, limits
from sms_agent import notices as notices_module
from sms_agent.costs import report
from sms_agent.extensions import db
from sms_agent.models import ModelCall, RefusalReason, Task, User, first_of_next_month, utcnow
from sms_agent.notices import spend_cap_text
from tests.admission import (
    PHONE,
    D,
    answers,
    api_create,
    notices,
    spent,
    stored,
    text,
    text_on_whatsapp,
    text_with,
)
from tests.factories import make_staff, make_task, make_token, make_user
from tests.test_webhook import queued_jobs

pytestmark = pytest.mark.usefixtures("mid_month_noon")


def test_a_texter_past_the_spend_cap_gets_one_notice_and_is_not_answered(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE)
    spent(PHONE, "0.50")
    text(client)
    assert notices(app) == ["spend_cap"]
    text(client, "And now?")
    assert notices(app) == []  # one notice per month
    assert stored() == [("refused", "over_spend"), ("refused", "over_spend")]
    assert db.session.get(User, PHONE).monthly_requests == 0  # never counted


def told_of_the_cap_then_moved_to_premium(app, client, premium_cap: str) -> None:
    """A free texter at free's cap of 0.50 USD told so, then moved by staff to premium."""
    app.config.update(SPEND_CAP_FREE=D("0.50"), SPEND_CAP_PREMIUM=D(premium_cap))
    make_user(PHONE)
    spent(PHONE, "0.50")
    text(client)
    assert notices(app) == ["spend_cap"]
    user = db.session.get(User, PHONE)
    user.tier = "premium"
    db.session.commit()


def test_a_texter_moved_to_a_higher_cap_is_told_again_when_they_reach_it(app, client):
    """Regression: the notice was kept per month alone, so a texter staff upgraded within
    the month, answered again under premium's higher cap, met silence once they reached it."""
    told_of_the_cap_then_moved_to_premium(app, client, premium_cap="1.00")
    text(client, "Answered again?")
    assert answers(queued_jobs(app)) == 1
    spent(PHONE, "0.50")
    text(client, "And now?")
    text(client, "Still there?")
    assert notices(app) == ["spend_cap"]  # once at the new cap too
    assert [reason for _s, reason in stored()] == ["over_spend", None, "over_spend", "over_spend"]


def test_a_texter_moved_to_a_cap_that_still_has_no_room_is_not_told_again(app, client):
    """Regression: the notice's run named the cap, so a texter moved to a tier whose cap
    still had no room for them got the month's spend_cap notice a second time, answered
    nothing in between. One notice a month unless they were answered again."""
    told_of_the_cap_then_moved_to_premium(app, client, premium_cap="0.501")
    text(client, "And now?")
    assert notices(app) == []
    assert [reason for _s, reason in stored()] == ["over_spend", "over_spend"]


def test_texts_sent_at_once_do_not_take_a_texter_past_the_cap(app, client):
    """Regression: each text was checked against what the texter had cost so far, before
    any of the ones before it had been answered, so ten texts at once just under the cap
    were all admitted and answered past it. A request still being answered now counts at
    what an answer may cost (3 segments to the US and the model's share, about 0.025 USD
    on free), until its own cost is in: two answers fit under the 0.06 USD left."""
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    make_user(PHONE)
    spent(PHONE, "0.04")
    for n in range(5):
        text(client, f"Question {n}?")
    assert stored() == [("queued", None)] * 2 + [("refused", "over_spend")] * 3
    assert notices(app) == ["spend_cap"]
    db.session.execute(sa.update(Task).values(status="completed"))  # answered, for nothing
    db.session.commit()
    text(client, "One more?")
    assert stored()[-1] == ("queued", None)


def test_a_text_whose_answer_would_take_the_texter_past_the_cap_is_refused(app, client):
    """Regression: the cap counted what the texter had cost and what their answers under
    way may cost, but not the answer of the text being admitted: 0.09 USD of a 0.10 cap
    spent, a text was answered for about 0.025 more, and the month went past the cap. Now
    a text is taken on only if its own answer fits under the cap too."""
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    user = make_user(PHONE)
    spent(PHONE, "0.07")
    text(client, "Fits?")
    db.session.execute(sa.update(Task).values(status="completed"))  # answered, for nothing
    db.session.commit()
    spent(PHONE, "0.02")
    text(client, "And this one?")
    assert stored() == [("completed", None), ("refused", "over_spend")]
    assert notices(app) == ["spend_cap"]
    assert "and are at its usage limit: texts are not answered until" in (
        notices_module.usage_text(user)
    )


def test_a_voice_note_whose_transcription_would_not_fit_under_the_cap_is_refused(app, client):
    """Regression: a text was taken on when its answer fitted under the cap, though a voice
    note is transcribed first, billed by the minute (the longest one, about 0.07 USD on
    whisper-1, costs more than the answer): with 0.05 USD left a voice note was answered
    for about 0.095, past the cap. A text without one still fits."""
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    make_user(PHONE)
    spent(PHONE, "0.05")
    text_with(client, "audio/amr")
    text(client, "And a plain question?")
    assert stored() == [("refused", "over_spend"), ("queued", None)]


def test_an_answer_under_way_since_last_month_counts_against_this_months_cap(app):
    """Regression: the answers under way were counted from the month's first moment, so
    one asked a minute before midnight UTC on the 31st, paid for after it, counted in
    neither month: a texter near the new month's cap was admitted again on top of it, as
    the daily cap already counts yesterday's answers under way."""
    app.config.update(SPEND_CAP_FREE=D("0.05"))
    user = make_user(PHONE)
    make_task(user, status="queued", created_at=datetime(2027, 1, 31, 23, 59, tzinfo=UTC))
    db.session.add(
        ModelCall(
            user_phone=PHONE,
            model="gpt-4o",
            cost_usd=D("0.01"),
            created_at=datetime(2027, 2, 1, tzinfo=UTC),
        )
    )
    db.session.commit()
    now = datetime(2027, 2, 1, 0, 1, tzinfo=UTC)
    assert limits.admit(user, now).refusal is RefusalReason.OVER_SPEND


def test_whatsapp_texts_sent_at_once_count_at_what_a_whatsapp_answer_may_cost(app, client):
    """Regression: a WhatsApp answer is one message (the rest waits for MORE), yet each
    still being answered counted at the tier's SMS segments, three times that on free
    (twenty on enterprise), and then at an SMS segment's price (0.0083 USD to the US)
    though a WhatsApp message costs 0.005: a WhatsApp texter sending a few texts at once,
    nowhere near the cap, was refused `over_spend` and told the month's cap was reached.
    Counted at about 0.0054 USD each with the model, ten fit under the 0.06 USD left."""
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    make_user(PHONE)
    spent(PHONE, "0.04")
    for n in range(10):
        text_on_whatsapp(client, f"Question {n}?")
    assert stored() == [("queued", None)] * 10
    assert notices(app) == []


def test_pictures_under_way_count_with_the_tokens_the_model_reads_them_as(app, client):
    """Regression: a request under way counted at its answer alone, though each picture is
    read by gpt-4o as 765 more prompt tokens (at 10 USD per 1M, 0.038 USD for five): texts
    of five pictures each passed a cap that had room for their answers (about 0.045 USD
    each) but not their pictures."""
    app.config.update(
        SPEND_CAP_FREE=D("0.20"),
        OPENAI_MODEL="gpt-4o",
        MODEL_PRICES={"gpt-4o": {"input": D("10"), "output": D("0.6")}},
    )
    make_user(PHONE)
    spent(PHONE, "0.03")
    for _text in range(3):
        text_with(client, "image/jpeg", count=5, body="What is this?")
    assert stored() == [("queued", None), ("queued", None), ("refused", "over_spend")]


def test_pictures_for_gpt_4o_mini_count_at_the_tokens_it_bills_them_as(app, client):
    """Regression: every picture under way counted as gpt-4o's 765 prompt tokens, but
    gpt-4o-mini (OPENAI_MODEL's default) bills a picture at gpt-4o's price in dollars, so
    as 2,833 + 5,667 tokens a 512px tile: 25,501 for a phone's photo, about 0.0038 USD,
    not 0.0001. A text of ten pictures (0.038 USD to read) passed a cap with 0.03 USD left,
    counted at its answer (about 0.026 USD) and 0.001 for the pictures. A text without
    pictures still fits."""
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    make_user(PHONE)
    spent(PHONE, "0.07")
    text_with(client, "image/jpeg", count=10, body="Which of these is ripe?")
    text(client, "And a plain question?")
    assert stored() == [("refused", "over_spend"), ("queued", None)]


def test_api_tasks_created_at_once_do_not_take_a_texter_past_the_cap(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    make_user(PHONE)
    spent(PHONE, "0.04")
    assert [api_create(client).status_code for _ in range(3)] == [201, 201, 429]


def test_usage_tells_a_capped_texter_when_texts_are_answered_again(app, client):
    """Regression: the cap's notice asks them to reply USAGE, which said only "You have
    used 1 of 100 requests", as if they had 99 answers left."""
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    user = make_user(PHONE, monthly_requests=1, timezone="Pacific/Honolulu")
    assert "Your quota resets on" in notices_module.usage_text(user)
    spent(PHONE, "0.50")
    assert notices_module.usage_text(user) == (
        "You have used 1 of 100 requests this month (free plan) and are at its usage "
        "limit: texts are not answered until Jan 31 14:00."
    )


def test_the_spend_cap_counts_this_month_only_and_only_for_its_tier(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE)
    spent(PHONE, "9.99", days_ago=40)  # last month's
    premium = make_user(tier="premium")
    spent(premium.phone_number, "9.99")
    text(client)
    text(client, phone=premium.phone_number)
    assert answers(queued_jobs(app)) == 2
    assert stored() == [("queued", None), ("queued", None)]


def test_a_new_timezone_at_the_months_end_does_not_lift_the_spend_cap(app):
    """Moving east, where the next month has begun, brings no fresh cap: the cap's month is
    the UTC month, which no timezone moves."""
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    user = make_user(PHONE, timezone="Etc/GMT+12")  # UTC-12: the evening of January 30
    now = datetime(2027, 1, 31, 10, 5, tzinfo=UTC)
    earlier = datetime(2027, 1, 20, tzinfo=UTC)
    db.session.add(
        ModelCall(user_phone=PHONE, model="gpt-4o", cost_usd=D("0.60"), created_at=earlier)
    )
    db.session.commit()
    assert limits.admit(user, now).refusal is RefusalReason.OVER_SPEND
    user.timezone = "Pacific/Kiritimati"  # UTC+14, where February 1 has begun
    db.session.commit()
    assert limits.admit(user, now).refusal is RefusalReason.OVER_SPEND
    assert "not answered until Feb 1 14:00." in spend_cap_text(user, now)  # midnight UTC
    assert limits.admit(user, datetime(2027, 2, 1, tzinfo=UTC)).refusal is None


@pytest.mark.parametrize(
    ("timezone", "lifts"),
    [("UTC", "Feb 1."), ("Pacific/Honolulu", "Jan 31 14:00."), ("Asia/Kolkata", "Feb 1 05:30.")],
)
def test_the_spend_cap_notice_says_when_the_cap_lifts_in_the_texters_time(app, timezone, lifts):
    """The cap's month is the UTC month: its end is midnight UTC, told in the texter's time."""
    user = make_user(PHONE, timezone=timezone)
    now = datetime(2027, 1, 20, 12, tzinfo=UTC)
    assert f"Texts are not answered until {lifts}" in spend_cap_text(user, now)


def test_an_unset_cap_means_no_cap(app, client):
    make_user(PHONE)
    spent(PHONE, "1000")
    text(client)
    assert stored() == [("queued", None)]


def test_the_spend_cap_refuses_api_tasks_too(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE)
    spent(PHONE, "0.60")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "Hi"}, headers=headers
    )
    assert response.status_code == 429
    assert response.get_json()["details"]["reason"] == "over_spend"


def test_the_api_says_when_the_spend_cap_lifts(app, client):
    """Like the quota's 429: the time in the body, the seconds left in Retry-After; the cap
    lifts when the next UTC month starts, whatever the texter's timezone."""
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE, timezone="Pacific/Honolulu")
    spent(PHONE, "0.60")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}

    before = utcnow()
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "Hi"}, headers=headers
    )
    after = utcnow()

    assert response.status_code == 429
    lifts = datetime.fromisoformat(response.get_json()["details"]["spend_cap_lifts"])
    assert lifts == first_of_next_month(before) and lifts.utcoffset() == timedelta(0)
    seconds = int(response.headers["Retry-After"])
    assert (lifts - after).total_seconds() <= seconds <= math.ceil((lifts - before).total_seconds())


def test_a_texter_refused_on_answers_under_way_then_answered_is_told_when_they_reach_the_cap(
    app, client
):
    """Regression: a text refused because the answers still under way might take the
    texter past the cap used up the month's notice; those answers cost less than they
    might, the texter was answered again, and when they did reach the cap later their
    texts were refused in silence. As with the quota, a run of refusals ends when a request
    is admitted again, and the next run gets its notice."""
    app.config.update(SPEND_CAP_FREE=D("0.10"))
    make_user(PHONE)
    spent(PHONE, "0.04")
    for n in range(3):
        text(client, f"Question {n}?")
    assert notices(app) == ["spend_cap"]
    assert [reason for _s, reason in stored()] == [None, None, "over_spend"]
    db.session.execute(sa.update(Task).values(status="completed"))  # answered, for nothing
    db.session.commit()
    text(client, "Answered again?")
    assert answers(queued_jobs(app)) == 1
    db.session.execute(sa.update(Task).values(status="completed"))
    db.session.commit()
    spent(PHONE, "0.05")
    text(client, "And now?")
    text(client, "Still there?")
    assert notices(app) == ["spend_cap"]  # told once more, then one notice for the run


def test_what_staff_texted_a_texter_does_not_count_toward_their_cap(app, client):
    """Regression: a staff member's SMS to a texter (the conversation page, the API's
    send_message) counted toward the texter's monthly spend cap, so a texter staff wrote
    to at length was refused `over_spend` for texts they never asked for. They stay in the
    service's spend and the texter's reports."""
    app.config.update(SPEND_CAP_FREE=D("0.05"))
    user = make_user(PHONE)
    staff = make_staff("agent")
    for _ in range(4):
        handoff.send_as_staff(user, "Your refund is on its way. " * 40, staff)
        db.session.commit()
    assert report.spent_by(PHONE) >= D("0.05")  # 4 x 7 segments at 0.0083 USD
    text(client)
    assert stored() == [("queued", None)]


def test_help_tells_a_capped_texter_when_texts_are_answered_again(app):
    """Regression: the cap's notice says "Reply USAGE or HELP any time", and HELP said "99
    of 100 left", as if their texts would be answered."""
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    user = make_user(PHONE, monthly_requests=1, timezone="Pacific/Honolulu")
    spent(PHONE, "0.50")
    assert notices_module.help_text(user).startswith(
        "SMS-to-AI Agent: AI answers paused until Jan 31 14:00. Text MORE, AGENT,"
    )


@pytest.mark.parametrize("cap", ["SPEND_CAP_FREE", "DAILY_SPEND_CAP"])
@pytest.mark.parametrize(("state", "admitted"), [({}, False), (None, True)])
def test_a_first_answer_has_room_for_the_program_notice_before_it(
    app, client, cap, state, admitted
):
    """Regression: a number's first answer goes out after the program notice, an SMS the
    caps did not count: with room for the answer alone, the texter was answered and the
    month's (or the day's) spend went past the cap by the notice. A texter who had it
    (None: an established one) is answered with the same room."""
    from sms_agent.costs.prices import inbound_price

    fields = {} if state is None else {"service_state": state}
    user = make_user(PHONE, **fields)
    received = inbound_price(False, 0, 1)
    app.config[cap] = received + limits._this_answer(user)  # room for the answer alone
    text(client)
    assert stored() == [("queued", None) if admitted else ("refused", RefusalReason(
        {"SPEND_CAP_FREE": "over_spend", "DAILY_SPEND_CAP": "daily_cap"}[cap]).value)]  # fmt: skip


def test_a_program_notice_before_a_staff_notice_counts_once_toward_the_cap(app):
    """Decided (not changed): the program notice goes before the first thing a number gets
    on a channel, once; when that is a notice staff caused (a tier change's), it still
    counts toward the texter's monthly cap, though the notice after it does not: their
    first answer then goes without it, so every texter's cap counts it exactly once,
    whatever came first, and a texter staff wrote to first is not given it free."""
    from sms_agent.costs.prices import estimate_sms

    user = make_user(PHONE, service_state={})
    notices_module.send_notice(user, "tier_change")
    db.session.commit()
    spent_so_far, _under_way = report.spent_and_in_flight(PHONE, report.month_start())
    assert spent_so_far == estimate_sms(PHONE, 1)  # the program notice's, not the tier change's
    first_answer = limits._request_cost(user, utcnow(), limits.A_TEXT, limits._this_answer(user))
    assert first_answer == limits._this_answer(user)  # no second notice reserved
