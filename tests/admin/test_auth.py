"""Logging in and out of the admin, and who gets in."""

from __future__ import annotations

import random
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from config import TestingConfig
from sms_agent import create_app
from sms_agent.admin import auth
from sms_agent.admin.auth import load_staff, safe_next
from sms_agent.extensions import db
from tests.admin.conftest import PASSWORD, StoppedClock, csrf_for, form_as_shown, log_in
from tests.conftest import RollingBackClient
from tests.factories import make_error, make_staff
from tests.standins import unused_port

ADMIN_PAGES = [
    "/admin/",
    "/admin/user/",
    "/admin/task/",
    "/admin/errorlog/",
    "/admin/outboundmessage/",
    "/admin/staffuser/",
    "/admin/apitoken/",
    "/admin/user/new/",
    "/admin/apitoken/new/",
    "/admin/user/conversation/?id=x",
]


def test_login_page_has_a_form_with_a_csrf_token(client):
    page = client.get("/admin/auth/login/").get_data(as_text=True)
    assert 'name="username"' in page and 'name="password"' in page
    assert csrf_for(client, "/admin/auth/login/")


def test_staff_login_lands_on_the_dashboard_and_records_the_time(client):
    staff = make_staff("ann", PASSWORD)
    response = log_in(client, "ann")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    db.session.refresh(staff)
    assert staff.last_login_at is not None
    assert "Welcome to SMS-to-AI Agent Administration" in client.get("/admin/").get_data(
        as_text=True
    )


@pytest.mark.parametrize("typed", ["ann", "ANN", " aNn "])
def test_a_username_logs_in_however_its_letters_are_cased(client, typed):
    """Regression: "Ann" could not log in as "ann"."""
    make_staff("Ann", PASSWORD)
    assert log_in(client, typed).status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("username", "password"), [("ann", "wrong password"), ("nobody", PASSWORD), ("ann", "")]
)
def test_bad_credentials_are_refused(client, username, password):
    make_staff("ann", PASSWORD)
    response = log_in(client, username, password)
    assert response.status_code in (400, 401)
    assert client.get("/admin/").status_code == 302


