"""The application factory, configuration parsing and the WSGI entry point."""

import gc
import os
import secrets
import subprocess
import sys
import weakref
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa

import config
from config import ProductionConfig, TestingConfig
from sms_agent import create_app
from sms_agent.current import app_config
from sms_agent.extensions import db

PROJECT = Path(__file__).resolve().parent.parent


def test_factory_registers_the_three_surfaces(app):
    assert {"webhook", "api"} <= set(app.blueprints)
    assert "celery" in app.extensions
    assert {"staff", "token", "demo", "quota"} <= set(app.cli.commands)


def test_a_function_made_for_one_request_is_not_kept_by_the_app(app, client):
    """The app remembers which of its hooks and views are plain functions, not the ones a
    request makes for itself (after_this_request's): those go with the request."""
    made = []

    def one_off():
        def after(response):
            response.headers["X-After"] = "ran"
            return response

        made.append(weakref.ref(after))
        flask.after_this_request(after)
        return "ok"

    app.add_url_rule("/one-off", "one_off", one_off)
    for _ in range(2):
        assert client.get("/one-off").headers["X-After"] == "ran"
    gc.collect()
    assert [ref() for ref in made] == [None, None]


def test_app_config_is_the_current_apps_own_config():
    first, second = create_app(TestingConfig), create_app(TestingConfig, CONTEXT_TURNS=2)
    for app in (first, second):
        with app.app_context():
            assert app_config() is flask.current_app.config is app.config
    with pytest.raises(RuntimeError, match="application context"):
        app_config()


def test_wsgi_exposes_app_and_celery_app():
    import wsgi

    assert wsgi.celery_app is wsgi.app.extensions["celery"]


def test_overrides_win_over_the_config_class():
    app = create_app(TestingConfig, OPENAI_MODEL="local-model")
    assert app.config["OPENAI_MODEL"] == "local-model"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"TWILIO_AUTH_TOKEN": None}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_VALIDATE_SIGNATURE": False}, "TWILIO_VALIDATE_SIGNATURE"),
    ],
)
def test_production_refuses_to_start_insecure(missing, message):
    settings = {"SECRET_KEY": "x" * 40, "TWILIO_AUTH_TOKEN": "tok", **missing}
    with pytest.raises(config.SettingError, match=message):
        create_app(ProductionConfig, **settings)


@pytest.mark.parametrize("secret", [config.INSECURE_SECRET_KEY, "short-key"])
def test_production_refuses_a_guessable_secret_key(secret):
    with pytest.raises(config.SettingError, match="SECRET_KEY"):
        create_app(ProductionConfig, SECRET_KEY=secret, TWILIO_AUTH_TOKEN="tok")


PRODUCTION_SECRETS = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "a-twilio-auth-token",
    "TWILIO_PHONE_NUMBER": "+15005550006",
}


def production_process(tmp_path, show=("APP_ENV", "SMS_BACKEND"), **env):
    """Import wsgi in a fresh process configured only by environment variables, as gunicorn
    and Celery would in production; it prints the settings named in `show`."""
    settings = {
        "PATH": os.environ["PATH"],
        "APP_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",  # not connected to by an import
        **env,
    }
    code = f"import wsgi; print(*(wsgi.app.config[name] for name in {list(show)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=settings, capture_output=True, text=True
    )


def configured(tmp_path, **settings):
    """A production process with the secrets it needs and `settings`, printing them."""
    env = {"SECRET_KEY": secrets.token_hex(32), **PRODUCTION_SECRETS, **settings}
    return production_process(tmp_path, list(settings), **env)


