"""The sender's rate (SENDER_RATE): past it, one notice per window, nothing counted, and
the API's 429 says when the window resets; counted together by every web process through
Redis."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from config import TestingConfig
from sms_agent import create_app, handoff, jobs, limits
from sms_agent.extensions import db
from sms_agent.models import Conversation, User, utcnow
from tests.admission import PHONE, D, answers, api_create, assert_lifts_at, notices, stored, text
from tests.broker import drained
from tests.factories import make_user
from tests.standins import inbound_form, signed_post, silent_redis, unused_port
from tests.test_database_connections import closed_by_the_server
from tests.test_webhook import deliver_at_once, queued_jobs

#: An attachment we do not read, and no words.
VCARD = {
    "NumMedia": "1",
    "MediaUrl0": "https://api.twilio.com/x/Media/ME1",
    "MediaContentType0": "text/vcard",
}


def test_a_sender_past_its_rate_gets_one_notice_per_window_and_costs_nothing(app, client):
    app.config.update(SENDER_RATE="2/minute;100/day")
    make_user(PHONE)
    for body in ("one", "two", "three", "four"):
        text(client, body)
    jobs = queued_jobs(app)
    assert answers(jobs) == 2
    assert [args[1] for name, args in jobs if name.endswith("send_notice")] == ["rate_limited"]
    assert stored()[2:] == [("refused", "rate_limited"), ("refused", "rate_limited")]
    assert db.session.get(User, PHONE).monthly_requests == 2  # refused texts are not counted
    text(client, "STOP")  # an opt-out is always obeyed and confirmed
    assert notices(app) == ["opt_out"]
    text(client, "START")  # and so is opting back in
    assert notices(app) == ["opt_in"]


@pytest.mark.parametrize(("media", "how_to"), [({}, "empty"), (VCARD, "media")])
def test_blank_texts_and_unreadable_files_count_against_the_senders_rate(
    app, client, media, how_to
):
    """Regression: a text with nothing in it (or only a file we cannot read) got its how-to
    SMS every time, uncounted, so a phone stuck resending an empty text (or a vCard) cost an
    SMS each, without end, past SENDER_RATE. Each now counts like any text; past the rate
    the texter gets the rate's one notice and then nothing."""
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    for _text in range(5):
        signed_post(client, "/sms/inbound", inbound_form(" ", From=PHONE, **media))
    assert notices(app) == [how_to, how_to, "rate_limited"]
    text(client, "What is DNS?")  # the rate is used up for questions too
    # A file we cannot read is kept for staff each time, past the rate too: what it is.
    kept = [("refused", "unsupported")] * 5 if media else []
    assert stored() == [*kept, ("refused", "rate_limited")]


@pytest.mark.parametrize(
    ("word", "notice"),
    [("HELP", "help"), ("usage", "usage"), ("RESET", "reset"), ("START", "opt_in")],
)
def test_keywords_notices_count_against_the_senders_rate(app, client, word, notice):
    """Regression: HELP (USAGE, RESET, START from a subscribed texter...) got its SMS every
    time, uncounted, so a phone stuck resending it cost an SMS each, without end, past
    SENDER_RATE. Each now counts like any text: past the rate, the rate's one notice, then
    nothing, while the keyword is still obeyed and STOP still confirmed."""
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    for _text in range(5):
        text(client, word)
    assert notices(app) == [notice, notice, "rate_limited"]
    text(client, "What is DNS?")
    assert stored() == [("refused", "rate_limited")]
    text(client, "STOP")
    assert notices(app) == ["opt_out"]
    assert db.session.get(User, PHONE).is_opted_out


def test_texts_for_staff_count_against_the_senders_rate(app, client):
    """Regression: while staff had (or were asked for) the conversation, every text was
    stored for them uncounted, and each picture sent with one fetched and kept: a phone
    stuck resending filled the database without end, past SENDER_RATE. Past the rate they
    are stored refused `rate_limited`, with its one notice, and no picture is fetched."""
    app.config.update(SENDER_RATE="2/minute")
    handoff.request_human(make_user(PHONE), "keyword")
    db.session.commit()
    for n in range(4):
        form = inbound_form(f"Photo {n}", From=PHONE, NumMedia="1")
        form.update(
            MediaUrl0=f"https://api.twilio.com/x/Media/ME{n}", MediaContentType0="image/png"
        )
        response = signed_post(client, "/sms/inbound", form)
        assert response.status_code == 200, response.get_data(as_text=True)
    assert stored() == [("refused", "held_for_staff")] * 2 + [("refused", "rate_limited")] * 2
    jobs = queued_jobs(app)
    assert sum(1 for name, _args in jobs if name.endswith("read_held_media")) == 2
    assert [args[1] for name, args in jobs if name.endswith("send_notice")] == ["rate_limited"]
    assert db.session.get(Conversation, PHONE).unread == 2


