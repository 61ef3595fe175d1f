"""What the service spends: the price tables, a price on every SMS and model call, and
Twilio's real price adopted once a message is final."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

import config
from sms_agent import costs, create_app, jobs
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task, utcnow
from sms_agent.vendors import twilio as sms_vendor
from tests.factories import make_task, make_user
from tests.standins import (
    chat_completion,
    inbound_form,
    signed_post,
    twilio_error,
    twilio_priced_message,
    unused_port,
)

D = Decimal


def outbox() -> list[OutboundMessage]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.part)))


# -- the price tables ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # (1000 x 0.15 + 500 x 0.60) / 1M
        ("gpt-4o-mini", D("0.000450")),
        ("gpt-4o-mini-2024-07-18", D("0.000450")),  # a dated version: its family's price
        ("gpt-4o", D("0.007500")),  # not gpt-4o-mini's price: the longest name wins
        # (1000 x 3.00 + 500 x 5.00) / 1M: the transcription model README names, with its
        # dated version; it was priced as gpt-4o-mini's chat tokens, 20 times too low
        ("gpt-4o-mini-transcribe", D("0.005500")),
        ("gpt-4o-mini-transcribe-2025-03-20", D("0.005500")),
        ("gpt-4o-transcribe", D("0.011000")),
        # through a router (OpenRouter, LiteLLM), named with its provider: it cost nothing
        ("openai/gpt-4o-mini", D("0.000450")),
        ("azure/gpt-4o-2024-08-06", D("0.007500")),
    ],
)
def test_a_model_call_costs_its_tokens_at_the_models_price(app, model, expected):
    assert costs.model_cost(model, 1000, 500) == expected


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini-search-preview",
        "gpt-4o-audio-preview",
        "gpt-4.1-mini-tts",
        "openai/gpt-4o-mini-search-preview",
        "meta-llama/llama-3.1-8b-instruct",
    ],
)
def test_another_model_whose_name_starts_like_a_priced_one_has_no_price_of_its_own(app, model):
    """Only a dated version takes its family's price: another model priced silently at a
    chat model's rate ran up spend the caps never saw, where no price is logged."""
    assert costs.model_cost(model, 1000, 500) is None


def test_a_model_in_no_table_has_no_price_until_configured(app):
    assert costs.model_cost("llama-3-local", 1000, 500) is None
    app.config["MODEL_PRICES"] = {"*": {"input": D("1"), "output": D("2")}}
    assert costs.model_cost("llama-3-local", 1000, 500) == D("0.002000")


@pytest.mark.parametrize("setting", ["OPENAI_MODEL", "OPENAI_TRANSCRIBE_MODEL"])
def test_a_model_set_to_be_called_with_no_price_is_named_when_the_app_starts(caplog, setting):
    """Regression: a model in no price table cost 0 USD with a line in the log only once
    it was called, by then among thousands, so an operator who set a model of their own
    learnt from the bill that neither the reports nor the spend caps had seen its cost.
    The app says so as it starts, with the setting to change."""
    create_app(config.TestingConfig, LLM_BACKEND="openai", OPENAI_API_KEY="sk-test")
    assert "no price" not in caplog.text
    create_app(
        config.TestingConfig, LLM_BACKEND="openai", OPENAI_API_KEY="sk-test", **{setting: "llama"}
    )
    [warning] = [r for r in caplog.records if "no price" in r.getMessage()]
    assert warning.levelname == "WARNING" and "'llama'" in warning.getMessage()
    assert "MODEL_PRICES" in warning.getMessage()
    caplog.clear()
    create_app(config.TestingConfig, **{setting: "llama"})  # the offline backend calls no model
    create_app(
        config.TestingConfig,
        LLM_BACKEND="openai",
        OPENAI_API_KEY="sk-test",
        MODEL_PRICES={"*": {"input": D(0), "output": D(0)}},  # a model of one's own, free
        **{setting: "llama"},
    )
    assert "no price" not in caplog.text