def refusal(tmp_path, **settings) -> str:
    """What a production process with `settings` says as it refuses to start: one line,
    no traceback (an operator's typo is not a bug)."""
    done = configured(tmp_path, **settings)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_production_starts_from_environment_variables(tmp_path):
    done = production_process(tmp_path, SECRET_KEY=secrets.token_hex(32), **PRODUCTION_SECRETS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["production", "twilio"]


def test_production_throttles_in_the_brokers_redis_unless_told_otherwise(tmp_path):
    show = ["RATELIMIT_STORAGE_URI"]
    env = {"SECRET_KEY": secrets.token_hex(32), **PRODUCTION_SECRETS}
    done = production_process(tmp_path, show, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["redis://127.0.0.1:6379/0"]

    done = production_process(tmp_path, show, RATELIMIT_STORAGE_URI="redis://other:6379/3", **env)
    assert done.stdout.split() == ["redis://other:6379/3"]


def test_production_refuses_per_process_throttle_counters_with_several_processes(tmp_path):
    """Two web processes counting in their own memory would allow twice LOGIN_RATE."""
    env = {"SECRET_KEY": secrets.token_hex(32), **PRODUCTION_SECRETS}
    sqlite_broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    done = production_process(tmp_path, CELERY_BROKER_URL=sqlite_broker, WEB_CONCURRENCY="2", **env)
    assert done.returncode != 0
    assert "refusing to start in production" in done.stderr
    assert "RATELIMIT_STORAGE_URI=memory:// with WEB_CONCURRENCY=2" in done.stderr

    one_process = production_process(
        tmp_path, CELERY_BROKER_URL=sqlite_broker, WEB_CONCURRENCY="1", **env
    )
    assert one_process.returncode == 0, one_process.stderr


@pytest.mark.parametrize(
    "name", ["API_RATE_ANONYMOUS", "API_RATE_AUTHENTICATED", "LOGIN_RATE", "LOGIN_ACCOUNT_RATE"]
)
def test_a_throttle_rate_that_is_no_rate_stops_the_app(tmp_path, name):
    """Regression: API_RATE_AUTHENTICATED="1000 an hour" started, and Flask-Limiter, which
    skips a limit it cannot parse, then throttled nobody."""
    env = {"SECRET_KEY": secrets.token_hex(32), **PRODUCTION_SECRETS}
    done = production_process(tmp_path, [name], **{name: "1000 an hour"}, **env)
    assert done.returncode != 0
    assert f"{name}='1000 an hour' is not a rate" in done.stderr

    done = production_process(tmp_path, [name], **{name: "5/minute;100/day"}, **env)
    assert done.stdout.split() == ["5/minute;100/day"], done.stderr


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SENDER_RATE", "0/minute"),
        ("LOGIN_RATE", "0/minute"),
        ("API_RATE_ANONYMOUS", "9/hour;0/day"),
    ],
)
def test_a_rate_that_allows_nothing_stops_the_app(tmp_path, name, raw):
    """Regression: SENDER_RATE=0/minute (meant as "no limit") started, and every text was
    then stored refused rate_limited, its texter told to slow down; LOGIN_RATE=0/minute
    refused every login and API_RATE_*=0/... every API call."""
    said = refusal(tmp_path, **{name: raw})
    assert f"{name}={raw!r} allows nothing (a rate of 0)" in said


@pytest.mark.parametrize(
    ("name", "raw"), [("TWILIO_MPS", "nan"), ("TWILIO_MPS", "inf"), ("DB_POOL_TIMEOUT", "NaN")]
)
def test_a_number_setting_that_is_not_finite_stops_the_app(tmp_path, name, raw):
    """Regression: TWILIO_MPS=nan started (nan is below no minimum), and every send was
    then paced by a NaN interval."""
    assert f"{name}={raw!r} is not a finite number" in refusal(tmp_path, **{name: raw})
    done = configured(tmp_path, **{name: "2.5"})
    assert done.stdout.split() == ["2.5"], done.stderr


@pytest.mark.parametrize(
    ("name", "raw", "problem"), [("PORT", "70000", "at most 65535"), ("PORT", "0", "at least 1")]
)
def test_a_port_no_socket_can_have_stops_the_app_naming_it(tmp_path, name, raw, problem):
    """Regression: PORT=70000 started gunicorn, which then failed to bind with a traceback
    ("OverflowError: bind(): port must be 0-65535") naming no setting."""
    assert f"{name}={raw} must be {problem}" in refusal(tmp_path, **{name: raw})


@pytest.mark.parametrize("raw", ["0.0.0.0:8000", "http://0.0.0.0", "not a host", "unix:/run/s"])
def test_a_listen_address_that_is_no_host_stops_the_app_naming_it(tmp_path, raw):
    """Regression: WEB_HOST=0.0.0.0:8000 started gunicorn on port 8000 whatever PORT said,
    so the proxy, sending to PORT, reached nothing while the process looked healthy."""
    said = refusal(tmp_path, WEB_HOST=raw, PORT="5812")
    assert f"WEB_HOST={raw!r} is not a host name or an IP address" in said


