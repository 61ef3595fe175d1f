"""The service's daily spend cap (DAILY_SPEND_CAP): alerts at 80% and 100%, then only
keywords are answered until midnight UTC or until staff raise the cap."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from sms_agent import limits
from sms_agent.extensions import db
from sms_agent.models import SpendDay, Task, User, utcnow
from sms_agent.notices import paused_text
from tests.admission import (
    PHONE,
    D,
    answers,
    api_create,
    assert_lifts_at,
    notices,
    spent,
    stored,
    text,
    text_on_whatsapp,
    text_with,
)
from tests.factories import make_staff, make_token, make_user
from tests.lock_waits import in_app_thread, waiting_for_locks
from tests.standins import inbound_form, signed_post, twilio_standin
from tests.test_webhook import queued_jobs

pytestmark = pytest.mark.usefixtures("mid_month_noon")


@pytest.fixture
def alert_hook(app):
    with twilio_standin() as hook:
        app.config.update(DAILY_SPEND_CAP=D("1.00"), ALERT_WEBHOOK_URL=hook.url + "/alert")
        yield hook


def alerts_posted(hook, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while len(hook.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # nothing more arrives
    return [body for _method, _path, body in hook.requests]


def test_the_daily_cap_alerts_at_80_and_100_percent_once_each(app, client, alert_hook, caplog):
    make_user(PHONE)
    spent(PHONE, "0.79")
    text(client, "one")
    assert alerts_posted(alert_hook, 0) == []
    spent(PHONE, "0.01")
    text(client, "two")
    text(client, "three")
    [eighty] = alerts_posted(alert_hook, 1)
    assert eighty["error_type"] == "daily_spend_cap" and eighty["level"] == 80
    spent(PHONE, "0.20")
    text(client, "four")
    text(client, "five")
    [_, hundred] = alerts_posted(alert_hook, 2)
    assert hundred["level"] == 100 and "only keywords" in hundred["message"]
    assert caplog.text.count("ALERT daily_spend_cap") == 2
    assert [reason for _s, reason in stored()] == [None, None, None, "daily_cap", "daily_cap"]


def test_a_raised_cap_alerts_at_its_own_80_percent(app, client, alert_hook, runner):
    """Regression: raising the cap re-armed only the 100% alert, so the spend nearing the
    raised cap gave the operator no warning before texters were refused again."""
    make_user(PHONE)
    spent(PHONE, "1.00")
    text(client, "one")
    assert sorted(a["level"] for a in alerts_posted(alert_hook, 2)) == [80, 100]
    assert runner.invoke(args=["spend", "raise-cap", "2"]).exit_code == 0
    spent(PHONE, "0.60")
    text(client, "two")
    [*_before, eighty] = alerts_posted(alert_hook, 3)
    assert eighty["level"] == 80
    assert "80% of the daily cap of 2.000000 USD" in eighty["message"]


def test_the_80_percent_alert_says_what_share_of_the_cap_is_spent(app, client, alert_hook):
    """Regression: a day whose spend went past 80% and 100% at once (a large spend, or a cap
    lowered below it) had its 80% alert say "spent 1.508300 USD today ..., 80% of the daily
    cap of 1.000000 USD": the operator read 80% of a cap already passed by half."""
    make_user(PHONE)
    spent(PHONE, "1.50")
    text(client, "one")
    eighty = next(a for a in alerts_posted(alert_hook, 2) if a["level"] == 80)
    assert "80% of the daily cap" not in eighty["message"]
    assert "150% of the daily cap of 1.000000 USD" in eighty["message"]