@pytest.mark.parametrize(("body", "notice"), [(" ", "empty"), ("HELP", "help")])
def test_a_retried_blank_text_or_keyword_does_not_use_up_the_senders_rate(
    app, client, body, notice
):
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    form = inbound_form(body, From=PHONE)
    for _delivery in range(3):
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    text(client, "What is DNS?")
    assert notices(app) == [notice] and stored() == [("queued", None)]


def test_twilios_retries_of_one_sms_do_not_use_up_the_senders_rate(app, client):
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    first = inbound_form("What is DNS?")
    for _delivery in range(3):  # Twilio got no answer in time and delivered it again
        assert signed_post(client, "/sms/inbound", first).status_code == 200
    text(client, "What is HTTP?")
    assert stored() == [("queued", None), ("queued", None)]
    assert notices(app) == []
    assert db.session.get(User, PHONE).monthly_requests == 2


@contextlib.contextmanager
def connection_lost_at(first_words: str):
    """The database drops the request's connection as it is about to run the first
    statement that starts with `first_words` (a restart or a failover mid-request)."""
    lost = []

    def drop(conn, _cursor, statement, *_args):
        if not lost and statement.startswith(first_words):
            lost.append(True)
            closed_by_the_server(conn.connection.dbapi_connection.info.backend_pid)

    sa.event.listen(db.engine, "before_cursor_execute", drop)
    try:
        yield
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", drop)
    assert lost


def test_a_text_lost_by_the_database_after_it_was_counted_counts_once_when_stored(app, client):
    """Regression: a text counted against the sender's rate whose connection the database
    then dropped was kept for a worker, which counted it again as it stored it: one text
    used up two of the rate (so did Twilio's retry of a delivery that failed so), and the
    texter's next question was refused. Each MessageSid now counts once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: a server to drop the connection")
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    form = inbound_form("What is DNS?", From=PHONE)
    with connection_lost_at("INSERT INTO tasks"):
        assert signed_post(client, "/sms/inbound", form).status_code == 200
    [kept] = drained(app)
    assert kept.headers["task"] == "sms_agent.jobs.receive_inbound"
    args, kwargs, _options = kept.payload
    assert jobs.receive_inbound.apply(args=args, kwargs=kwargs).result == "task"
    text(client, "What is HTTP?")
    assert stored() == [("queued", None), ("queued", None)]
    assert notices(app) == []


def test_deliveries_of_one_sms_at_once_count_once_against_the_senders_rate(app, database_url):
    """Twilio's retries of one SMS arriving together, each in a web process of its own on
    one Redis: the texter's next text is still within "2/minute"."""
    url = TestingConfig.TEST_REDIS_URL or "memory://"
    phone = "+1555" + str(time.time_ns())[-7:]  # Redis outlives the test: a fresh number
    app.config.update(SENDER_RATE="2/minute", SENDER_RATE_STORAGE_URI=url)
    make_user(phone)
    form = inbound_form("What is DNS?", From=phone)
    assert deliver_at_once(app, [form] * 4) == [200] * 4
    text(app.test_client(), "What is HTTP?", phone=phone)
    assert stored() == [("queued", None), ("queued", None)]


def test_texts_are_stored_and_answered_while_the_senders_counter_store_is_down(app, client, caplog):
    """Regression: with the Redis of SENDER_RATE_STORAGE_URI down, every inbound text was a
    500 and nothing was stored (Twilio gave up after its retries), though a broker outage
    on the same Redis loses nothing; now texts are admitted uncounted meanwhile, with a
    warning."""
    app.config.update(
        SENDER_RATE="1/minute", SENDER_RATE_STORAGE_URI=f"redis://127.0.0.1:{unused_port()}/13"
    )
    text(client, "one")
    text(client, "two")
    assert stored() == [("queued", None), ("queued", None)]
    assert "SENDER_RATE_STORAGE_URI unreachable" in caplog.text