@pytest.mark.parametrize(
    ("host", "bind"),
    [
        ("0.0.0.0", "0.0.0.0:5812"),
        ("::", "[::]:5812"),
        ("[::1]", "[::1]:5812"),
        ("sms-web.internal", "sms-web.internal:5812"),
    ],
)
def test_gunicorn_listens_on_web_host_at_port(host, bind):
    """Regression: WEB_HOST=:: (every IPv6 address) stopped gunicorn with a traceback, "''
    is not a valid port number": it read the address's last group as the port."""
    settings = {"PATH": os.environ["PATH"], "WEB_HOST": host, "PORT": "5812"}
    read = "import runpy; print(runpy.run_path('gunicorn.conf.py')['bind'])"
    done = subprocess.run(
        [sys.executable, "-c", read], cwd=PROJECT, env=settings, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == bind


def test_gunicorn_loads_the_app_once_before_it_forks_its_workers():
    """Regression: each of WEB_CONCURRENCY workers imported the app and the vendors' SDKs
    itself (the openai package alone is half of it): on a loaded 2-core host, 4 workers
    took 35 s to be ready, and a worker restarted after a crash or a timeout several
    seconds; loaded once in gunicorn's master, they fork ready (11 s for the 4)."""
    settings = {"PATH": os.environ["PATH"]}
    read = "import runpy; print(runpy.run_path('gunicorn.conf.py').get('preload_app'))"
    done = subprocess.run(
        [sys.executable, "-c", read], cwd=PROJECT, env=settings, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_loading_the_app_opens_no_connection_and_starts_no_thread(database_url, tmp_path):
    """What gunicorn's preload_app needs: the master loads wsgi:app and forks its workers
    from it, so a connection or a thread made while loading would be shared by every worker
    (two processes talking over one PostgreSQL socket) or lost in the fork."""
    probe = (
        "import os, threading, wsgi; "
        "links = [f'/proc/self/fd/{fd}' for fd in os.listdir('/proc/self/fd')]; "
        "fds = [os.readlink(link) for link in links if os.path.lexists(link)]; "
        "print(threading.active_count(), sum(f.startswith('socket:') for f in fds), "
        "sum(f.endswith(('.sqlite', '.db')) for f in fds))"
    )
    settings = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, env=settings, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0", "0"]  # the main thread; no socket, no database


@pytest.mark.parametrize(
    ("name", "raw", "choices"),
    [
        ("SMS_BACKEND", "twillio", "twilio, console"),
        ("LLM_BACKEND", "openia", "openai, offline"),
        ("LOG_FORMAT", "xml", "text, json"),
        ("LOG_LEVEL", "verbose", "debug, info, warning, error, critical"),
        ("WORKER_POOL", "gevnet", "threads, prefork, processes, solo"),
        (
            "OPENAI_REASONING_EFFORT",
            "lowest",
            "none, minimal, low, medium, high, xhigh, max, default",
        ),
    ],
)
def test_a_setting_naming_none_of_its_choices_stops_the_app(tmp_path, name, raw, choices):
    """Regression: SMS_BACKEND=twillio started, and every reply then failed in the worker;
    LOG_FORMAT=xml and LOG_LEVEL=verbose were quietly read as text and INFO;
    OPENAI_REASONING_EFFORT=lowest started, and the model's server refused every call."""
    assert f"{name}={raw!r} is not one of {choices}" in refusal(tmp_path, **{name: raw})


def test_choice_settings_are_read_in_any_letter_case(tmp_path):
    """Regression: LOG_FORMAT=JSON gave text lines, from the app and from gunicorn alike."""
    done = configured(
        tmp_path,
        LOG_FORMAT="JSON",
        LOG_LEVEL="WARNING",
        SMS_BACKEND="Console",
        OPENAI_REASONING_EFFORT="Low",
    )
    assert done.stdout.split() == ["json", "warning", "console", "low"], done.stderr


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("sms.example.com", "is not an http:// or https:// address"),
        ("https://", "is not an http:// or https:// address"),
        ("https://sms.example.com/sms/inbound", "is the site's address, without"),
        ("https://sms.example.com/?x=1", "must have no ?query or #fragment"),
    ],
)
def test_a_public_url_twilio_could_not_have_called_stops_the_app(tmp_path, raw, problem):
    """Regression: PUBLIC_BASE_URL=sms.example.com started, and every inbound text was then
    refused as badly signed (the URL rebuilt from it was never the one Twilio called)."""
    assert f"PUBLIC_BASE_URL={raw!r} {problem}" in refusal(tmp_path, PUBLIC_BASE_URL=raw)