@pytest.mark.parametrize("door", ["webhook", "api"])
def test_texts_crossing_80_percent_in_two_processes_at_once_are_both_taken(
    app, client, alert_hook, door
):
    """Regression: the first process to see the day's spend cross 80% stores the day's
    alert row; one seeing it at the same moment found no row either, stored its own and
    failed on the other's (POST /api/tasks/ answered 500; the webhook only lived through
    it by going through the whole text again). Now it finds the row, and the alert stays
    the other's, sent once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    make_user(PHONE)
    spent(PHONE, "0.80")
    token = make_token(make_staff("admin", is_admin=True))
    other = db.engine.connect()  # the other process, which claimed the alert, not committed
    other.execute(sa.insert(SpendDay).values(day=utcnow().date(), alerted_80=True))
    results: dict = {}

    def post():
        if door == "api":
            body = {"user_phone": PHONE, "sms_content": "What is DNS?"}
            headers = {"Authorization": "Token " + token}
            return app.test_client().post("/api/tasks/", json=body, headers=headers).status_code
        form = inbound_form("What is DNS?", From=PHONE)
        return signed_post(app.test_client(), "/sms/inbound", form).status_code

    thread = in_app_thread(app, post, results, "status")
    thread.start()
    waiting_for_locks(1)
    other.commit()
    other.close()
    thread.join(10)
    assert results["status"] in (200, 201)
    assert stored() == [("queued", None)]
    assert alerts_posted(alert_hook, 0) == []  # the other process's to send


def test_a_text_whose_answer_would_take_the_day_past_the_cap_is_refused(app, client, alert_hook):
    """Regression: the daily cap counted the day's spend and the answers under way, not
    the answer of the text being admitted, so each text just under the cap was answered
    past it. Now a text is taken on only if its own answer fits too; the 100% alert says
    answers stopped when they do, though the spend is not quite 100%."""
    make_user(PHONE)
    spent(PHONE, "0.99")
    text(client, "Fits?")
    assert stored() == [("refused", "daily_cap")]
    assert notices(app) == ["paused"]
    assert sorted(alert["level"] for alert in alerts_posted(alert_hook, 2)) == [80, 100]
    assert limits.answers_paused(db.session.get(User, PHONE))


def test_past_the_daily_cap_only_keywords_are_answered_until_staff_raise_it(
    app, client, alert_hook, runner
):
    make_user(PHONE)
    other = make_user()
    spent(other.phone_number, "1.00")
    text(client, "one")
    assert notices(app) == ["paused"]
    text(client, "two")
    assert notices(app) == []  # one notice a day
    text(client, "USAGE")
    assert notices(app) == ["usage"]
    result = runner.invoke(args=["spend", "raise-cap", "2.5"])
    assert result.exit_code == 0 and "2.500000 USD" in result.output
    text(client, "three")
    assert answers(queued_jobs(app)) == 1
    assert [reason for _s, reason in stored()] == ["daily_cap", "daily_cap", None]


def test_a_texter_told_of_the_cap_is_told_again_when_the_raised_cap_is_reached(
    app, client, alert_hook, runner
):
    """Regression: the paused notice was kept per day alone, so after staff raised the cap
    a texter who was answered again met silence once the raised cap was spent too."""
    make_user(PHONE)
    spent(PHONE, "1.00")
    text(client, "one")
    assert notices(app) == ["paused"]
    assert runner.invoke(args=["spend", "raise-cap", "2"]).exit_code == 0
    text(client, "two")
    assert answers(queued_jobs(app)) == 1
    spent(PHONE, "1.00")
    text(client, "three")
    text(client, "four")
    assert notices(app) == ["paused"]  # once at the raised cap too
    assert [reason for _s, reason in stored()] == ["daily_cap", None, "daily_cap", "daily_cap"]


def test_raising_the_cap_tells_no_texter_again_who_was_not_answered_since(
    app, client, alert_hook, runner
):
    """Regression: the paused notice's run named the cap, so each `flask spend raise-cap`
    that left a texter still refused sent them "paused" again the same day, though they had
    been told and answered nothing since. Told once; told again only once answered again."""
    make_user(PHONE)
    spent(PHONE, "1.00")
    text(client, "one")
    assert notices(app) == ["paused"]
    for raised in ("1.001", "1.002"):  # raised, but with no room for their answer yet
        assert runner.invoke(args=["spend", "raise-cap", raised]).exit_code == 0
        text(client, f"again at {raised}")
        assert notices(app) == []
    assert [reason for _s, reason in stored()] == ["daily_cap"] * 3


@pytest.mark.parametrize(
    ("timezone", "lifts"),
    [("UTC", "Jan 21."), ("America/New_York", "Jan 20 19:00."), ("Asia/Kolkata", "Jan 21 05:30.")],
)
def test_the_paused_notice_says_when_answers_resume_in_the_texters_time(app, timezone, lifts):
    """Regression: "paused answers for today. Please text again tomorrow" sent a texter in
    New York, refused in the morning, away until the next day; answers came back at 19:00
    their time (midnight UTC)."""
    user = make_user(PHONE, timezone=timezone)
    now = datetime(2027, 1, 20, 15, tzinfo=UTC)
    assert f"has paused answers until {lifts} Please text again then." in paused_text(user, now)


def test_past_the_daily_cap_an_empty_text_gets_no_how_to(app, client, alert_hook):
    """Regression: past the cap only keywords are answered, yet each empty text still got
    its how-to SMS, paid for past the cap. It now gets the day's one notice, then nothing."""
    make_user(PHONE)
    spent(PHONE, "1.00")
    for _text in range(3):
        text(client, " ")
    assert notices(app) == ["paused"]
    assert stored() == []  # an empty text is not stored, refused or not


