"""What Twilio bills for receiving texts: in each texter's cost, the service's totals, the
tasks' costs and the export, at the price of the day each text came, refused texts too, and
at no statement more on the webhook; on SQLite and PostgreSQL alike."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from sms_agent import jobs
from sms_agent.extensions import db
from sms_agent.models import InboundCharge, OutboundMessage, Task
from tests.api.conftest import token_header
from tests.broker import drained
from tests.factories import make_staff, make_token, make_user
from tests.standins import inbound_form, signed_post

D = Decimal
PHONE = "+15550301234"
SMS_IN, MMS_IN, WHATSAPP_IN = D("0.0079"), D("0.0200"), D("0.0050")


@pytest.fixture
def priced(app, mid_month_noon):
    """Texts received at these prices, within one UTC day (today's and this month's spend)."""
    app.config.update(
        SMS_INBOUND_PRICE=SMS_IN, MMS_INBOUND_PRICE=MMS_IN, WHATSAPP_INBOUND_PRICE=WHATSAPP_IN
    )


@pytest.fixture
def headers(app):
    return token_header(make_token(make_staff("admin", is_admin=True)))


def text(client, body: str = "What is the capital of France?", **fields) -> None:
    fields.setdefault("From", PHONE)
    response = signed_post(client, "/sms/inbound", inbound_form(body, **fields))
    assert response.status_code == 200, response.get_data(as_text=True)


def texter_cost(client, headers, phone: str = PHONE) -> tuple[Decimal, Decimal]:
    user = client.get(f"/api/users/{phone}/", headers=headers).get_json()
    return D(user["cost_usd"]), D(user["cost_this_month_usd"])


def service_spend(client, headers) -> dict:
    return client.get("/api/analytics/", headers=headers).get_json()["spend"]


def test_a_texters_cost_includes_what_twilio_billed_to_receive_each_text(client, headers, priced):
    text(client, "hello")
    text(client, "x" * 200)  # two segments
    text(client, "see this", NumMedia="1", MediaUrl0="https://api.twilio.com/m/1",
         MediaContentType0="image/jpeg")  # fmt: skip
    text(client, "hola", From="whatsapp:" + PHONE, To="whatsapp:+15005550006")
    expected = SMS_IN + 2 * SMS_IN + MMS_IN + WHATSAPP_IN

    assert texter_cost(client, headers) == (expected, expected)
    spend = service_spend(client, headers)
    assert D(spend["total_usd"]) == D(spend["today_usd"]) == D(spend["this_month_usd"]) == expected
    assert D(spend["sms_usd"]) == expected
    [top] = spend["top_spenders"]
    assert (top["phone_number"], D(top["spend_usd"])) == (PHONE, expected)
    # Each text's task carries its own receipt in its cost, so filtered analytics see it.
    costs = sorted(D(task["cost_usd"]) for task in tasks_of(client, headers))
    assert costs == sorted([SMS_IN, 2 * SMS_IN, MMS_IN, WHATSAPP_IN])
    analytics = client.get("/api/tasks/analytics/?status=queued", headers=headers).get_json()
    assert D(analytics["spend"]["total_usd"]) == expected


def tasks_of(client, headers) -> list[dict]:
    return client.get(f"/api/tasks/?user_phone={PHONE}", headers=headers).get_json()["results"]


def test_texts_refused_at_the_webhook_cost_what_twilio_billed_for_them(
    app, client, headers, priced
):
    app.config["QUOTA_FREE"] = 1
    text(client, "first question")
    text(client, "first question")  # resent while the first is being answered: refused
    text(client, "second question")  # over the quota: refused
    statuses = sorted(task["status"] for task in tasks_of(client, headers))
    assert statuses == ["queued", "refused", "refused"]
    assert texter_cost(client, headers) == (3 * SMS_IN, 3 * SMS_IN)


def test_a_change_of_price_leaves_what_earlier_texts_cost_alone(app, client, headers, priced):
    text(client, "before the change")
    app.config["SMS_INBOUND_PRICE"] = D("0.0123")
    text(client, "after the change")
    expected = SMS_IN + D("0.0123")
    assert texter_cost(client, headers) == (expected, expected)
    assert D(service_spend(client, headers)["total_usd"]) == expected
    export = client.get(f"/api/users/{PHONE}/export/", headers=headers).get_data(as_text=True)
    assert '"price_usd": "0.007900"' in export and '"price_usd": "0.012300"' in export
    assert f'"total_usd": "{expected:.6f}"' in export


def test_receiving_a_priced_text_takes_the_webhook_no_statement_more(
    app, client, count_queries, priced
):
    make_user(phone_number=PHONE)
    db.session.commit()
    with count_queries() as counter:
        text(client, "hello")
    first_words = [statement.split()[0] for statement in counter.statements]
    lock = ["BEGIN"] if db.engine.dialect.name == "sqlite" else []
    assert first_words == [*lock, "SELECT", "UPDATE", "INSERT"]
    db.session.rollback()
    assert db.session.scalars(sa.select(InboundCharge.price_usd)).all() == [SMS_IN]


def test_a_free_text_keeps_no_charge(app, client, headers, mid_month_noon):
    """TestingConfig prices receiving at 0: nothing is kept for it, and nobody spent."""
    text(client, "hello")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundCharge)) == 0
    assert texter_cost(client, headers) == (0, 0)
    assert service_spend(client, headers)["top_spenders"] == []


def test_deleting_a_text_or_its_texter_keeps_what_receiving_it_cost(client, headers, priced):
    text(client, "one")
    text(client, "two")
    first = db.session.scalars(sa.select(Task.id).order_by(Task.sms_content)).first()
    assert client.delete(f"/api/tasks/{first}/", headers=headers).status_code == 204
    assert texter_cost(client, headers) == (2 * SMS_IN, 2 * SMS_IN)
    export = client.get(f"/api/users/{PHONE}/export/", headers=headers).get_json()
    assert D(export["totals"]["total_usd"]) == 2 * SMS_IN
    assert [D(entry["cost_usd"]) for entry in export["entries"]] == [SMS_IN, SMS_IN]
    assert client.delete(f"/api/users/{PHONE}/", headers=headers).status_code == 204
    spend = service_spend(client, headers)
    assert D(spend["total_usd"]) == 2 * SMS_IN and D(spend["by_tier"]["deleted"]) == 2 * SMS_IN


@pytest.mark.parametrize("cap", ["SPEND_CAP_FREE", "DAILY_SPEND_CAP"])
def test_a_cap_with_room_for_the_answer_but_not_for_receiving_the_text_refuses_it(
    app, client, headers, priced, cap
):
    """Regression: the spend caps counted what the texter (or the day) had spent, the
    answers under way and this text's answer, but not what receiving this text costs, which
    is only stored with it: a text admitted with its answer just fitting took the spend past
    the cap by its own receipt. Refused, its receipt alone is spent: the cap holds."""
    from sms_agent import limits

    user = make_user(phone_number=PHONE)
    db.session.commit()
    app.config[cap] = limits._this_answer(user) + SMS_IN / 2
    text(client, "hello")
    [task] = tasks_of(client, headers)
    assert (task["status"], task["refusal_reason"]) == ("refused", {
        "SPEND_CAP_FREE": "over_spend", "DAILY_SPEND_CAP": "daily_cap"}[cap])  # fmt: skip
    assert texter_cost(client, headers) == (SMS_IN, SMS_IN)


@pytest.mark.parametrize("cap", ["SPEND_CAP_FREE", "DAILY_SPEND_CAP"])
@pytest.mark.parametrize("body", ["MORE", ""], ids=["more", "empty text"])
def test_a_cap_with_room_for_an_sms_but_not_for_receiving_the_text_sends_none(
    app, client, priced, cap, body
):
    """Regression: MORE (more of an answer) and the how-to an empty text gets are SMS held to
    the spend caps, which counted what they may cost but not what receiving the text asking
    for them costs, as they do for a question (above): with room for one answer and not
    for that receipt too, the SMS was sent and the spend went past the cap by the receipt.
    Now that is the cap's one notice, and nothing more is sent."""
    from sms_agent import limits

    user = make_user(phone_number=PHONE)
    app.config[cap] = limits._this_answer(user) + SMS_IN / 2
    text(client, body)
    sent = [message.payload[0][1] for message in drained(app)]
    assert sent == [{"SPEND_CAP_FREE": "spend_cap", "DAILY_SPEND_CAP": "paused"}[cap]]