def test_configured_model_prices_replace_the_example_of_the_same_name(app):
    app.config["MODEL_PRICES"] = {"gpt-4o-mini": {"input": D("1"), "output": D("1")}}
    assert costs.model_cost("gpt-4o-mini", 1_000_000, 0) == D("1")
    assert costs.model_cost("gpt-4o", 1_000_000, 0) == D("2.5")  # the other examples stay


@pytest.mark.parametrize(
    ("phone", "segments", "expected"),
    [
        ("+15551230000", 1, D("0.008300")),  # an unassigned +1 number: priced as the US
        ("+14155550100", 3, D("0.024900")),
        ("+447700900123", 2, D("0.104800")),
        ("+81312345678", 1, D("0.100000")),  # not in the table: "*"
    ],
)
def test_an_sms_is_estimated_per_segment_by_destination_country(app, phone, segments, expected):
    assert costs.estimate_sms(phone, segments) == expected


def test_sms_price_settings_replace_the_examples(app):
    app.config.update(SMS_PRICES={"US": D("0.01")}, SMS_PRICE_PER_SEGMENT=D("0.2"))
    assert costs.estimate_sms("+15551230000", 2) == D("0.02")
    assert costs.estimate_sms("+81312345678", 1) == D("0.2")
    assert costs.estimate_sms("+447700900123", 1) == D("0.0524")


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("SMS_PRICES", '{"US": "cheap"}', "not an amount"),
        ("SMS_PRICES", '{"US": -1}', "at least 0"),
        ("SMS_PRICES", '{"USA": 0.01}', "two-letter country code"),
        ("SMS_PRICES", '{"UK": 0.04}', "the United Kingdom is GB"),  # priced nobody
        ("SMS_PRICES", "[0.01]", "must be a JSON object"),
        ("SMS_PRICES", "{US: 0.01}", "not valid JSON"),
        ("MODEL_PRICES", '{"gpt-4o": 2.5}', "must be an object"),
        ("MODEL_PRICES", '{"gpt-4o": {"prompt": 2.5}}', "unknown price"),
        ("MODEL_PRICES", '{"gpt-4o": {"input": NaN}}', "finite"),
        ("SMS_PRICE_PER_SEGMENT", "0,05", "not an amount"),
        ("SPEND_CAP_FREE", "five dollars", "not an amount"),
        # Regression: past what NUMERIC(12, 6) holds, every text failed to round the cap.
        ("SPEND_CAP_FREE", "1e30", "more than 999999.999999 USD"),
        ("DAILY_SPEND_CAP", "1000000", "more than 999999.999999 USD"),
        ("SMS_PRICE_PER_SEGMENT", "1e30", "more than 999999.999999 USD"),
        ("SMS_PRICES", '{"US": 1e30}', "more than 999999.999999 USD"),
        ("MODEL_PRICES", '{"gpt-4o": {"input": 1e30}}', "more than 999999.999999 USD"),
        # Regression: below the millionth a money column keeps, a price or cap was read and
        # then rounded to 0 wherever it was used (texts priced nothing, a cap of 0).
        ("SMS_PRICE_PER_SEGMENT", "0.0000001", r"^SMS_PRICE_PER_SEGMENT=.* less than 0\.000001"),
        ("WHATSAPP_PRICE", "0.0000009", r"^WHATSAPP_PRICE=.* less than 0\.000001 USD"),
        ("SPEND_CAP_FREE", "5E-7", r"^SPEND_CAP_FREE=.* less than 0\.000001 USD"),
        ("SMS_PRICES", '{"US": 0.0000004}', r"^SMS_PRICES\[US\]=.* less than 0\.000001 USD"),
        # A price per token written where MODEL_PRICES wants one per 1M tokens.
        ("MODEL_PRICES", '{"gpt-4o-mini": {"input": 0.00000015}}', "per 1M tokens"),
    ],
)
def test_garbage_in_a_price_setting_stops_the_app(monkeypatch, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=message):
        if name in ("SMS_PRICES", "MODEL_PRICES"):
            table = config.sms_price_table if name == "SMS_PRICES" else config.model_price_table
            table(name, config.env_json_object(name))
        else:
            config.env_money(name)