def test_past_the_daily_cap_more_of_an_answer_is_not_sent(app, client, alert_hook):
    """Regression: MORE sent the next part of an answer (up to the tier's segments) past
    the cap, each time, though the day's notice says answers are paused. It now gets that
    notice once, then nothing; HELP and USAGE are still answered."""
    make_user(PHONE)
    spent(PHONE, "1.00")
    text(client, "MORE")
    text(client, "more")
    assert notices(app) == ["paused"]
    text(client, "HELP")
    assert notices(app) == ["help"]


@pytest.mark.parametrize("typo", ["nan", "NaN", "inf", "-inf", "1e400", "1e6", "ten", ""])
def test_raising_the_daily_cap_to_no_amount_is_refused_and_keeps_the_cap(app, runner, typo):
    """`nan` used to lift the cap altogether (stored as no cap), `inf` to crash."""
    app.config["DAILY_SPEND_CAP"] = Decimal("1.00")

    result = runner.invoke(args=["spend", "raise-cap", "--", typo])

    assert result.exit_code == 2 and "Invalid value for 'AMOUNT'" in result.output
    assert limits.daily_cap(utcnow().date()) == Decimal("1.00")


@pytest.mark.parametrize("typo", ["1_0", "\uff12", "\u0661", "1e-400", "0x10", "+5"])
def test_raising_the_daily_cap_reads_the_amount_by_the_number_rule(app, runner, typo):
    """Regression: "1_0" raised the cap to 10 USD and a fullwidth "２" to 2, where the
    admin's number boxes refuse both (numbers.read_number)."""
    app.config["DAILY_SPEND_CAP"] = Decimal("1.00")

    result = runner.invoke(args=["spend", "raise-cap", "--", typo])

    assert result.exit_code == 2 and "Invalid value for 'AMOUNT'" in result.output
    assert "digits 0-9" in result.output or "Too close to 0" in result.output
    assert limits.daily_cap(utcnow().date()) == Decimal("1.00")


def test_a_negative_cap_typed_without_dashes_is_refused_as_an_amount(app, runner):
    """Regression: `flask spend raise-cap -1` said "No such option: -1", as if the command
    had been misspelt; the amount is now refused as one, as "--" -1 is."""
    app.config["DAILY_SPEND_CAP"] = Decimal("1.00")

    result = runner.invoke(args=["spend", "raise-cap", "-1"])

    assert result.exit_code == 2 and "Invalid value for 'AMOUNT'" in result.output
    assert "at least 0" in result.output and "No such option" not in result.output
    assert limits.daily_cap(utcnow().date()) == Decimal("1.00")


@pytest.mark.parametrize("amount, cap", [(" 2.50 ", "2.5"), ("1e1", "10"), (".5", "0.5")])
def test_raising_the_daily_cap_takes_amounts_as_typed(app, runner, amount, cap):
    app.config["DAILY_SPEND_CAP"] = Decimal("1.00")

    assert runner.invoke(args=["spend", "raise-cap", "--", amount]).exit_code == 0
    assert limits.daily_cap(utcnow().date()) == Decimal(cap)