@pytest.mark.parametrize(
    "raw", ["https://sms.example.com", "https://sms.example.com/", "http://10.0.0.5:8080/sms-ai/"]
)
def test_a_public_url_with_a_trailing_slash_or_a_prefix_is_taken(tmp_path, raw):
    done = configured(tmp_path, PUBLIC_BASE_URL=raw)
    assert done.stdout.split() == [raw], done.stderr


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("DATABASE_URL", "postgress://ops:hunter2@db/sms", "(Can't load plugin"),
        ("DATABASE_URL", "postgresql://ops:hunter2@db:port/sms", "(invalid literal"),
        ("DATABASE_URL", "mysql://ops:hunter2@db/sms", "(no driver for mysql installed:"),
        ("CELERY_BROKER_URL", "redis//ops:hunter2@127.0.0.1", "(no scheme)"),
        ("CELERY_BROKER_URL", "reddis://127.0.0.1:6379/0", "(No such transport: reddis."),
        ("CELERY_BROKER_URL", "redis://:hunter2@127.0.0.1:6379/O", "(database 'O' is no number"),
        ("RATELIMIT_STORAGE_URI", "redis//ops:hunter2@127.0.0.1", "(no scheme)"),
        ("RATELIMIT_STORAGE_URI", "reddis://:hunter2@127.0.0.1", "(unknown scheme reddis)"),
        ("SENDER_RATE_STORAGE_URI", "redis//ops:hunter2@127.0.0.1", "(no scheme)"),
        ("PACING_REDIS_URL", "redis//ops:hunter2@127.0.0.1", "(Redis URL must specify"),
        ("PACING_REDIS_URL", "redis://:hunter2@127.0.0.1:port/0", "(Port could not be cast"),
        ("PACING_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/one", "(database 'one' is no number"),
    ],
)
def test_a_database_or_broker_url_nothing_can_use_stops_the_app_naming_it(
    tmp_path, name, raw, problem
):
    """Regression: a misspelt DATABASE_URL stopped the app with SQLAlchemy's words alone
    (naming no setting), and CELERY_BROKER_URL=redis//host started web processes whose
    texts then waited for a broker that was never there. RATELIMIT_STORAGE_URI=redis//host
    stopped it with the limits library's traceback, naming no setting and showing the URL
    with its password; SENDER_RATE_STORAGE_URI and PACING_REDIS_URL alike started, and
    every text was then counted, or every reply paced, against a store never reachable.
    The URL's password is not shown."""
    said = refusal(tmp_path, **{name: raw})
    last_line = said.strip().splitlines()[-1]
    assert last_line.startswith(f"refusing to start: {name} is not a ") and problem in last_line
    assert "hunter2" not in said


def test_a_metrics_directory_that_is_not_there_stops_the_app_naming_it(tmp_path):
    """Regression: PROMETHEUS_MULTIPROC_DIR naming no directory stopped every process with
    prometheus_client's FileNotFoundError about a counter_<pid>.db file, naming no setting."""
    missing = tmp_path / "metrics"
    said = refusal(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(missing))
    assert f"start: PROMETHEUS_MULTIPROC_DIR={str(missing)!r} is not a directory" in said

    missing.mkdir()
    done = configured(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(missing))
    assert done.stdout.split() == [str(missing)], done.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_metrics_directory_nobody_may_write_in_stops_the_app_naming_it(tmp_path):
    """Regression: PROMETHEUS_MULTIPROC_DIR naming a directory the service cannot write in
    (one root made at boot, for a service running as its own user) started reading the
    settings, then stopped with prometheus_client's traceback about a counter_<pid>.db file,
    naming no setting. /proc stands for it: no process writes files there, root included."""
    said = refusal(tmp_path, PROMETHEUS_MULTIPROC_DIR="/proc")
    assert "start: PROMETHEUS_MULTIPROC_DIR='/proc' cannot be written in" in said


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SMS_BACKEND": "twilio"}, "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID"),
        ({"LLM_BACKEND": "openai"}, "LLM_BACKEND=openai needs OPENAI_API_KEY"),
    ],
)
def test_a_backend_named_without_its_account_stops_the_app(tmp_path, env, problem):
    """Regression: SMS_BACKEND=twilio with no TWILIO_ACCOUNT_SID started and sent every
    reply to Twilio's Accounts/None; LLM_BACKEND=openai with neither a key nor a server
    started and answered every text with the apology. In development too."""
    done = production_process(tmp_path, list(env), APP_ENV="development", **env)
    assert done.returncode != 0
    assert f"refusing to start: {problem}" in done.stderr

    given = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"}
    done = production_process(tmp_path, list(env), APP_ENV="development", **env, **given)
    assert done.stdout.split() == list(env.values()), done.stderr


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("DEFAULT_PHONE_REGION", "USA", "'USA' is not a region code"),
        ("TWILIO_PHONE_NUMBER", "my-number", "'my-number' is not a phone number"),
        ("TWILIO_WHATSAPP_NUMBER", "+1 555", "'+1 555' is not a phone number"),
        ("TEST_PHONE_NUMBERS", "+14158675309,me", "'+14158675309,me' is not a phone number"),
    ],
)
def test_a_phone_setting_that_is_none_stops_the_app(tmp_path, name, raw, problem):
    """Regression: TWILIO_PHONE_NUMBER=my-number started, and no SMS was ever sent (its
    country, the default ALLOWED_COUNTRIES, was none); DEFAULT_PHONE_REGION=USA refused
    every number typed without its country code."""
    assert f"{name}={problem}" in refusal(tmp_path, **{name: raw})