def test_wrong_password_says_so_with_401(client):
    make_staff("ann", PASSWORD)
    response = log_in(client, "ann", "wrong password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)


def median_refusal_seconds(client, attempts: dict[str, tuple[str, str]], rounds: int = 7):
    """How long each refused login takes, the median of a few so one slow moment cannot
    decide; the kinds take turns, so a machine that slows down meanwhile slows them all."""
    timings: dict[str, list[float]] = {kind: [] for kind in attempts}
    for _ in range(rounds):
        for kind, (username, password) in attempts.items():
            data = {"username": username, "password": password, "next": ""}
            data["csrf_token"] = csrf_for(client, "/admin/auth/login/")
            began = time.perf_counter()
            response = client.post("/admin/auth/login/", data=data)
            timings[kind].append(time.perf_counter() - began)
            assert response.status_code == 401
    return {kind: statistics.median(values) for kind, values in timings.items()}


def test_refusals_take_as_long_whether_or_not_the_username_exists(client):
    """Checking a password takes a deliberately slow hash; an unknown or inactive account
    must not be refused faster, or the timing tells which usernames exist."""
    make_staff("ann", PASSWORD)
    make_staff("gone", PASSWORD, is_active=False)

    seconds = median_refusal_seconds(
        client,
        {
            "wrong password": ("ann", "wrong password"),
            "unknown user": ("nobody", "wrong password"),
            "inactive user": ("gone", PASSWORD),
        },
    )

    assert seconds["unknown user"] >= 0.5 * seconds["wrong password"], seconds
    assert seconds["inactive user"] >= 0.5 * seconds["wrong password"], seconds


def test_inactive_staff_cannot_log_in(client):
    make_staff("gone", PASSWORD, is_active=False)
    assert log_in(client, "gone").status_code == 401


def test_staff_deactivated_after_login_is_sent_back_to_login(client):
    staff = make_staff("ann", PASSWORD)
    log_in(client, "ann")
    staff.is_active = False
    db.session.commit()
    response = client.get("/admin/user/")
    assert response.status_code == 302
    assert "/admin/auth/login/" in response.headers["Location"]


def test_login_without_csrf_token_is_rejected(client):
    make_staff("ann", PASSWORD)
    response = client.post("/admin/auth/login/", data={"username": "ann", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_anonymous_visitors_are_redirected_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/admin/auth/login/?next=")


def test_login_page_sends_logged_in_staff_on(staff_client):
    response = staff_client.get("/admin/auth/login/?next=/admin/task/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/task/"


def test_login_returns_to_the_page_asked_for(client):
    make_staff("ann", PASSWORD)
    response = log_in(client, "ann", next_url="/admin/task/?search=x")
    assert response.headers["Location"] == "/admin/task/?search=x"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "\\\\evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "x",
    ],
)
def test_next_never_leaves_the_site(app, target):
    with app.test_request_context():
        assert safe_next(target) == "/admin/"


@pytest.mark.parametrize("target", ["http:evil.example", "http:/evil.example", "//evil.example"])
@pytest.mark.parametrize("view", ["details", "edit"])
def test_a_return_address_off_the_site_is_ignored(admin_client, view, target):
    """Flask-Admin's pages go back to their ?url=; "http:evil.example" passed its check and
    was written "http:///evil.example" in the redirect, which browsers follow off the site."""
    response = admin_client.get(f"/admin/errorlog/{view}/", query_string={"id": "x", "url": target})
    assert response.headers["Location"] == "/admin/errorlog/"


def test_a_saved_form_does_not_return_off_the_site(admin_client):
    error = make_error()
    url = f"/admin/errorlog/edit/?id={error.id}&url=http:evil.example"
    response = admin_client.post(url, data=form_as_shown(admin_client, url))
    assert response.headers["Location"] == "/admin/errorlog/"


def test_a_csrf_token_from_before_the_login_is_refused_after_it(client):
    """A session cookie planted before the login (a sibling subdomain can set one) must not
    carry into the staff member's session a CSRF secret its planter knows."""
    make_staff("ann", PASSWORD, is_admin=True)
    planted = csrf_for(client, "/admin/auth/login/")
    assert log_in(client, "ann").status_code == 302
    assert client.post("/admin/auth/logout/", data={"csrf_token": planted}).status_code == 400
    fresh = csrf_for(client, "/admin/")
    assert client.post("/admin/auth/logout/", data={"csrf_token": fresh}).status_code == 302


def test_logout_needs_post_and_ends_the_session(client):
    make_staff("ann", PASSWORD)
    log_in(client, "ann")
    token = csrf_for(client, "/admin/")
    assert client.get("/admin/auth/logout/").status_code == 405
    assert client.post("/admin/auth/logout/", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_a_session_left_idle_for_admin_idle_minutes_ends(app, client, monkeypatch):
    """Regression: a staff session stayed logged in however long it sat unused, so a
    browser left open on a shared computer (or a copied cookie) was an open admin forever.
    Each page staff open keeps it going for ADMIN_IDLE_MINUTES more; past that, the next
    page is the login page, which says why, and the session's API calls are refused."""
    app.config["ADMIN_IDLE_MINUTES"] = 30
    clock = StoppedClock(monkeypatch)
    make_staff("ann", PASSWORD)
    log_in(client, "ann")

    for _ in range(3):
        clock.wait(29)
        assert client.get("/admin/").status_code == 200
    clock.wait(31)

    response = client.get("/admin/user/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/auth/login/")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "logged out after 30 minutes without activity" in page
    assert client.get("/api/users/").status_code == 401
    assert log_in(client, "ann").status_code == 302
    assert client.get("/admin/user/").status_code == 200


def test_a_pages_own_polling_does_not_keep_an_idle_session_going(app, client, monkeypatch):
    """The conversation page asks for new texts every few seconds by itself: an open tab
    nobody looks at must still time out."""
    app.config["ADMIN_IDLE_MINUTES"] = 30
    clock = StoppedClock(monkeypatch)
    make_staff("ann", PASSWORD)
    log_in(client, "ann")
    poll = {"Sec-Fetch-Mode": "cors"}

    clock.wait(20)
    assert client.get("/admin/", headers=poll).status_code == 200
    clock.wait(11)
    assert client.get("/admin/", headers=poll).status_code == 302


def test_admin_idle_minutes_of_zero_keeps_sessions_until_logout(app, client, monkeypatch):
    app.config["ADMIN_IDLE_MINUTES"] = 0
    clock = StoppedClock(monkeypatch)
    make_staff("ann", PASSWORD)
    log_in(client, "ann")
    clock.wait(60 * 24 * 30)
    assert client.get("/admin/").status_code == 200


def test_user_loader_ignores_garbage_ids(app):
    assert load_staff("not-a-number") is None
    assert load_staff("999") is None
    assert load_staff("999:some-token") is None


def test_a_session_needs_the_accounts_current_token(app):
    """Sessions from before session tokens (the id alone) or with an old token are out."""
    staff = make_staff("ann", PASSWORD)
    assert load_staff(staff.get_id()) is staff
    assert load_staff(str(staff.id)) is None
    assert load_staff(f"{staff.id}:{staff.session_token[:-1]}") is None


def throttled_app(database_url, **rates):
    """Its own app with throttling on (the shared test config turns it off), at `rates`."""
    app = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True, **rates
    )
    app.test_client_class = RollingBackClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def limited_app(database_url):
    yield from throttled_app(database_url, LOGIN_RATE="3/minute")


def test_repeated_failed_logins_are_throttled_with_a_friendly_429(app, limited_app):
    with limited_app.app_context():
        make_staff("ann", PASSWORD)
        client = limited_app.test_client()
        statuses = [log_in(client, "ann", "wrong").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        response = log_in(client, "ann")
        assert response.status_code == 429
        assert "Too many failed logins" in response.get_data(as_text=True)


def test_staff_log_in_while_the_throttle_store_is_unreachable(app, database_url):
    """Regression: with the Redis of RATELIMIT_STORAGE_URI down, every login POST was a
    500, so no one could reach the admin in an outage; failed ones are still throttled."""
    down = f"redis://127.0.0.1:{unused_port()}/13"
    limited = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
        LOGIN_RATE="3/minute",
        RATELIMIT_STORAGE_URI=down,
    )
    limited.test_client_class = RollingBackClient
    with limited.app_context():
        make_staff("ann", PASSWORD)
        client = limited.test_client()
        assert log_in(client, "ann").status_code == 302
        client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(client, "/admin/")})
        statuses = [log_in(client, "ann", "wrong").status_code for _ in range(4)]
        db.session.remove()
        db.engine.dispose()
    assert statuses == [401, 401, 401, 429]