def test_raising_a_cap_that_is_not_set_is_refused(app, runner):
    """Regression: with no DAILY_SPEND_CAP, `flask spend raise-cap 5` said "Today's spend
    cap is now 5.000000 USD" while nothing capped the spend (`spend today`: "daily cap:
    none"), and an operator meaning to set a cap for the day believed they had."""
    app.config["DAILY_SPEND_CAP"] = None

    result = runner.invoke(args=["spend", "raise-cap", "5"])

    assert result.exit_code == 1
    assert "no DAILY_SPEND_CAP is set" in result.output
    assert "cap is now" not in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpendDay)) == 0


def test_yesterdays_spend_does_not_count_against_today(app, client, alert_hook):
    make_user(PHONE)
    spent(PHONE, "5.00", days_ago=1)
    text(client)
    assert stored() == [("queued", None)]
    assert alerts_posted(alert_hook, 0) == []


def test_the_api_says_the_daily_cap_lifts_at_midnight_utc(app, client, alert_hook):
    """Past the daily cap, the 429 names the next midnight UTC, whatever the texter's
    timezone, and Retry-After the seconds until then."""
    make_user(PHONE, timezone="Pacific/Honolulu")
    spent(make_user().phone_number, "1.00")

    before = utcnow()
    response = api_create(client)
    after = utcnow()

    assert response.get_json()["details"]["reason"] == "daily_cap"
    midnight = before.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert_lifts_at(response, "daily_cap_lifts", midnight, before, after)


def test_api_tasks_refused_at_the_daily_cap_page_staff_that_answers_stopped(
    app, client, alert_hook, caplog
):
    """Regression: the alert that answers stopped is claimed by the refusal that finds no
    room, and paged once that commits; the API rolls a refused task back, the claim and
    the page with it, so a service asked through the API alone reached its daily cap and
    refused every task with a 429 while no alert ever came. Each alert still goes once."""
    make_user(PHONE)
    spent(make_user().phone_number, "1.00")
    assert api_create(client).get_json()["details"]["reason"] == "daily_cap"
    assert api_create(client).status_code == 429
    eighty, hundred = sorted(alerts_posted(alert_hook, 2), key=lambda alert: alert["level"])
    assert eighty["level"] == 80  # passed on the way, claimed with the other
    assert hundred["level"] == 100 and "only keywords" in hundred["message"]
    assert caplog.text.count("ALERT daily_spend_cap") == 2


def test_texts_sent_at_once_do_not_all_pass_the_daily_cap_before_any_is_paid_for(app, client):
    """Regression: the daily cap counted only what was already spent, so texts arriving
    together just under it (several texters at once, or one texter's burst) were all
    admitted, each checked before any answer had cost a cent, and the day went past the
    cap by all their answers. A request still being answered now counts at what an answer
    may cost (about 0.025 USD on free to the US), as under the monthly cap, until its own
    cost is in."""
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    make_user(PHONE)
    make_user("+15551230001")
    spent(PHONE, "0.94")
    for n in range(3):
        text(client, f"Question {n}?")
        text(client, f"Question {n}?", phone="+15551230001")
    assert [status for status, _r in stored()].count("queued") == 2
    assert [reason for _s, reason in stored()].count("daily_cap") == 4
    db.session.execute(sa.update(Task).values(status="completed"))  # answered, for nothing
    db.session.commit()
    text(client, "One more?")
    assert stored()[-1] == ("queued", None)


def test_an_answer_under_way_counts_at_what_its_own_texter_may_cost(app, client):
    """Regression: every answer under way counted at what the admitted texter's answer may
    cost. An enterprise answer (20 segments, about 0.17 USD) under way counted at a free
    texter's (3 segments, about 0.025) when a free texter texted, so the free one was
    answered past the cap; and three free answers under way counted at the enterprise
    answer's when an enterprise texter texted, who was refused while the free ones were
    answered. Who asks changes only what their own answer may cost."""
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    free, enterprise = "+15551230001", "+15551230002"
    make_user(free)
    make_user(enterprise, tier="enterprise")
    spent(free, "0.70")
    for n in range(3):
        text(client, f"Question {n}?", phone=free)
    text(client, "A long question?", phone=enterprise)
    assert stored() == [("queued", None)] * 4

    db.session.execute(sa.update(Task).values(status="completed"))  # answered, for nothing
    db.session.commit()
    spent(free, "0.12")
    text(client, "Another long one?", phone=enterprise)
    text(client, "Question?", phone=free)
    assert stored()[4:] == [("queued", None), ("refused", "daily_cap")]