def test_the_smallest_price_kept_and_zero_are_read(monkeypatch):
    monkeypatch.setenv("SMS_PRICE_PER_SEGMENT", "0.000001")
    assert config.env_money("SMS_PRICE_PER_SEGMENT") == D("0.000001")
    monkeypatch.setenv("WHATSAPP_PRICE", "0.0000000")
    assert config.env_money("WHATSAPP_PRICE") == 0


def test_price_settings_are_read_exactly(monkeypatch):
    monkeypatch.setenv("MODEL_PRICES", '{"my-model": {"input": 0.1, "output": 0.3}}')
    table = config.model_price_table("MODEL_PRICES", config.env_json_object("MODEL_PRICES"))
    assert table == {"my-model": {"input": D("0.1"), "output": D("0.3")}}
    monkeypatch.setenv("SMS_PRICES", '{"US": 0.0079, "*": "0.05"}')
    table = config.sms_price_table("SMS_PRICES", config.env_json_object("SMS_PRICES"))
    assert table == {"US": D("0.0079"), "*": D("0.05")}


def test_a_price_of_minus_zero_is_zero_not_a_negative_amount(app, monkeypatch):
    """Regression: "-0.0" (JSON) or "-0" passed the check of at least 0 as Decimal's
    negative zero, and every estimate and report made of it read "-0.000000" (the API's
    prices and costs, the alerts' cap): an amount of money that looks negative."""
    monkeypatch.setenv("SMS_PRICES", '{"US": -0.0}')
    monkeypatch.setenv("DAILY_SPEND_CAP", "-0")
    app.config["SMS_PRICES"] = config.sms_price_table(
        "SMS_PRICES", config.env_json_object("SMS_PRICES")
    )
    assert str(costs.estimate_sms("+15551230000", 2)) == "0.000000"
    assert str(config.env_money("DAILY_SPEND_CAP")) == "0"


# -- pricing as it happens ----------------------------------------------------------------
@pytest.fixture
def priced_model(app):
    """The stand-in model at 1 USD per 1M input tokens and 2 USD per 1M output tokens."""
    app.config["MODEL_PRICES"] = {"standin-model": {"input": D("1"), "output": D("2")}}


def test_an_answered_task_costs_its_model_call_and_its_sms(app, openai_server, priced_model):
    openai_server.then(200, chat_completion("Paris.", tokens=1030, completion_tokens=30))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    db.session.rollback()
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert (call.model, call.prompt_tokens, call.completion_tokens) == ("standin-model", 1000, 30)
    assert call.cost_usd == D("0.001060") and call.priced  # 1000 x 1 + 30 x 2, per 1M
    assert (call.task_id, call.user_phone) == (task.id, task.user_phone)
    [sms] = outbox()
    assert sms.price_usd == D("0.008300") and sms.price_estimated
    assert db.session.get(Task, task.id).cost_usd == D("0.009360")


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ({"input": D("1"), "output": D("2"), "cached_input": D("0.25")}, D("0.000310")),
        ({"input": D("1"), "output": D("2")}, D("0.001060")),  # no cached price: the input's
    ],
)
def test_cached_prompt_tokens_cost_the_cached_price(app, openai_server, prices, expected):
    """Regression: OpenAI bills the prompt tokens it read from its cache (a texter's
    instructions and thread, asked again within minutes) at a quarter or a tenth of the
    input price, and reports them as usage.prompt_tokens_details.cached_tokens; every one
    was priced at the full input price, so reports and the spend caps counted the service
    several times what it was billed. They cost `cached_input` (per 1M) when it is set."""
    app.config["MODEL_PRICES"] = {"standin-model": prices}
    answer = chat_completion("Paris.", tokens=1030, completion_tokens=30, cached_tokens=1000)
    openai_server.then(200, answer)
    assert pipeline.answer(make_task().id) == "answered"
    db.session.rollback()
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert call.prompt_tokens == 1000 and call.cost_usd == expected  # 1000 x 0.25 + 30 x 2
    # Recorded, so the call's cost can be told from its tokens (and a report read of them).
    assert call.cached_tokens == 1000