@pytest.mark.parametrize("cap", ["SPEND_CAP_FREE", "DAILY_SPEND_CAP"])
def test_mores_asked_at_once_count_the_parts_still_to_be_sent_against_the_caps(
    app, client, priced, cap
):
    """Regression: a MORE's part costs nothing until its job sends it, so MOREs sent in
    quick succession each found room for one part and all were sent, past the cap. A
    part asked for and not sent yet now counts at what it may cost; once sent, its price
    counts instead, and the next MORE is sent as before."""
    from sms_agent import limits

    user = make_user(phone_number=PHONE)
    app.config[cap] = 2 * SMS_IN + limits._this_answer(user) * D("1.5")
    text(client, "MORE")
    text(client, "MORE")
    queued = [message.payload[0] for message in drained(app)]
    assert [args[1] for args in queued] == ["more", {
        "SPEND_CAP_FREE": "spend_cap", "DAILY_SPEND_CAP": "paused"}[cap]]  # fmt: skip
    app.config[cap] += SMS_IN  # room for the next MORE, once the first part's price is known
    assert jobs.send_notice.apply(args=queued[0]).get() is True  # the first part is sent
    text(client, "MORE")
    assert [message.payload[0][1] for message in drained(app)] == ["more"]


@pytest.mark.parametrize(
    ("cap", "usage_says", "help_says"),
    [
        ("SPEND_CAP_FREE", "are at its usage limit", "AI answers paused until"),
        ("DAILY_SPEND_CAP", "has paused answers until", "AI answers paused until"),
    ],
)
def test_usage_and_help_count_the_parts_of_mores_still_to_be_sent(
    app, client, priced, cap, usage_says, help_says
):
    """Regression: with a MORE's part still to be sent, the texter's next question was
    refused by the cap (the part counts as an answer under way), while USAGE and HELP,
    reading the cap without that part, told them answers came as usual."""
    from sms_agent import limits

    user = make_user(phone_number=PHONE)
    app.config[cap] = 3 * SMS_IN + limits._this_answer(user) * D("1.5")  # room for one answer
    text(client, "MORE")
    text(client, "USAGE")
    text(client, "HELP")
    more, usage, help_ = [message.payload[0] for message in drained(app)]
    for notice in (usage, help_):
        assert jobs.send_notice.apply(args=notice).get() is True
    said = db.session.scalars(
        sa.select(OutboundMessage.body)
        .where(OutboundMessage.kind.in_(["usage", "help"]))
        .order_by(OutboundMessage.created_at)  # fmt: skip
    ).all()
    assert usage_says in said[0] and help_says in said[1], said
    text(client, "What is DNS?")  # what the texter is then refused, as USAGE said
    task = db.session.scalars(sa.select(Task).where(Task.sms_content == "What is DNS?")).one()
    assert task.status == "refused"