def test_a_whatsapp_answer_under_way_counts_at_whatsapps_price_under_the_daily_cap(app, client):
    """Regression: the daily cap counted every answer under way as SMS, at the tier's
    segments: a WhatsApp answer (one message, 0.005 USD) counted as three SMS."""
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    make_user(PHONE)
    spent(PHONE, "0.90")
    for n in range(15):
        text_on_whatsapp(client, f"Question {n}?")
    assert [status for status, _r in stored()].count("queued") == 15


def test_a_voice_note_under_way_counts_with_its_transcription(app, client):
    """Regression: a request under way counted at its answer alone, though a voice note is
    transcribed first, billed by the minute: the longest VOICE_NOTE_MAX_BYTES holds (11
    minutes, about 0.07 USD on whisper-1) is more than the answer (about 0.025). Voice
    notes sent together each passed the cap as a text would, and the day went past it."""
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    make_user(PHONE)
    spent(PHONE, "0.80")
    for _note in range(3):
        text_with(client, "audio/amr")
    assert stored() == [("queued", None), ("queued", None), ("refused", "daily_cap")]


def test_a_voice_note_whose_transcription_would_not_fit_under_the_daily_cap_is_refused(app, client):
    """Regression: the text being admitted counted at its answer alone, not the voice note
    transcribed before it (about 0.07 USD): 0.95 USD of a 1.00 cap spent, a voice note was
    answered past the cap."""
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    make_user(PHONE)
    spent(PHONE, "0.95")
    text_with(client, "audio/amr")
    text(client, "And a plain question?")
    assert stored() == [("refused", "daily_cap"), ("queued", None)]


def test_spend_today_shows_the_answers_under_way_the_cap_counts(app, client, runner):
    """Regression: once the cap counted answers still being given, `flask spend today`
    showed the spend alone, below the cap, while texters were refused `daily_cap`: the
    operator saw no reason for the refusals."""
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    make_user(PHONE)
    spent(PHONE, "0.90")
    text(client, "Question?")
    text(client, "Another?")
    output = runner.invoke(args=["spend", "today"]).output
    assert output.startswith("Spent today: 0.900000 USD (SMS 0.000000, model 0.900000)")
    # Regression: the answers were counted, not what the cap counts them at (two free
    # answers to the US, 0.025309 USD each), so the operator could not add up the refusal.
    under_way = "; 2 answers under way, which the cap counts at 0.050618 USD;"
    assert f"{under_way} daily cap: 1.000000 USD" in output


def test_usage_during_the_pause_says_answers_are_paused_and_until_when(app, alert_hook):
    """Regression (sms10's finding): past the daily cap, a texter told "paused ... Reply
    HELP" who asked USAGE was told only the requests left and "Your quota resets on ...",
    as if the texts that went unanswered would be answered."""
    from sms_agent import notices

    user = make_user(PHONE, tier="enterprise", timezone="America/New_York")
    assert "Your quota resets on" in notices.usage_text(user)
    spent(PHONE, "1.00")
    usage = notices.usage_text(user)
    assert "SMS-to-AI Agent has paused answers until" in usage and "resets on" not in usage
    assert notices.segment_count(usage) == 1


@pytest.mark.parametrize(
    ("language", "says"),
    [
        (None, "SMS-to-AI Agent: AI answers paused until Jan 20 19:00. Text MORE,"),
        ("fr", "SMS-to-AI Agent: réponses IA en pause jusqu'au 20 janv. 19:00. Envoyez MORE,"),
        ("es", "SMS-to-AI Agent: respuestas IA en pausa hasta el 20 ene 19:00. Envia MORE,"),
    ],
)
def test_help_during_the_pause_says_answers_are_paused_and_until_when(
    app, alert_hook, language, says
):
    """Regression: the pause's notice says "Reply HELP for help", and HELP told the texter
    only how many requests they had left, as if their texts would be answered."""
    from sms_agent import notices

    app.config["QUOTA_ENTERPRISE"] = 99999
    user = make_user(PHONE, tier="enterprise", timezone="America/New_York")
    user.note_help_language(language)
    spent(PHONE, "1.00")
    help_text = notices.help_text(user)
    assert help_text.startswith(says) and "99999" not in help_text
    assert notices.segment_count(help_text) == 1