def test_successful_logins_do_not_count_towards_the_limit(app, limited_app):
    with limited_app.app_context():
        make_staff("ann", PASSWORD)
        client = limited_app.test_client()
        for _ in range(5):
            assert log_in(client, "ann").status_code == 302
            client.post("/admin/auth/logout/", data={"csrf_token": csrf_for(client, "/admin/")})


def test_failed_logins_at_the_same_moment_are_throttled_too(app, limited_app, monkeypatch):
    """The limit was only looked at before each attempt and counted after it: attempts sent
    together, each checking its password while the others did, all got past LOGIN_RATE."""
    slow_check = auth.authenticate

    def authenticate(username, password):
        time.sleep(0.3)  # a password hash takes its time; the attempts overlap meanwhile
        return slow_check(username, password)

    monkeypatch.setattr(auth, "authenticate", authenticate)
    with limited_app.app_context():
        make_staff("ann", PASSWORD)
    browsers = [limited_app.test_client() for _ in range(6)]
    tokens = [csrf_for(browser, "/admin/auth/login/") for browser in browsers]
    start = threading.Barrier(len(browsers))

    def attempt(n: int) -> int:
        data = {"username": "ann", "password": "wrong", "csrf_token": tokens[n]}
        start.wait()
        with limited_app.app_context():
            return browsers[n].post("/admin/auth/login/", data=data).status_code

    with ThreadPoolExecutor(len(browsers)) as pool:
        statuses = sorted(pool.map(attempt, range(len(browsers))))
    assert statuses == [401, 401, 401, 429, 429, 429]