@pytest.mark.parametrize("raw", ["US,UK", "US,XX"])
def test_allowed_countries_naming_no_country_stops_the_app(tmp_path, raw):
    """Regression: ALLOWED_COUNTRIES=US,UK started (two letters were all it checked), and
    every British texter's texts were stored and never answered, each an ErrorLog, since
    their numbers are in GB."""
    said = refusal(tmp_path, ALLOWED_COUNTRIES=raw)
    assert f"ALLOWED_COUNTRIES={raw!r}: use two-letter country codes such as US,CA" in said
    assert "the United Kingdom is GB" in said
    done = configured(tmp_path, ALLOWED_COUNTRIES="us, gb")
    assert done.returncode == 0 and done.stdout.strip() == "('US', 'GB')", done.stderr


def test_phone_settings_are_read_in_any_notation(tmp_path):
    """Our numbers are kept as E.164 whatever the notation; the region in any case."""
    done = configured(
        tmp_path,
        DEFAULT_PHONE_REGION="gb",
        TWILIO_PHONE_NUMBER="020 7946 0958",
        TWILIO_WHATSAPP_NUMBER="whatsapp:+1 (555) 123-0000",
        TEST_PHONE_NUMBERS="07700 900123, +1 (415) 867-5309",
    )
    read = "GB +442079460958 +15551230000 ('+447700900123', '+14158675309')"
    assert done.stdout.strip() == read, done.stderr


def test_an_alert_webhook_that_is_no_http_address_stops_the_app(tmp_path):
    """Regression: ALERT_WEBHOOK_URL without its https:// started, and the first alert died
    in its thread (urllib knows no such URL), paging no one. Its secret path is not shown."""
    raw = "hooks.slack.com/services/T000/B000/s3cr3t"
    said = refusal(tmp_path, ALERT_WEBHOOK_URL=raw)
    assert "ALERT_WEBHOOK_URL is not an http:// or https:// address" in said
    assert "s3cr3t" not in said

    done = configured(tmp_path, ALERT_WEBHOOK_URL="https://" + raw)
    assert done.stdout.split() == ["https://" + raw], done.stderr


@pytest.mark.parametrize(
    ("name", "raw", "example"),
    [
        ("OPENAI_BASE_URL", "localhost:8080/v1", "http://127.0.0.1:8080/v1"),
        ("TWILIO_API_BASE_URL", "api.twilio.com", "https://api.twilio.com"),
    ],
)
def test_a_vendor_address_that_is_no_http_address_stops_the_app(tmp_path, name, raw, example):
    """Regression: OPENAI_BASE_URL=localhost:8080/v1 started, and every text was then
    answered with the apology (the client knows no such URL); TWILIO_API_BASE_URL alike
    failed every send."""
    said = refusal(tmp_path, **{name: raw})
    assert f"{name} is not an http:// or https:// address such as {example}" in said


@pytest.mark.parametrize(
    "entry",
    [
        "http://cdn.example",
        "ftp://cdn.example",
        "cdn.example?x=1",
        "https://user:s3cr3t@cdn.example",
        "https://",
        "cdn.example:port",
        "http://[::ffff:192.0.2.1]",
        "http://127.0.0.1.example",
    ],
)
def test_a_media_host_that_is_not_fetched_over_https_stops_the_app(tmp_path, entry):
    """Regression: TWILIO_MEDIA_HOSTS took http://cdn.example, and the texters' pictures
    were then fetched in the clear; ftp:// or a ?query was dropped without a word, and every
    picture redirected there refused."""
    said = refusal(tmp_path, TWILIO_MEDIA_HOSTS="mms.twiliocdn.com," + entry)
    assert "TWILIO_MEDIA_HOSTS: the entry" in said and "is not a host such as" in said
    assert "s3cr3t" not in said


def test_media_hosts_are_hosts_https_origins_or_a_stand_in_on_this_machine(tmp_path):
    hosts = (
        "mms.twiliocdn.com, s3.example/b/ ,https://cdn.example:8443,http://127.0.0.1:9000,"
        "http://[::ffff:127.0.0.1]:9001,http://[::1]:9002,http://127.0.0.2:9003"
    )
    done = configured(tmp_path, TWILIO_MEDIA_HOSTS=hosts)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hosts


def test_a_model_timeout_longer_than_a_task_may_take_stops_the_app(tmp_path):
    """Regression: OPENAI_TIMEOUT=600 (a slow local model) with the default
    STALE_TASK_SECONDS=300 started, and the sweeper took every task still waiting for the
    model for one a dead worker left: a second run asked the model again, paid twice."""
    said = refusal(tmp_path, OPENAI_TIMEOUT="600")
    assert "STALE_TASK_SECONDS=300 must be more than OPENAI_TIMEOUT=600" in said

    done = configured(tmp_path, OPENAI_TIMEOUT="600", STALE_TASK_SECONDS="900")
    assert done.returncode == 0 and done.stdout.split() == ["600.0", "900"], done.stderr