def test_two_texters_texting_at_the_same_moment_do_not_both_pass_the_daily_cap(app):
    """Regression: each texter's admissions took turns on their own row, but two texters'
    texts at the same moment each read the day's spend and answers under way before the
    other's was stored; with room for one answer left, both were taken and the day went past
    the cap by an answer (by one per text arriving together). Admissions under the daily cap
    now take turns, so the second sees the first's answer under way and is refused."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    other = "+15551230001"
    texter = make_user(PHONE)
    make_user(other)
    app.config.update(DAILY_SPEND_CAP=D("1.00"))
    answer = limits._this_answer(texter)
    spent(PHONE, str(D("1.00") - answer - answer / 2))  # room for one answer, not two
    holder = db.engine.connect()  # holds both texters until both webhooks wait for them
    holder.execute(sa.select(User).where(User.phone_number.in_([PHONE, other])).with_for_update())
    results: dict = {}

    def post(phone):
        form = inbound_form("What is DNS?", From=phone)
        return lambda: signed_post(app.test_client(), "/sms/inbound", form).status_code

    threads = [in_app_thread(app, post(phone), results, phone) for phone in (PHONE, other)]
    for thread in threads:
        thread.start()
    waiting_for_locks(2)
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(10)
    assert results == {PHONE: 200, other: 200}
    assert sorted(stored()) == [("queued", None), ("refused", "daily_cap")]


def test_a_cap_set_below_todays_spend_says_that_answers_stay_paused(app, runner):
    """Regression: `flask spend raise-cap 0.1` (10 typed as 0.1) with 0.50 USD spent today
    said "Today's spend cap is now 0.100000 USD." and nothing more, and every text was
    refused until midnight UTC without staff knowing they had paused the service."""
    app.config["DAILY_SPEND_CAP"] = Decimal("1.00")
    spent(make_user().phone_number, "0.50")

    result = runner.invoke(args=["spend", "raise-cap", "0.1"])

    assert result.exit_code == 0 and "0.100000 USD" in result.output
    assert "0.500000 USD" in result.output and "paused until midnight UTC" in result.output
    result = runner.invoke(args=["spend", "raise-cap", "2"])
    assert result.output == "Today's spend cap is now 2.000000 USD.\n"


def test_a_daily_cap_of_0_pauses_answers_without_alerting_every_day(app, client, alert_hook):
    """Regression: with DAILY_SPEND_CAP=0 (answers paused "for now", as staff chose) every
    day's first text fired both alerts, 80% and 100% of a cap of 0, so the on-call was
    paged daily about a pause nobody had to act on. A cap of 0 pauses without alerting; a
    cap staff raise it to today alerts as any cap does."""
    app.config["DAILY_SPEND_CAP"] = D("0")
    make_user(PHONE)
    text(client, "one")
    text(client, "two")
    assert alerts_posted(alert_hook, 0) == []
    assert stored() == [("refused", "daily_cap")] * 2


def test_spend_today_without_a_cap_names_no_cap_counting_the_answers_under_way(app, client, runner):
    """Regression: with no DAILY_SPEND_CAP `flask spend today` said "2 answers under way,
    which the cap counts at 0.050618 USD; daily cap: none", a cap that was not there."""
    app.config.update(DAILY_SPEND_CAP=None)
    make_user(PHONE)
    text(client, "Question?")
    text(client, "Another?")
    output = runner.invoke(args=["spend", "today"]).output
    assert "; 2 answers under way, which may cost up to 0.050618 USD; daily cap: none" in output