def test_a_default_price_table_entry_prices_cached_tokens(app):
    assert costs.model_cost("gpt-4o-mini", 1_000_000, 0, cached_tokens=1_000_000) == D("0.075")
    assert costs.model_cost("gpt-4o-mini", 1_000_000, 0, cached_tokens=5_000_000) == D("0.075")


def test_an_answers_estimate_prices_its_whole_prompt_at_the_input_price(app):
    """Decided: the caps count an answer under way at this estimate, so it errs high where
    it can, and the prompt cache is no promise (OpenAI reads from it only a prefix of
    1,024 tokens or more asked again within minutes, and evicts it when busy); so no token
    of the 2,000-token prompt is counted as cached. Once the call answers, its cost is
    what it reported, cached tokens at `cached_input` (record_model_call)."""
    from sms_agent.costs.prices import estimate_answer

    prices = {"input": D("1"), "cached_input": D("0.1"), "output": D("2")}
    app.config.update(OPENAI_MODEL="standin-model", MODEL_PRICES={"standin-model": prices})
    # One US segment, then 2,000 prompt tokens at 1 and 100 answer tokens at 2, per 1M.
    assert estimate_answer("+15551230000", 1, 100) == D("0.0083") + D("0.0022")


@pytest.mark.parametrize("answered_as", ["gpt-3.5-turbo", "anthropic/claude-3.5-sonnet"])
def test_an_answer_named_for_a_model_in_no_table_costs_the_price_of_the_model_asked(
    app, openai_server, priced_model, answered_as
):
    """Regression: the call was priced by the model its answer names, which is not always
    the one asked: llama.cpp's server names every answer gpt-3.5-turbo, OpenRouter's
    openrouter/auto and LiteLLM's or CLIProxyAPI's aliases name the model they chose. The
    operator priced the model they set, yet every call cost 0 USD, in every report and
    under every spend cap, and no WARNING at start named it. The asked model's price is
    now used when the answering model has none."""
    app.config["OPENAI_MODEL"] = "standin-model"
    answer = chat_completion("Paris.", tokens=1030, completion_tokens=30, model=answered_as)
    openai_server.then(200, answer)
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    db.session.rollback()
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert call.model == answered_as  # which model answered stays on record
    assert call.cost_usd == D("0.001060") and call.priced  # the asked model's price


def test_a_model_without_a_price_is_recorded_at_zero_and_logged(app, openai_server, caplog):
    app.config["OPENAI_MODEL"] = "standin-model"  # asked of it and answered by it
    task = make_task()
    pipeline.answer(task.id)
    db.session.rollback()
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert call.cost_usd == 0 and not call.priced
    assert "standin-model" in caplog.text and "no price" in caplog.text


def test_the_offline_notice_is_no_model_call_and_costs_only_its_sms(app):
    task = make_task()
    pipeline.answer(task.id)
    db.session.rollback()
    assert db.session.scalars(sa.select(ModelCall)).all() == []
    [sms] = outbox()
    assert db.session.get(Task, task.id).cost_usd == sms.price_usd > 0


def test_an_sms_twilio_refused_costs_nothing(app, twilio_server):
    twilio_server.then(400, twilio_error(400, 21211, "Invalid 'To' Phone Number"))
    task = make_task()
    pipeline.answer(task.id)
    [sms] = outbox()
    assert sms.status == "failed" and sms.price_usd == 0 and not sms.price_estimated
    assert db.session.get(Task, task.id).cost_usd == 0