@pytest.mark.parametrize("days", ["3000000", "1000000000"])
def test_a_token_lifetime_past_the_calendar_stops_the_app(tmp_path, days):
    """Regression: API_TOKEN_DAYS=1000000000 started, and every request with a token was a
    500 (no timedelta holds it; 3000000 days ends past year 9999, where the admin's and
    `flask token create`'s expiry is no date). A century is the most it takes."""
    said = refusal(tmp_path, API_TOKEN_DAYS=days)
    assert f"API_TOKEN_DAYS={days} must be at most 36500" in said

    done = configured(tmp_path, API_TOKEN_DAYS="36500")
    assert done.returncode == 0 and done.stdout.split() == ["36500"], done.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_media_store_nobody_may_write_in_stops_the_embedded_mode_naming_it(tmp_path):
    """Regression: MEDIA_STORE_DIR=/proc/media started, and `flask sms simulate --media`
    then stopped with a traceback from pathlib, naming no setting. Only the embedded mode
    (SMS_BACKEND=console) keeps media there, so Twilio's mode starts whatever it says."""
    said = refusal(tmp_path, SMS_BACKEND="console", MEDIA_STORE_DIR="/proc/media")
    assert "start: MEDIA_STORE_DIR='/proc/media' cannot be written in" in said

    store = str(tmp_path / "not" / "made" / "yet")
    done = configured(tmp_path, SMS_BACKEND="console", MEDIA_STORE_DIR=store)
    assert done.returncode == 0 and done.stdout.split() == ["console", store], done.stderr

    done = configured(tmp_path, SMS_BACKEND="twilio", MEDIA_STORE_DIR="/proc/media")
    assert done.returncode == 0, done.stderr


def test_a_default_page_larger_than_the_largest_stops_the_app(tmp_path):
    """Regression: API_PAGE_SIZE=200 with the default API_MAX_PAGE_SIZE=100 started, and
    every list silently gave 100 rows a page: the operator's setting was not what clients
    got, and nothing said which of the two to change."""
    said = refusal(tmp_path, API_PAGE_SIZE="200")
    assert "API_PAGE_SIZE=200 must be at most API_MAX_PAGE_SIZE=100" in said

    done = configured(tmp_path, API_PAGE_SIZE="200", API_MAX_PAGE_SIZE="500")
    assert done.returncode == 0 and done.stdout.split() == ["200", "500"], done.stderr


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"PORT": "http"}, "refusing to start: PORT='http' is not a whole number"),
        ({"APP_ENV": "production"}, "refusing to start in production: SECRET_KEY must be set"),
    ],
)
def test_gunicorn_itself_refuses_to_start_in_one_line(tmp_path, env, said):
    """Regression: gunicorn printed 'Failed to read config file' and a traceback above the
    setting's words, and a production refusal came only from each worker building the app,
    which gunicorn logged with a traceback per worker."""
    settings = {"PATH": os.environ["PATH"], **env}
    read = "import runpy; runpy.run_path('gunicorn.conf.py')"
    done = subprocess.run(
        [sys.executable, "-c", read], cwd=PROJECT, env=settings, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stderr.startswith(said), done.stderr
    assert "Traceback" not in done.stderr


def test_an_app_env_nobody_knows_is_refused_as_every_setting_is(tmp_path):
    """Regression: APP_ENV=prod stopped the flask commands and Celery with the bare "APP_ENV=
    'prod' is not one of ...", where README promises `refusing to start: ...` naming the
    variable (gunicorn said it)."""
    done = production_process(tmp_path, APP_ENV="prod")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        "refusing to start: APP_ENV='prod' is not one of development, testing, production\n"
    )


def test_production_without_secrets_in_the_environment_does_not_start(tmp_path):
    done = production_process(tmp_path)
    assert done.returncode != 0
    assert "refusing to start in production" in done.stderr
    assert "SECRET_KEY" in done.stderr and "TWILIO_AUTH_TOKEN" in done.stderr


def test_production_starts_when_configured():
    app = create_app(
        ProductionConfig,
        SECRET_KEY="x" * 40,
        TWILIO_AUTH_TOKEN="tok",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
    )
    assert app.config["APP_ENV"] == "production"