def test_a_daily_cap_of_0_names_no_day_answers_come_back(app, client):
    """Regression: with DAILY_SPEND_CAP=0 (answers stopped until staff raise today's cap)
    every text was told "paused answers until <tomorrow>. Please text again then", USAGE
    and HELP the same, and the API's 429 named the next midnight with a Retry-After: the
    next day the cap was 0 again and the same text was refused again. Nothing names a day
    now; the 429 gives no time to retry at."""
    from sms_agent import notices as notice_texts
    from tests.test_pipeline import outbox

    app.config["DAILY_SPEND_CAP"] = D("0")
    user = make_user(PHONE)
    said = [notice_texts.compose(kind, user) for kind in ("paused", "usage", "help")]
    assert said[0] == "SMS-to-AI Agent has paused answers for now. Reply HELP for help."
    assert said[1].endswith("(free plan). SMS-to-AI Agent has paused answers for now.")
    assert said[2].startswith("SMS-to-AI Agent: AI answers paused for now. Text MORE")
    assert outbox() == []
    response = api_create(client)
    assert response.status_code == 429 and "Retry-After" not in response.headers
    assert response.get_json()["details"] == {"reason": "daily_cap", "daily_cap_lifts": None}


OTHER = "+15550009999"


def room_for(answers: int, extra: Decimal) -> Decimal:
    """A daily cap with room, beyond today's spend so far and the receipt of the next text
    from PHONE, for `answers` answers of a free texter, and `extra`."""
    from sms_agent.costs import prices, report

    answer = limits._this_answer(db.session.get(User, PHONE))
    spent_so_far = report.totals(report.day_start())["total_usd"]
    return spent_so_far + prices.inbound_price(False, 0, 1) + answers * answer + extra


def test_another_texters_more_still_to_be_sent_counts_against_the_daily_cap(app, client):
    """Regression: a MORE's part still to be sent counted against the daily cap only when
    its own texter texted again: another texter's text found room for its answer where
    the day had room for one of the two, both were sent, and the day went past the cap.
    It counts for every texter's admission now, and in `flask spend today`'s answers under
    way."""
    make_user(PHONE), make_user(OTHER)
    text(client, "MORE", phone=OTHER)  # its part waits for its job
    app.config["DAILY_SPEND_CAP"] = room_for(1, D("0.000001"))
    assert limits.under_way_today()[0] == 1
    text(client)
    assert stored() == [("refused", "daily_cap")]


def test_another_texters_first_answer_counts_with_its_program_notice(app, client):
    """Regression: a number's first answer goes out after the program notice, which the
    daily cap counted for the texter admitted alone: another new texter's first answer
    under way counted as its answer only, and a text that fitted beside it took the day
    past the cap by that notice."""
    from sms_agent.costs import prices
    from sms_agent.program_notice import text as program_text

    make_user(PHONE), make_user(OTHER, service_state={})  # a new number: nothing sent yet
    text(client, phone=OTHER)
    notice = prices.estimate_sms(OTHER, 1)
    assert len(program_text(db.session.get(User, OTHER))) <= 160
    app.config["DAILY_SPEND_CAP"] = room_for(2, notice / 2)
    text(client)
    assert stored() == [("queued", None), ("refused", "daily_cap")]


def test_a_cap_raised_below_todays_spend_under_a_daily_cap_of_0_names_no_midnight(app, runner):
    """Regression: with DAILY_SPEND_CAP=0, `flask spend raise-cap` to an amount today's
    spend had reached said answers stay paused "until midnight UTC or a higher cap": at
    midnight the cap is 0 again, and nothing comes back but by a higher cap."""
    app.config["DAILY_SPEND_CAP"] = D("0")
    spent(make_user().phone_number, "0.50")
    result = runner.invoke(args=["spend", "raise-cap", "0.1"])
    assert result.exit_code == 0
    assert result.output.endswith("has reached: answers stay paused until a higher cap.\n")


@pytest.mark.parametrize("language", [None, "fr", "es"])
def test_what_a_daily_cap_of_0_says_fits_one_sms_in_each_language(app, language):
    """The wordings that name no day (DAILY_SPEND_CAP=0) keep to one GSM-7 segment, at
    the longest figures, in each language a texter's notices are written in."""
    from sms_agent import notices as notice_texts
    from sms_agent.outbound.gsm import GSM_7, encoding_of, segment_count

    app.config.update(DAILY_SPEND_CAP=D("0"), QUOTA_ENTERPRISE=99999)
    user = make_user(PHONE, tier="enterprise", monthly_requests=99999)
    user.note_help_language(language)
    for kind in ("paused", "usage", "help"):
        said = notice_texts.compose(kind, user)
        assert "until" not in said and "jusqu" not in said and "hasta" not in said, said
        assert (segment_count(said), encoding_of(said)) == (1, GSM_7), said