def test_an_sms_sent_on_the_retry_after_twilio_failed_it_is_priced_like_any_sent(
    app, client, twilio_server
):
    """Twilio's 503 made the part cost 0 (nothing sent, nothing billed); the retry sends it,
    and Twilio bills it: the estimate is back, and Twilio's price replaces it later."""
    twilio_server.then(503, twilio_error(503, 20503, "Service Unavailable"))
    task = make_task()
    with pytest.raises(pipeline.TryAgain):
        pipeline.answer(task.id)
    assert pipeline.answer(task.id) == "answered"
    [sms] = outbox()
    assert sms.sid and sms.price_usd == D("0.008300") and sms.price_estimated
    assert db.session.get(Task, task.id).cost_usd == D("0.008300")
    form = {"MessageSid": sms.sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    assert signed_post(client, "/sms/status", form).status_code == 200
    assert costs.fetch_prices() == 1
    [sms] = outbox()
    assert (sms.price_usd, sms.price_estimated) == (D("0.007900"), False)
    assert db.session.get(Task, task.id).cost_usd == D("0.007900")


# -- Twilio's price, once final -----------------------------------------------------------
def sent_and_delivered(client, twilio_server) -> Task:
    """A task answered through the Twilio stand-in, whose reply Twilio reports delivered."""
    task = make_task()
    pipeline.answer(task.id)
    [sms] = outbox()
    form = {"MessageSid": sms.sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    assert signed_post(client, "/sms/status", form).status_code == 200
    return task


def test_twilios_price_replaces_the_estimate_after_the_final_status(app, client, twilio_server):
    task = sent_and_delivered(client, twilio_server)
    sends = len(twilio_server.requests)
    assert outbox()[0].price_estimated  # the webhook only records the status

    assert jobs.fetch_sms_prices.apply().get() == 1
    [sms] = outbox()
    assert (sms.price_usd, sms.price_unit, sms.price_estimated) == (D("0.0079"), "USD", False)
    assert db.session.get(Task, task.id).cost_usd == D("0.0079")
    [(method, path, _body)] = twilio_server.requests[sends:]
    assert method == "GET" and path.endswith(f"/Messages/{sms.sid}.json")
    assert jobs.fetch_sms_prices.apply().get() == 0  # nothing left to ask about
    assert len(twilio_server.requests) == sends + 1


def test_each_price_is_committed_before_the_next_is_asked(app, client, twilio_server):
    """A batch priced in one transaction would hold the first task's rollup bucket and spend
    rows while it waits for a task a worker is completing, which waits for those rows at its
    commit; priced one by one, the job never holds one task's rows while taking another's."""
    for task in (make_task(), make_task()):
        pipeline.answer(task.id)
    for sms in outbox():
        form = {"MessageSid": sms.sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
        assert signed_post(client, "/sms/status", form).status_code == 200
    answer, committed = twilio_server.default, []

    def count_committed_then_answer(method, path, body):
        if method == "GET":
            with app.app_context():  # what another connection sees meanwhile
                final = OutboundMessage.price_estimated.is_(False)
                count = sa.select(sa.func.count()).select_from(OutboundMessage).where(final)
                committed.append(db.session.scalar(count))
                db.session.remove()
        return answer(method, path, body)

    twilio_server.default = count_committed_then_answer
    assert jobs.fetch_sms_prices.apply().get() == 2
    assert committed == [0, 1]


def test_messages_not_final_yet_are_not_asked_about(app, twilio_server):
    pipeline.answer(make_task().id)
    sends = len(twilio_server.requests)
    assert jobs.fetch_sms_prices.apply().get() == 0
    assert len(twilio_server.requests) == sends


def test_a_price_twilio_has_not_set_yet_is_asked_again_later(app, client, twilio_server):
    sent_and_delivered(client, twilio_server)
    sid = outbox()[0].sid
    twilio_server.then(200, twilio_priced_message(f"/{sid}.json", price=None, unit=None))
    assert jobs.fetch_sms_prices.apply().get() == 0
    [sms] = outbox()
    assert sms.price_estimated and sms.price_checks == 1
    assert jobs.fetch_sms_prices.apply().get() == 0  # too soon to ask again
    later = utcnow() + timedelta(hours=1)
    assert costs.fetch_prices(now=later) == 1
    db.session.commit()
    assert outbox()[0].price_usd == D("0.0079")


def test_twilio_unreachable_keeps_the_estimate_and_tries_again(app, client, twilio_server):
    sent_and_delivered(client, twilio_server)
    app.config["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{unused_port()}"
    sms_vendor.forget_clients()
    assert jobs.fetch_sms_prices.apply().get() == 0
    [sms] = outbox()
    assert sms.price_estimated and sms.price_usd == D("0.0083") and sms.price_checks == 0


def test_a_refusal_of_our_credentials_keeps_every_price_to_ask_again(app, client, twilio_server):
    """Regression: any 4xx gave up on the message asked about, so while Twilio refused our
    credentials (an auth token rotated, the account suspended: 401) each run of the job
    left a whole batch on its estimate for good. Only the message being gone (404) is given
    up on; any other refusal ends the batch, which is asked again on a later run."""
    for task in (make_task(), make_task()):
        pipeline.answer(task.id)
    for sms in outbox():
        form = {"MessageSid": sms.sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
        assert signed_post(client, "/sms/status", form).status_code == 200
    twilio_server.then(401, twilio_error(401, 20003, "Authenticate"))
    assert jobs.fetch_sms_prices.apply().get() == 0
    assert [sms.price_estimated for sms in outbox()] == [True, True]
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=1)) == 2
    db.session.commit()
    assert [sms.price_usd for sms in outbox()] == [D("0.0079"), D("0.0079")]


def test_a_long_refusal_of_our_credentials_uses_up_no_message_s_checks(app, client, twilio_server):
    """Regression: each run that Twilio refused (401) or could not be reached counted one of
    PRICE_FETCH_MAX_CHECKS against the message it was asking about, though the message had
    no part in it, so an auth token left rotated for half an hour kept the oldest messages on
    their estimates for good, and a day of it a few hundred."""
    sent_and_delivered(client, twilio_server)
    gap = timedelta(seconds=app.config["PRICE_FETCH_INTERVAL_SECONDS"] * 5 + 1)
    runs = app.config["PRICE_FETCH_MAX_CHECKS"] + 1
    for run in range(runs):
        twilio_server.then(401, twilio_error(401, 20003, "Authenticate"))
        assert costs.fetch_prices(now=utcnow() + gap * run) == 0
        db.session.commit()
    assert costs.fetch_prices(now=utcnow() + gap * runs) == 1  # the token is put right
    db.session.commit()
    [sms] = outbox()
    assert (sms.price_usd, sms.price_estimated) == (D("0.0079"), False)


def test_a_message_twilio_no_longer_has_keeps_its_estimate_and_is_not_asked_again(
    app, client, twilio_server
):
    sent_and_delivered(client, twilio_server)
    twilio_server.then(404, twilio_error(404, 20404, "The requested resource was not found"))
    assert jobs.fetch_sms_prices.apply().get() == 0
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=1)) == 0
    [sms] = outbox()
    assert sms.price_estimated and sms.price_usd == D("0.0083")


def test_a_price_in_another_currency_keeps_the_estimate(app, client, twilio_server):
    sent_and_delivered(client, twilio_server)
    sid = outbox()[0].sid
    twilio_server.then(200, twilio_priced_message(f"/{sid}.json", price="-0.0070", unit="EUR"))
    assert jobs.fetch_sms_prices.apply().get() == 0
    [sms] = outbox()
    assert sms.price_estimated and sms.price_usd == D("0.0083") and sms.price_unit == "EUR"
    assert jobs.fetch_sms_prices.apply().get() == 0


@pytest.mark.parametrize("price", ["-12345678.90", "-1E+9"])
def test_a_price_no_sms_could_cost_keeps_the_estimate_and_the_job_going(
    app, client, twilio_server, price
):
    """Regression: a price past what the money columns hold (a garbled answer: no SMS costs
    a million dollars) was kept on SQLite, a texter's spend in the millions and every cap
    shut, and on PostgreSQL failed the price job's commit on every run, so no later
    message was ever priced. It is read as no price: the estimate stays, asked again."""
    sent_and_delivered(client, twilio_server)
    sid = outbox()[0].sid
    twilio_server.then(200, twilio_priced_message(f"/{sid}.json", price=price))
    assert jobs.fetch_sms_prices.apply().get() == 0
    [sms] = outbox()
    assert (sms.price_usd, sms.price_estimated) == (D("0.0083"), True)
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=1)) == 1  # Twilio's next answer
    assert outbox()[0].price_usd == D("0.0079")