def test_a_counter_store_that_never_answers_holds_a_text_up_no_longer_than_the_broker_may(
    app, client
):
    """Regression: a Redis that takes connections and never answers (hung, or its host gone
    mid-connection) held every inbound text 5 seconds (redis-py's default timeout) before
    admitting it uncounted, though a publish to the same Redis gives up after
    BROKER_PUBLISH_TIMEOUT: a burst then kept every web thread waiting past Twilio's 15
    seconds. Now the counter gives up as soon."""
    with silent_redis() as url:
        app.config.update(SENDER_RATE="1/minute", SENDER_RATE_STORAGE_URI=url)
        started = time.monotonic()
        text(client, "one")
        waited = time.monotonic() - started
    assert stored() == [("queued", None)]
    assert waited < app.config["BROKER_PUBLISH_TIMEOUT"] * 2


def test_each_sender_has_its_own_rate(app, client):
    app.config.update(SENDER_RATE="1/minute")
    text(client, phone=PHONE)
    text(client, phone="+15551239999")
    assert stored() == [("queued", None), ("queued", None)]


class RateClock:
    """The `time` module as the memory:// counters read it, whose time.time() moves only
    when the test moves it: a "1/second" window ran on the wall clock, so on a busy machine
    a request taking a second let the next text into a new window, and the test failed."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def rate_clock(monkeypatch) -> RateClock:
    from limits.storage import memory

    clock = RateClock()
    monkeypatch.setattr(memory, "time", clock)
    return clock


def test_a_new_window_brings_one_more_notice(app, client, rate_clock):
    app.config.update(SENDER_RATE="1/second")
    make_user(PHONE)
    text(client, "one")
    text(client, "two")
    assert notices(app) == ["rate_limited"]
    rate_clock.now += 1.05
    text(client, "three")
    text(client, "four")
    assert notices(app) == ["rate_limited"]
    assert [reason for _s, reason in stored()] == [None, "rate_limited", None, "rate_limited"]


def test_texts_either_side_of_a_windows_end_are_held_to_the_rate(app, client, rate_clock):
    """Regression: the rate was counted in fixed windows, so texts at the end of one window
    and the start of the next all passed: at "2/minute", three texts within two seconds
    were answered (a burst at every window's edge, twice the rate). Any 60 seconds now
    hold at most two."""
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    text(client, "first")
    rate_clock.now += 59
    text(client, "second, a minute after the first")
    rate_clock.now += 1.5
    text(client, "third, a minute after the first")
    text(client, "fourth, two seconds after the second")
    assert [reason for _s, reason in stored()] == [None, None, None, "rate_limited"]


def test_a_phone_stuck_resending_gets_one_notice_per_window_length(app, client, rate_clock):
    """In a moving window a used-up rate frees one text at a time, each at its own moment:
    told anew whenever the reset moved, a phone stuck resending got a notice after every
    text that got through (at "2/minute", one every 30 seconds here), where fixed windows
    sent one a minute."""
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    start, told = rate_clock.now, []
    for second in (0, 30, 31, 61, 62, 91, 92, 121, 122):
        rate_clock.now = start + second
        text(client, f"At {second}s")
        told += [second for _notice in notices(app)]
    assert told == [31, 92]


def test_past_the_days_rate_a_phone_stuck_resending_gets_one_notice_for_the_day(
    app, client, rate_clock
):
    """Regression: with the day's texts used up, a text refused by the minute's window and
    the next by the day's took turns at the notice's window, and each brought a notice: two
    SMS a minute, all day, to a phone stuck resending."""
    app.config.update(SENDER_RATE="2/minute;3/day")
    make_user(PHONE)
    sent = []
    for minute in range(4):
        for n in range(4):
            text(client, f"Minute {minute}, text {n}")
        sent.append(notices(app))
        rate_clock.now += 61
    # The minute's window, then the day's, once each; nothing more until the day resets.
    assert sent == [["rate_limited"], ["rate_limited"], [], []]
    assert [reason for _s, reason in stored()].count(None) == 3


class WanderingClock(RateClock):
    """The clock the Redis storage adds a key's time to live (whole seconds) to, read 0.6 s
    apart in turn, as texts a moment apart read it: the reset it tells moves by a second."""

    def __init__(self) -> None:
        super().__init__()
        self.now = float(int(self.now)) + 0.5
        self.reads = 0

    def time(self) -> float:
        self.reads += 1
        return self.now + 0.6 * (self.reads % 2)


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_one_notice_per_window_when_redis_counts(app, client, monkeypatch):
    """Regression: a window was known by its reset cut to the second, which Redis tells as
    whole seconds of time to live added to the clock: texts refused in one window got a
    notice whenever that sum crossed a second, many per window."""
    from limits.storage import redis

    monkeypatch.setattr(redis, "time", WanderingClock())
    phone = "+1555" + str(time.time_ns())[-7:]  # Redis outlives the test: a fresh number
    app.config.update(SENDER_RATE="1/minute", SENDER_RATE_STORAGE_URI=TestingConfig.TEST_REDIS_URL)
    make_user(phone)
    for n in range(6):
        text(client, f"Text {n}", phone=phone)
    assert notices(app) == ["rate_limited"]


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_web_processes_share_the_senders_count_through_redis(app, client, database_url):
    phone = "+1555" + str(time.time_ns())[-7:]  # Redis outlives the test: a fresh number
    app.config.update(SENDER_RATE="1/minute", SENDER_RATE_STORAGE_URI=TestingConfig.TEST_REDIS_URL)
    other = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        SENDER_RATE="1/minute",
        SENDER_RATE_STORAGE_URI=TestingConfig.TEST_REDIS_URL,
    )
    text(client, phone=phone)
    with other.app_context():
        user = db.session.get(User, phone)
        refused = limits.admit(user)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    assert refused.refusal == "rate_limited"


def _rate_storages() -> list:
    url = TestingConfig.TEST_REDIS_URL
    return [
        pytest.param("memory://", id="memory"),
        pytest.param(
            url, id="redis", marks=pytest.mark.skipif(not url, reason="TEST_REDIS_URL is not set")
        ),
    ]


def test_api_tasks_refused_by_a_cap_do_not_use_up_the_senders_rate(app, client):
    """Regression: a task the API refused with a 429 (over a spend cap, or the quota) was
    counted against its texter's rate though nothing was stored, sent or billed for it, so
    a client retrying as the 429 allows used up the texter's own texts: refused
    rate_limited once the cap was lifted. Texts refused still count (Twilio billed each,
    and a phone stuck resending must be held); a refused API request changes nothing."""
    app.config.update(SENDER_RATE="2/minute", SPEND_CAP_FREE=D("0"))
    make_user(PHONE)
    for _retry in range(2):
        response = api_create(client)
        assert response.status_code == 429
        assert response.get_json()["details"]["reason"] == "over_spend"
    app.config.update(SPEND_CAP_FREE=None)  # staff lift the cap
    assert api_create(client).status_code == 201
    text(client, "What is DNS?")
    assert stored() == [("queued", None), ("queued", None)]
    assert api_create(client).get_json()["details"]["reason"] == "rate_limited"


def test_an_api_task_refused_late_by_the_rate_is_logged_like_every_refusal(
    app, client, monkeypatch, caplog
):
    """Regression: a task the rate still had room for when read, whose last text another
    request of the texter took before it was counted, got its 429 with no "refused" line
    in the log, which every other refusal has."""
    app.config.update(SENDER_RATE="1/minute")
    make_user(PHONE)
    admit = limits.quota.admit

    def a_text_is_counted_meanwhile(user, now=None):
        item = limits.parse_many("1/minute")[0]
        assert limits._limiter().hit(item, limits._COUNTED_AS, PHONE)
        return admit(user, now)

    monkeypatch.setattr(limits.quota, "admit", a_text_is_counted_meanwhile)
    caplog.set_level("INFO", logger="sms_agent.limits")

    response = api_create(client)

    assert response.get_json()["details"]["reason"] == "rate_limited"
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "***0000 refused: rate_limited"
    ]


@pytest.mark.parametrize("storage", _rate_storages())
@pytest.mark.parametrize(
    ("rate", "window"), [("1/minute", 60), ("1/minute;1/day", 24 * 3600)], ids=["minute", "day"]
)
def test_the_api_says_when_the_sender_rate_lifts(app, client, storage, rate, window):
    """When the window that refused resets (the day's, when the day's is used up too)."""
    phone = "+1555" + str(time.time_ns())[-7:]  # Redis outlives the test: a fresh number
    app.config.update(SENDER_RATE=rate, SENDER_RATE_STORAGE_URI=storage)
    make_user(phone)
    began = utcnow()
    assert api_create(client, phone).status_code == 201

    before = utcnow()
    response = api_create(client, phone)
    after = utcnow()

    assert response.get_json()["details"]["reason"] == "rate_limited"
    lifts = datetime.fromisoformat(response.get_json()["details"]["sender_rate_lifts"])
    # The window started with the first request; Redis keeps its expiry in whole seconds.
    assert began + timedelta(seconds=window - 1) <= lifts <= after + timedelta(seconds=window)
    assert_lifts_at(response, "sender_rate_lifts", lifts, before, after)