@pytest.mark.parametrize(
    ("settings", "starts"),
    [
        ({"RATELIMIT_STORAGE_URI": "memory://", "WEB_CONCURRENCY": 3}, False),
        ({"RATELIMIT_STORAGE_URI": "memory://", "WEB_CONCURRENCY": 1}, True),
        ({"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_ENABLED": False}, True),
        ({"RATELIMIT_STORAGE_URI": "redis://h:6379/1", "WEB_CONCURRENCY": 8}, True),
        (
            {
                "RATELIMIT_STORAGE_URI": "redis://h:6379/1",
                "SENDER_RATE": "10/minute",
                "SENDER_RATE_STORAGE_URI": "memory://",
            },
            False,
        ),
        (
            {
                "SENDER_RATE": "10/minute",
                "SENDER_RATE_STORAGE_URI": "redis://h:6379/1",
                "RATELIMIT_STORAGE_URI": "redis://h:6379/1",
            },
            True,
        ),
    ],
)
def test_production_needs_shared_throttle_counters_for_several_processes(settings, starts):
    secrets_ = {"SECRET_KEY": "x" * 40, "TWILIO_AUTH_TOKEN": "tok", "WEB_CONCURRENCY": 2}
    problems = config.production_problems({**vars_of(ProductionConfig), **secrets_, **settings})
    assert (problems == []) is starts, problems


def vars_of(config_class) -> dict:
    return {name: getattr(config_class, name) for name in dir(config_class) if name.isupper()}


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)]
)
def test_env_bool_reads_clear_answers(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert config.env_bool("SOME_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["ture", "maybe", "2"])
def test_env_bool_raises_on_garbage(monkeypatch, raw):
    monkeypatch.setenv("SOME_FLAG", raw)
    with pytest.raises(ValueError, match="SOME_FLAG"):
        config.env_bool("SOME_FLAG", False)


def test_env_choice_reads_one_of_its_words_and_raises_on_others(monkeypatch):
    choices = ("upgrades", "all", "off")
    assert config.env_choice("SOME_CHOICE", "upgrades", choices) == "upgrades"
    monkeypatch.setenv("SOME_CHOICE", "ALL")
    assert config.env_choice("SOME_CHOICE", "upgrades", choices) == "all"
    monkeypatch.setenv("SOME_CHOICE", "downgrades")
    with pytest.raises(ValueError, match="SOME_CHOICE='downgrades' is not one of"):
        config.env_choice("SOME_CHOICE", "upgrades", choices)


def test_env_int_raises_on_garbage_and_on_too_small(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ValueError, match="not a whole number"):
        config.env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_NUMBER", "-1")
    with pytest.raises(ValueError, match="at least 0"):
        config.env_int("SOME_NUMBER", 1)
    monkeypatch.delenv("SOME_NUMBER")
    assert config.env_int("SOME_NUMBER", 7) == 7


@pytest.mark.parametrize(("raw", "problem"), [("0", "at least 0.01"), ("1.5", "at most 1.0")])
def test_a_share_of_the_sending_rate_outside_0_to_1_is_refused(monkeypatch, raw, problem):
    monkeypatch.setenv("SOME_SHARE", raw)
    with pytest.raises(ValueError, match=problem):
        config.env_float("SOME_SHARE", 0.5, minimum=0.01, maximum=1.0)
    monkeypatch.setenv("SOME_SHARE", "0.25")
    assert config.env_float("SOME_SHARE", 0.5, minimum=0.01, maximum=1.0) == 0.25


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.sqlite", "sqlite:///x.sqlite"),
    ],
)
def test_database_urls_from_hosting_providers_are_accepted(url, expected):
    assert config.database_url(url) == expected


def test_app_env_picks_the_config_class():
    assert config.config_for("production") is ProductionConfig
    with pytest.raises(ValueError, match="APP_ENV"):
        config.config_for("staging")


def test_embedded_default_needs_no_accounts():
    defaults = config.DevelopmentConfig
    assert defaults.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///") or "DATABASE_URL" in str(
        defaults.SQLALCHEMY_DATABASE_URI
    )
    assert config.Config.CELERY_BROKER_URL.startswith(("sqla+sqlite:///", "redis://"))