def reported_failed(client, twilio_server) -> OutboundMessage:
    pipeline.answer(make_task().id)
    [sms] = outbox()
    form = {"MessageSid": sms.sid, "MessageStatus": "failed", "ErrorCode": "30008"}
    assert signed_post(client, "/sms/status", form).status_code == 200
    return outbox()[0]


def failed_message(path: str, price: str | None = None) -> dict:
    return {**twilio_priced_message(path, price=price), "status": "failed"}


def test_a_failed_sms_costs_nothing_and_is_not_asked_about(app, client, twilio_server):
    """Twilio bills no failed message and prices none later: its 0 is final, so the price
    job does not ask about it PRICE_FETCH_MAX_CHECKS times for nothing."""
    sms = reported_failed(client, twilio_server)
    assert (sms.price_usd, sms.price_estimated) == (0, False)
    assert db.session.get(Task, sms.task_id).cost_usd == 0
    sends = len(twilio_server.requests)
    assert jobs.fetch_sms_prices.apply().get() == 0
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=2)) == 0
    assert len(twilio_server.requests) == sends
    assert outbox()[0].price_checks == 0


def test_a_price_twilio_reported_stays_when_the_message_fails_later(app, client, twilio_server):
    pipeline.answer(make_task().id)
    [sms] = outbox()
    sms.price_usd, sms.price_estimated = D("0.0079"), False
    db.session.commit()
    form = {"MessageSid": sms.sid, "MessageStatus": "failed", "ErrorCode": "30008"}
    signed_post(client, "/sms/status", form)
    assert outbox()[0].price_usd == D("0.0079")