@pytest.mark.parametrize("cap", ["SPEND_CAP_FREE", "DAILY_SPEND_CAP"])
def test_a_more_dropped_for_an_inactive_texter_no_longer_counts_against_the_caps(
    app, client, priced, cap
):
    """Regression: a MORE whose job was dropped because staff made the texter inactive
    meanwhile kept counting as a part to be sent for a day: made active again, the texter
    was refused with room under the cap for their question's answer."""
    from sms_agent import limits

    user = make_user(phone_number=PHONE)
    app.config[cap] = 2 * SMS_IN + limits._this_answer(user) * D("1.5")  # room for one answer
    text(client, "MORE")
    [queued] = [message.payload[0] for message in drained(app)]
    user.is_active = False  # staff, after the MORE was queued
    db.session.commit()
    assert jobs.send_notice.apply(args=queued).get() is False
    db.session.get(type(user), PHONE).is_active = True  # and again, later
    db.session.commit()

    text(client, "What is DNS?")

    task = db.session.scalars(sa.select(Task).where(Task.sms_content == "What is DNS?")).one()
    assert (task.status, task.refusal_reason) == ("queued", None)


def picture() -> dict:
    return {"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/m/1",
            "MediaContentType0": "image/jpeg"}  # fmt: skip


def test_keywords_and_commands_cost_what_twilio_billed_to_receive_them(
    app, client, headers, priced
):
    """Regression: a text acted on without a task (STOP, START, HELP, our own commands, a
    how-to's empty text, a text while opted out) was billed by Twilio as any text, but kept
    no charge: what each texter costs undercounted them."""
    for body in ["HELP", "USAGE", "RESET", "MORE", ""]:
        text(client, body)
    text(client, "STOP", **picture())  # an opt-out is obeyed whatever comes with it: an MMS
    text(client, "are you there?")  # opted out: not answered, still received
    text(client, "START")
    text(client, "AGENT")
    expected = 8 * SMS_IN + MMS_IN
    assert tasks_of(client, headers) == []
    assert texter_cost(client, headers) == (expected, expected)
    spend = service_spend(client, headers)
    assert D(spend["total_usd"]) == D(spend["today_usd"]) == D(spend["sms_usd"]) == expected
    [top] = spend["top_spenders"]
    assert (top["phone_number"], D(top["spend_usd"])) == (PHONE, expected)
    export = client.get(f"/api/users/{PHONE}/export/", headers=headers).get_json()
    assert D(export["totals"]["total_usd"]) == expected