def test_the_readmes_default_urls_written_out_name_the_default_files(tmp_path):
    """Regression: DATABASE_URL=sqlite:///instance/sms_agent.sqlite, the default as
    Configuration writes it, was read inside instance/ (instance/instance/sms_agent.sqlite,
    a folder nobody made), so every command said "unable to open database file", while the
    broker's relative path was read from the working directory. A relative SQLite path is
    read from the project folder, wherever the process was started."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(PROJECT),
        "DATABASE_URL": "sqlite:///instance/sms_agent.sqlite",
        "CELERY_BROKER_URL": "sqla+sqlite:///instance/broker.sqlite",
    }
    code = (
        "import wsgi\nfrom sms_agent.extensions import db\n"
        "with wsgi.app.app_context(): print(db.engine.url.database)\n"
        "print(wsgi.app.config['CELERY_BROKER_URL'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    database, broker = done.stdout.split()
    assert database == str(PROJECT / "instance" / "sms_agent.sqlite")
    assert broker == f"sqla+sqlite:///{PROJECT / 'instance' / 'broker.sqlite'}"


def test_the_tests_never_run_on_the_database_the_service_is_configured_with(tmp_path):
    """Regression: with no TEST_DATABASE_URL, the tests fell back to DATABASE_URL, so a
    developer whose shell or .env named the service's own PostgreSQL database (as
    Configuration shows) had every table of it emptied by `make test`. Only
    TEST_DATABASE_URL names a database the tests may empty; else it is SQLite in memory."""
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'the-service.sqlite'}",
    }
    code = "import config; print(config.TestingConfig.SQLALCHEMY_DATABASE_URI)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sqlite://"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(sa.text("PRAGMA busy_timeout")).scalar() == 30000
        assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_json_columns_are_jsonb_on_postgresql(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    kind = db.session.execute(
        sa.text(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'tasks' AND column_name = 'metadata'"
        )
    ).scalar()
    assert kind == "jsonb"


def development_app(**settings):
    """An app on the development settings a fresh clone runs with, and `settings`."""
    return create_app(config.DevelopmentConfig, SQLALCHEMY_DATABASE_URI="sqlite://", **settings)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "sms.example.com"])
def test_a_development_server_on_a_public_address_warns_of_its_public_secrets(caplog, host):
    """Regression: with APP_ENV left at development, gunicorn listening on WEB_HOST=0.0.0.0
    signed staff sessions with the SECRET_KEY printed in config.py (anyone could forge an
    admin's cookie) and accepted webhooks signed with the development Twilio token, without
    a word."""
    development_app(WEB_HOST=host)

    [warning] = [r for r in caplog.records if "public address" in r.getMessage()]
    said = warning.getMessage()
    assert warning.levelname == "WARNING"
    assert "SECRET_KEY" in said and "TWILIO_AUTH_TOKEN" in said and "APP_ENV=production" in said
    assert config.INSECURE_SECRET_KEY not in said  # names the setting, never the secret


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LocalHost", "::1", "127.0.0.2", "::ffff:127.0.0.1"]
)
def test_a_development_server_on_this_machine_only_says_nothing(caplog, host):
    """::ffff:127.0.0.1 is 127.0.0.1 written as IPv6 (IPv4-mapped): loopback too."""
    development_app(WEB_HOST=host)
    assert "public address" not in caplog.text


def test_a_development_server_with_its_own_secrets_says_nothing_on_a_public_address(caplog):
    development_app(
        WEB_HOST="0.0.0.0", SECRET_KEY=secrets.token_hex(32), TWILIO_AUTH_TOKEN="an-own-token"
    )
    assert "public address" not in caplog.text


def test_a_development_server_reached_from_another_machine_warns_once(caplog):
    """Regression: `flask run --host 0.0.0.0` (or a container's port published) serves the
    development secrets to the network while WEB_HOST still says 127.0.0.1, so nothing was
    said at start-up. The first request from another machine names them."""
    client = development_app().test_client()
    client.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert "another machine" not in caplog.text

    for _ in range(3):
        client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    [warning] = [r for r in caplog.records if "another machine" in r.getMessage()]
    assert "203.0.113.5" in warning.getMessage() and "SECRET_KEY" in warning.getMessage()


@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "::1", "127.0.0.9"])
def test_a_development_server_reached_from_this_machine_in_any_notation_says_nothing(
    caplog, address
):
    """Regression: a dual-stack server sees a caller on 127.0.0.1 as ::ffff:127.0.0.1 (IPv4
    written as IPv6), which was taken for another machine: the warning was said for the
    developer's own browser, and so meant nothing when a stranger came."""
    client = development_app().test_client()
    client.get("/healthz", environ_base={"REMOTE_ADDR": address})
    assert "another machine" not in caplog.text
    client.get("/healthz", environ_base={"REMOTE_ADDR": "::ffff:203.0.113.5"})
    assert "another machine (::ffff:203.0.113.5)" in caplog.text


def test_a_testing_app_reached_from_elsewhere_says_nothing(caplog):
    client = create_app(TestingConfig).test_client()
    client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert "another machine" not in caplog.text


def test_the_spend_caps_do_not_import_the_notices_that_tell_them():
    """Regression: limits.py imported notices.py for the program notice a first answer
    follows, while notices.py imported limits.py for what the caps decide: a cycle, where
    which rule lived where depended on import order. The program notice's rules have one
    home of their own (program_notice.py) that both read."""
    said = subprocess.run(
        [sys.executable, "-c", "import sys, sms_agent.limits; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'sms_agent.notices'" not in said and "'sms_agent.program_notice'" in said