def test_failed_logins_from_one_ipv6_network_are_throttled_together(app, limited_app):
    """Regression: LOGIN_RATE counted each IPv6 address apart, but whoever has one has the
    2**64 addresses of its /64 (any server, most home lines): a new source address for
    every guess, and the throttle stopped none. An IPv6 client counts by its /64, as an
    IPv4 one by its address."""
    with limited_app.app_context():
        make_staff("ann", PASSWORD)

        def guess_from(address: str) -> int:
            browser = limited_app.test_client()
            browser.environ_base["REMOTE_ADDR"] = address
            return log_in(browser, "ann", "wrong").status_code

        statuses = [guess_from(f"2001:db8:1:2:{n}::7") for n in range(1, 5)]
        assert statuses == [401, 401, 401, 429]
        assert guess_from("2001:db8:1:3::7") == 401  # another network
        assert guess_from("192.0.2.1") == 401
        assert guess_from("192.0.2.2") == 401


@pytest.fixture
def two_web_processes(app):
    """Two apps counting failed logins in the test Redis, as two gunicorn workers would."""
    if not TestingConfig.TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    processes = [
        create_app(
            TestingConfig,
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=TestingConfig.TEST_REDIS_URL,
            LOGIN_RATE="3/minute",
        )
        for _ in range(2)
    ]
    yield processes
    for process in processes:
        with process.app_context():
            db.engine.dispose()


def test_two_web_processes_share_one_failed_login_count(two_web_processes):
    """LOGIN_RATE holds for the whole deployment, not for each process."""
    # Counters in Redis outlive a test: a random address keeps this run's count its own.
    address = f"127.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    browsers = [process.test_client() for process in two_web_processes]
    for browser in browsers:
        browser.environ_base["REMOTE_ADDR"] = address
    make_staff("ann", PASSWORD)
    # Successful logins (each in a browser of its own) give their attempt back there too.
    for n in range(4):
        browser = two_web_processes[n % 2].test_client()
        browser.environ_base["REMOTE_ADDR"] = address
        assert log_in(browser, "ann").status_code == 302

    statuses = [log_in(browsers[n % 2], "ann", "wrong").status_code for n in range(4)]

    assert statuses == [401, 401, 401, 429]
    assert log_in(browsers[0], "ann").status_code == 429


@pytest.fixture
def account_limited_app(database_url):
    """A small LOGIN_ACCOUNT_RATE, and a LOGIN_RATE no test reaches."""
    yield from throttled_app(database_url, LOGIN_RATE="1000/minute", LOGIN_ACCOUNT_RATE="3/hour")