def test_a_keyword_is_charged_at_no_statement_more_and_kept_with_no_number(
    app, client, count_queries, priced
):
    make_user(phone_number=PHONE)
    db.session.commit()

    def statements(body: str) -> list[str]:
        with count_queries() as counter:
            text(client, body)
        return [statement.split()[0] for statement in counter.statements]

    app.config["SMS_INBOUND_PRICE"] = D(0)
    free = statements("USAGE")
    app.config["SMS_INBOUND_PRICE"] = SMS_IN
    assert statements("USAGE") == free
    db.session.rollback()
    assert db.session.scalars(sa.select(InboundCharge.price_usd)).all() == [SMS_IN]
    # The record of texts handled says nothing about their texter (models/handled.py).
    kept = db.session.execute(sa.text("SELECT * FROM handled_messages")).mappings().all()
    assert len(kept) == 2 and all(row.get("user_phone") is None for row in kept)


def test_helps_answer_counts_in_the_texters_cost_with_the_text_that_asked(
    app, client, headers, priced
):
    text(client, "HELP")
    [notice] = drained(app)
    assert notice.headers["task"] == "sms_agent.jobs.send_notice"
    args, kwargs, _options = notice.payload
    assert jobs.send_notice.apply(args=args, kwargs=kwargs).get() is True
    sent = db.session.scalars(sa.select(OutboundMessage)).all()
    assert "help" in {message.kind for message in sent}
    # The answer, with the program's notice a first text gets, each at its SMS's price.
    answered = sum(message.price_usd for message in sent)
    assert answered > 0
    assert texter_cost(client, headers) == (SMS_IN + answered, SMS_IN + answered)
    assert D(service_spend(client, headers)["total_usd"]) == SMS_IN + answered


def test_a_text_from_our_own_number_counts_in_the_services_spend(app, client, headers, priced):
    """Regression: a text whose From is a number of ours (a forward between our numbers)
    is no texter's and gets nothing, but Twilio billed receiving it: it was in no spend,
    the daily cap's included. It now counts in the service's, as no texter's; a replay of
    its webhook counts nothing more."""
    form = inbound_form("Forwarded: hello", From="+15005550006", To="+15005550006")
    for _ in range(2):
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    assert db.session.scalars(sa.select(InboundCharge.price_usd)).all() == [SMS_IN]
    spend = service_spend(client, headers)
    assert D(spend["total_usd"]) == D(spend["today_usd"]) == SMS_IN
    assert spend["top_spenders"] == []


def test_a_text_from_our_own_number_is_no_deleted_texters_spend(app, client, headers, priced):
    """Regression: what receiving a text from a number of ours cost was reported under
    by_tier's `deleted`, as if a texter had been deleted; it had no texter. It is
    `own_numbers_usd`, and the tiers, `deleted` and it add up to the total."""
    form = inbound_form("Forwarded: hello", From="+15005550006", To="+15005550006")
    assert signed_post(client, "/sms/inbound", form).status_code == 200
    spend = service_spend(client, headers)
    assert D(spend["own_numbers_usd"]) == SMS_IN
    assert D(spend["by_tier"]["deleted"]) == 0
    parts = sum(D(amount) for amount in spend["by_tier"].values()) + D(spend["own_numbers_usd"])
    assert parts == D(spend["total_usd"]) == SMS_IN
    assert spend["top_spenders"] == []