def test_a_message_twilio_says_failed_without_a_price_costs_nothing(app, twilio_server):
    """Its status callback never came (none configured, or lost): the price job learns it,
    and its 0 is final."""
    task = make_task()
    pipeline.answer(task.id)
    [sms] = outbox()
    twilio_server.then(200, failed_message(f"/{sms.sid}.json"))
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=2)) == 0
    db.session.commit()
    assert (outbox()[0].price_usd, outbox()[0].price_estimated) == (0, False)
    assert db.session.get(Task, task.id).cost_usd == 0
    sends = len(twilio_server.requests)
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=4)) == 0
    assert len(twilio_server.requests) == sends


def test_a_price_twilio_gives_a_failed_message_is_kept(app, twilio_server):
    task = make_task()
    pipeline.answer(task.id)
    [sms] = outbox()
    twilio_server.then(200, failed_message(f"/{sms.sid}.json", price="-0.0040"))
    assert costs.fetch_prices(now=utcnow() + timedelta(hours=2)) == 1
    db.session.commit()
    assert (outbox()[0].price_usd, outbox()[0].price_estimated) == (D("0.004"), False)
    assert db.session.get(Task, task.id).cost_usd == D("0.004")


def test_the_outbox_keeps_its_estimates(app, client):
    pipeline.answer(make_task().id)
    [sms] = outbox()
    sms.status = "delivered"
    db.session.commit()
    assert jobs.fetch_sms_prices.apply().get() == 0
    assert outbox()[0].price_estimated


def test_the_webhook_never_calls_twilio_for_a_price(app, client, twilio_server):
    sent_and_delivered(client, twilio_server)
    assert [m for m, _p, _b in twilio_server.requests] == ["POST"]


def test_inbound_texts_cost_nothing_until_answered(app, client):
    make_user("+15551230000")
    signed_post(client, "/sms/inbound", inbound_form())
    db.session.rollback()
    [task] = db.session.scalars(sa.select(Task)).all()
    assert task.cost_usd == 0