def guess_from_network(app, n: int, username: str = "ann", password: str = "wrong") -> int:
    """A login attempt from the n-th /64 of one IPv6 /48, in a browser of its own."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = f"2001:db8:1:{n:x}::7"
    return log_in(browser, username, password).status_code


def test_failed_logins_for_one_account_are_throttled_whatever_the_address(app, account_limited_app):
    """Regression: failed logins were counted only per address (an IPv6 client by its /64),
    so a free tunnel's /48, 65,536 networks, or any botnet guessed one staff password without
    limit. LOGIN_ACCOUNT_RATE holds each account to its own budget of failures."""
    make_staff("ann", PASSWORD)
    make_staff("bob", PASSWORD)
    statuses = [guess_from_network(account_limited_app, n) for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    browser = account_limited_app.test_client()
    response = log_in(browser, "ANN", PASSWORD)  # the right password, any writing of the name
    assert response.status_code == 429
    assert "Too many failed logins for this account" in response.get_data(as_text=True)
    assert guess_from_network(account_limited_app, 9, "bob", PASSWORD) == 302  # another account


def test_a_browser_that_logged_in_to_the_account_before_gets_in_while_it_is_attacked(
    app, account_limited_app
):
    """Whoever guesses an account's password uses up its failures, and with them the
    account's logins from every new browser; the staff member's own browser, which logged in
    to it before, still gets in (OWASP's device cookies)."""
    make_staff("ann", PASSWORD)
    make_staff("bob", PASSWORD)
    own = account_limited_app.test_client()
    assert log_in(own, "ann").status_code == 302
    own.post("/admin/auth/logout/", data={"csrf_token": csrf_for(own, "/admin/")})
    assert log_in(own, "bob").status_code == 302  # the browser keeps knowing ann too
    own.post("/admin/auth/logout/", data={"csrf_token": csrf_for(own, "/admin/")})
    for n in range(3):
        guess_from_network(account_limited_app, n)

    assert guess_from_network(account_limited_app, 5, "ann", PASSWORD) == 429
    assert log_in(own, "ann").status_code == 302


def with_cookie_of(app, browser, n: int):
    """A browser of its own at the n-th /64 of one IPv6 /48, carrying `browser`'s
    known_browser cookie, as a guesser copies it onto every machine of a botnet."""
    copy = app.test_client()
    copy.environ_base["REMOTE_ADDR"] = f"2001:db8:1:{n:x}::7"
    cookie = browser.get_cookie("known_browser", path="/admin/auth/login/")
    copy.set_cookie("known_browser", cookie.value, path="/admin/auth/login/")
    return copy


def test_a_copied_known_browser_cookie_guesses_no_more_than_the_account_allows(
    app, account_limited_app
):
    """Regression: a browser the account logged in from was exempt from LOGIN_ACCOUNT_RATE
    altogether, and its cookie is a bearer value. Whoever logged in once (a password
    leaked, then changed) copied that cookie onto a botnet's machines and guessed the new
    password from every /64 without the account's limit. Each known browser now has a
    budget of its own (OWASP's device cookies: a device cookie that keeps failing is
    locked out), shared by every copy of it, even re-issued by a later login; the staff
    member's own browser still gets in."""
    ann = make_staff("ann", "the old password")
    make_staff("bob", PASSWORD)
    own = account_limited_app.test_client()
    assert log_in(own, "ann", "the old password").status_code == 302
    own.post("/admin/auth/logout/", data={"csrf_token": csrf_for(own, "/admin/")})
    stolen = account_limited_app.test_client()
    assert log_in(stolen, "ann", "the old password").status_code == 302
    stolen.post("/admin/auth/logout/", data={"csrf_token": csrf_for(stolen, "/admin/")})
    ann.set_password(PASSWORD)
    db.session.commit()

    copies = [with_cookie_of(account_limited_app, stolen, n) for n in range(4)]
    statuses = [log_in(copy, "ann", "guess").status_code for copy in copies]
    assert statuses == [401, 401, 401, 429]
    # A login to another account re-issues the cookie, naming ann still, with no new budget.
    assert log_in(stolen, "bob").status_code == 302
    stolen.post("/admin/auth/logout/", data={"csrf_token": csrf_for(stolen, "/admin/")})
    assert log_in(with_cookie_of(account_limited_app, stolen, 9), "ann", "guess").status_code == 429
    assert log_in(own, "ann").status_code == 302


def test_a_browser_with_the_first_releases_cookie_still_gets_in_while_attacked(
    app, account_limited_app
):
    """A cookie of the first release (a bare list of the accounts) is still a known browser,
    with a budget of its own."""
    from sms_agent.admin import known_browsers

    ann = make_staff("ann", PASSWORD)
    with account_limited_app.test_request_context():
        old_cookie = known_browsers._signer().dumps([ann.id])
    own = account_limited_app.test_client()
    own.set_cookie("known_browser", old_cookie, path="/admin/auth/login/")
    for n in range(3):
        guess_from_network(account_limited_app, n)

    assert guess_from_network(account_limited_app, 5, "ann", PASSWORD) == 429
    assert log_in(own, "ann").status_code == 302


def test_a_username_of_the_most_characters_logs_in_typed_with_spaces_around_it(client):
    """Regression: the login form measured the username with the spaces around it, which
    the login then drops, and its box's maxlength counted them: an account named with the
    most characters (80), typed or pasted with a space before it, could not log in."""
    from tests.admin.conftest import staff_account

    name = "n" * 80
    staff_account(name, is_admin=False)
    page = client.get("/admin/auth/login/").get_data(as_text=True)
    box = re.search(r'<input[^>]*\bname="username"[^>]*>', page).group(0)
    assert "maxlength" not in box
    assert log_in(client, f" {name} ").status_code == 302
