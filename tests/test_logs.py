"""Structured logs: request and job ids on every line, phone numbers masked."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.ops.logs import REQUEST_ID_HEADER, mask_phone_numbers


@pytest.fixture
def log_lines():
    """What the sms_agent handler writes, one string per line (request it after the app)."""
    handler = next(h for h in logging.getLogger("sms_agent").handlers if h._sms_agent)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: stream.getvalue().splitlines()
    handler.setStream(previous)


@pytest.fixture
def json_app(database_url):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, LOG_FORMAT="json")
    with app.app_context():
        yield app
        db.engine.dispose()
    create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url)  # back to text logs


def test_a_request_id_is_generated_and_echoed(client):
    response = client.get("/healthz")
    assert len(response.headers[REQUEST_ID_HEADER]) == 32


def test_a_clean_incoming_request_id_is_honoured(client):
    response = client.get("/healthz", headers={REQUEST_ID_HEADER: "lb-1234.abc"})
    assert response.headers[REQUEST_ID_HEADER] == "lb-1234.abc"


def test_an_unsafe_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", headers={REQUEST_ID_HEADER: "<script>alert(1)</script>"})
    assert "<" not in response.headers[REQUEST_ID_HEADER]
    assert len(response.headers[REQUEST_ID_HEADER]) == 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from +15551230042", "from ***0042"),
        ("whatsapp:+447700900123 said hi", "whatsapp:***0123 said hi"),
        ("already ***0042", "already ***0042"),
        ("task 12345678901 took 3s", "task 12345678901 took 3s"),
    ],
)
def test_phone_numbers_are_masked_in_log_text(text, expected):
    assert mask_phone_numbers(text) == expected


def test_a_line_without_a_plus_sign_is_written_without_a_search_for_numbers(
    app, log_lines, monkeypatch
):
    """Every number the mask finds starts with "+" (E.164), so a line without one, as most
    are, is written as it is, without running the pattern over it."""
    from sms_agent.ops import logs

    searched = []
    pattern = logs._PHONE_NUMBER
    monkeypatch.setattr(
        logs,
        "_PHONE_NUMBER",
        type("Watched", (), {"sub": lambda _self, *a: searched.append(a[1]) or pattern.sub(*a)})(),
    )
    log = logging.getLogger("sms_agent.test")

    log.warning("task %s took %ds for ***0042", "12345678901", 3)
    log.warning("reply to %s failed", "+15551230042")

    assert log_lines()[-2].endswith("task 12345678901 took 3s for ***0042")
    assert log_lines()[-1].endswith("reply to ***0042 failed")
    assert searched == ["reply to +15551230042 failed"]


def test_json_lines_carry_the_request_id_and_mask_numbers(json_app, log_lines):
    @json_app.get("/_log_something")
    def _log_something():
        logging.getLogger("sms_agent.test").warning("reply to %s failed", "+15551230042")
        return ""

    response = json_app.test_client().get("/_log_something", headers={REQUEST_ID_HEADER: "r-42"})
    record = json.loads(log_lines()[-1])
    assert response.headers[REQUEST_ID_HEADER] == "r-42"
    assert record["request_id"] == "r-42"
    assert record["level"] == "WARNING"
    assert record["name"] == "sms_agent.test"
    assert record["message"] == "reply to ***0042 failed"


def test_lines_inside_a_celery_job_carry_the_job_id(app, log_lines):
    from celery import shared_task

    @shared_task(name="tests.log_inside_job")
    def log_inside_job():
        logging.getLogger("sms_agent.test").info("inside the job")

    log_inside_job.apply(task_id="job-7")
    assert log_lines()[-1].endswith("[job-7]: inside the job")


def test_a_whole_exchange_logs_neither_the_body_nor_the_full_number(app, log_lines):
    from sms_agent.simulator import jobs_inline, simulate_inbound

    app.config["LOG_LEVEL"] = "INFO"
    logging.getLogger("sms_agent").setLevel(logging.INFO)
    secret = "my-secret-question-4711"
    with jobs_inline():
        task = simulate_inbound("+15551239876", f"What does {secret} mean?")
    db.session.refresh(task)
    lines = log_lines()
    assert task.status == "completed"
    assert any("***9876" in line for line in lines)
    assert not any(secret in line or "5551239876" in line for line in lines)


@contextlib.contextmanager
def routed_as_in_a_worker():
    """route_celery_logs, as a Celery worker's start runs it; yields our handler."""
    from sms_agent.ops.logs import WriterThread, route_celery_logs

    ours, root = logging.getLogger("sms_agent"), logging.getLogger()
    handler = next(h for h in ours.handlers if h._sms_agent)
    level = root.level
    route_celery_logs(loglevel=logging.INFO)
    writer = next(h for h in root.handlers if isinstance(h, WriterThread) and h.target is handler)
    try:
        yield handler
    finally:
        writer.flush()
        root.removeHandler(writer)
        writer.close()
        ours.addHandler(handler)
        root.setLevel(level)


def test_a_celery_worker_logs_its_own_lines_through_our_handler(app):
    from sms_agent.ops.logs import WriterThread

    ours, root = logging.getLogger("sms_agent"), logging.getLogger()
    with routed_as_in_a_worker() as handler:
        writers = [h for h in root.handlers if isinstance(h, WriterThread)]
        assert [writer for writer in writers if writer.target is handler]
        assert handler not in ours.handlers and handler not in root.handlers
        assert root.level == logging.INFO


def flush_the_writer() -> None:
    from sms_agent.ops.logs import WriterThread

    for writer in logging.getLogger().handlers:
        if isinstance(writer, WriterThread):
            writer.flush()


def test_a_worker_thread_never_waits_for_another_threads_line_to_be_written(app):
    """A slow write (a full pipe, a GIL held elsewhere) held the handler's lock, and every
    job of the worker, its event loop too, queued behind it to log its own line."""
    writing, write_may_end = threading.Event(), threading.Event()
    stream = io.StringIO()
    write = stream.write

    def stuck_write(text):
        writing.set()
        write_may_end.wait(5)
        return write(text)

    stream.write = stuck_write
    with routed_as_in_a_worker() as handler:
        previous = handler.setStream(stream)
        try:
            job = logging.getLogger("celery.app.trace")
            threading.Thread(target=job.info, args=("a line whose write is stuck",)).start()
            assert writing.wait(5)
            started = time.monotonic()
            for number in range(50):
                logging.getLogger("sms_agent.pipeline").info("line %d for +15551239876", number)
            assert time.monotonic() - started < 1  # none of them waited for the stuck write
        finally:
            write_may_end.set()
            flush_the_writer()
            handler.setStream(previous)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("a line whose write is stuck")
    assert [line.rsplit(": ", 1)[1] for line in lines[1:]] == [
        f"line {number} for ***9876" for number in range(50)
    ]


def test_a_forked_child_writes_its_own_lines(app):
    """Celery's prefork pool forks its children after the writer thread started; a child
    has no writer thread, so a line it queued would never be written."""
    read_end, write_end = os.pipe()
    with routed_as_in_a_worker() as handler:
        pipe = os.fdopen(write_end, "w")
        previous = handler.setStream(pipe)
        try:
            logging.getLogger("sms_agent.test").info("before the fork")
            flush_the_writer()
            child = os.fork()
            if child == 0:  # pragma: no cover (the child reports through its exit code)
                logging.getLogger("sms_agent.test").info("from the child")
                pipe.flush()
                os._exit(0)
            _, status = os.waitpid(child, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        finally:
            handler.setStream(previous)
            pipe.close()
    with os.fdopen(read_end) as written:
        lines = written.read().splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["before the fork", "from the child"]


def test_a_line_logged_in_a_job_carries_the_jobs_id_when_the_writer_writes_it(app):
    from celery import shared_task

    @shared_task(name="tests.log_inside_job_through_the_writer")
    def log_inside_job():
        logging.getLogger("sms_agent.test").info("inside the job")

    stream = io.StringIO()
    with routed_as_in_a_worker() as handler:
        previous = handler.setStream(stream)
        try:
            log_inside_job.apply(task_id="job-8")
            logging.getLogger("sms_agent.test").info("outside it")
            flush_the_writer()
        finally:
            handler.setStream(previous)
    lines = stream.getvalue().splitlines()
    assert any(line.endswith("[job-8]: inside the job") for line in lines)
    assert lines[-1].endswith("[]: outside it")


def test_celerys_json_lines_mask_the_numbers_in_a_jobs_arguments(json_app):
    """Regression: a worker's JSON lines carry Celery's `data` (the job's args and kwargs),
    and a notice's job is sent the texter's number: every "received" and "succeeded" line
    of a HELP, a STOP or a tier change wrote it in full."""
    from celery import shared_task

    @shared_task(name="tests.notice_like_job")
    def notice_like_job(phone, kind, sender=None):
        return True

    stream = io.StringIO()
    with routed_as_in_a_worker() as handler:
        previous = handler.setStream(stream)
        try:
            notice_like_job.apply(("+15551237777", "help"), {"sender": "+15005550006"})
            flush_the_writer()
        finally:
            handler.setStream(previous)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    succeeded = next(r for r in records if "succeeded" in r["message"])
    assert succeeded["data"]["args"] == "('***7777', 'help')"
    assert succeeded["data"]["kwargs"] == "{'sender': '***0006'}"
    assert "5551237777" not in stream.getvalue()


def test_a_worker_logs_no_line_per_vendor_http_request(app, twilio_server, openai_server):
    """The SDKs log each request at INFO (Twilio's about ten lines, headers one by one)."""
    from sms_agent.vendors.openai import get_llm_backend
    from sms_agent.vendors.twilio import get_sms_backend

    stream = io.StringIO()
    with routed_as_in_a_worker() as handler:
        previous = handler.setStream(stream)
        try:
            get_sms_backend().send("+15551230000", "hi")
            get_llm_backend().complete([{"role": "user", "content": "hi"}], 20)
            logging.getLogger("twilio.http_client").warning("a vendor warning still shows")
            flush_the_writer()
        finally:
            handler.setStream(previous)
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if "twilio" in line or "HTTP Request" in line] == [
        line for line in lines if "a vendor warning still shows" in line
    ]
    assert len(lines) == 1


def test_at_debug_level_a_twilio_send_logs_the_sdks_request_lines(app, twilio_server):
    """LOG_LEVEL=DEBUG lets the SDK's own lines through: the request, its headers but the
    credentials, and the response (built only when they are shown)."""
    from sms_agent.vendors.twilio import get_sms_backend

    stream, vendor = io.StringIO(), logging.getLogger("twilio.http_client")
    level = vendor.level
    vendor.setLevel(logging.INFO)  # as setup_logging leaves it at DEBUG
    try:
        with routed_as_in_a_worker() as handler:
            previous = handler.setStream(stream)
            try:
                get_sms_backend().send("+15551230000", "hi")
                flush_the_writer()
            finally:
                handler.setStream(previous)
    finally:
        vendor.setLevel(level)
    said = [line for line in stream.getvalue().splitlines() if "twilio.http_client" in line]
    assert "-- BEGIN Twilio API Request --" in said[0]
    assert any("POST Request: http://" in line for line in said)
    assert "-- END Twilio API Request --" in said[-3]
    assert "Response Status Code: 201" in said[-2]
    assert "Response Headers: {" in said[-1]
    assert not any("authorization" in line.lower() for line in said)


def test_debug_level_shows_the_vendor_lines_too(database_url):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, LOG_LEVEL="DEBUG")
    try:
        assert logging.getLogger("twilio.http_client").isEnabledFor(logging.INFO)
    finally:
        create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url)
        with app.app_context():
            db.engine.dispose()
    assert not logging.getLogger("twilio.http_client").isEnabledFor(logging.INFO)


def test_the_context_filter_passes_a_malformed_record_on_to_loggings_error_report():
    from sms_agent.ops.logs import ContextFilter

    record = logging.LogRecord("sms_agent.test", logging.INFO, __file__, 1, "%s %s", ("one",), None)
    assert ContextFilter().filter(record) is True
    assert (record.msg, record.args, record.request_id) == ("%s %s", ("one",), "")


def _gunicorn_access_line(environ: dict, line_format: str) -> str:
    """The access line GunicornLogger writes, in `line_format`, for a GET of `environ`."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from sms_agent.ops.logs import GunicornLogger

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", line_format)
    logger = GunicornLogger(config)
    stream = io.StringIO()
    logger.access_log.handlers[0].setStream(stream)
    environ = {"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", **environ}
    response = SimpleNamespace(status="200 OK", headers=[], sent=2)

    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))

    return stream.getvalue()


@pytest.mark.parametrize(
    ("raw_uri", "query"),
    [
        ("/api/users/%2B15551230300/", ""),
        ("/api/users/+15551230300/", ""),
        ("/api/users/15551230300/export/", ""),
        ("/api/tasks/?user_phone=%2B15551230300&page=2", "user_phone=%2B15551230300&page=2"),
        ("/api/tasks/?user_phone=5551230300", "user_phone=5551230300"),
    ],
)
def test_gunicorns_access_line_masks_the_numbers_in_the_url(raw_uri, query):
    environ = {
        "RAW_URI": raw_uri,
        "PATH_INFO": raw_uri.split("?")[0].replace("%2B", "+"),
        "QUERY_STRING": query,
    }

    line = _gunicorn_access_line(environ, '"%(r)s" %(U)s %(q)s %(s)s')

    assert "***0300" in line and "1230300" not in line, line
    assert "page=2" in line or "page" not in raw_uri


@pytest.mark.parametrize("where", ["?token={key}", "?access_token={key}&page=2", "{key}/"])
def test_an_api_key_sent_in_a_url_is_logged_only_as_far_as_the_admin_shows_it(where):
    """Regression: a client sending its key in the URL (?token=..., refused with a 401) had
    it written whole to the access log, for anyone reading the logs to use; the line keeps
    the 12 characters the admin shows, enough to find and revoke it."""
    key = "sat_" + "Ab3-_x" * 7 + "Z"
    raw_uri = "/api/users/" + where.format(key=key)
    path, _, query = raw_uri.partition("?")
    environ = {
        "RAW_URI": raw_uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_REFERER": "https://example.com" + raw_uri,
    }

    line = _gunicorn_access_line(environ, '"%(r)s" %(U)s %(q)s %(f)s %(s)s')

    assert key[12:20] not in line, line
    assert line.count(key[:12] + "***") == 3, line  # the request line, referer, path or query


def _gunicorn_project_access_format() -> str:
    """The access line gunicorn.conf.py sets, read from the file as gunicorn reads it."""
    import runpy

    return runpy.run_path(str(Path(__file__).parents[1] / "gunicorn.conf.py"))["access_log_format"]


@pytest.mark.parametrize(
    "line_format",
    [
        "project",
        '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s %(p)s',
        "%({X-Request-ID}o)s %({x-request-id}o)s %({Content-Type}i)s %({missing}o)s %(b)s",
        "%(m)s %(U)s %(q)s %(H)s %(B)s %(D)s %(T)s %({remote_addr}e)s %(nothing)s",
    ],
)
def test_gunicorns_access_line_is_gunicorns_own_line(line_format):
    """The access line's atoms are worked out as the format reads them: the line written
    is the one gunicorn's whole set of atoms gives, quotes escaped, numbers masked, for the
    project's format and any other an operator sets."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn import glogging
    from gunicorn.config import Config

    from sms_agent.ops.logs import GunicornLogger

    line_format = _gunicorn_project_access_format() if line_format == "project" else line_format
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", line_format)
    logger = GunicornLogger(config)
    stream = io.StringIO()
    logger.access_log.handlers[0].setStream(stream)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": '/sms/inbound?to=%2B15551230300&say="hi"',
        "PATH_INFO": "/sms/inbound",
        "QUERY_STRING": 'to=%2B15551230300&say="hi"',
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.1.2.3",
        "HTTP_USER_AGENT": 'TwilioProxy/1.1 "quoted"',
    }
    request = SimpleNamespace(headers=[("CONTENT-TYPE", "application/x-www-form-urlencoded")])
    for sent in (0, 123, None):
        response = SimpleNamespace(
            status="200 OK", headers=[("X-Request-ID", "abc-123")], sent=sent
        )
        taken = timedelta(seconds=1, microseconds=234567)
        stream.seek(0), stream.truncate()

        logger.access(response, request, environ, taken)

        every_atom = glogging.SafeAtoms(logger.all_atoms(response, request, environ, taken))
        assert stream.getvalue() == line_format % every_atom + "\n"
        assert "1230300" not in stream.getvalue()


@pytest.mark.parametrize(
    "path", ["/api/users/%2B15551230300/", "/api/tasks/?user_phone=%2B15551230300&page=2"]
)
def test_the_development_servers_request_lines_mask_the_numbers_too(app, caplog, path):
    """`make run` serves with werkzeug's development server, whose request lines are its
    own: they wrote the number in full where gunicorn's lines write ***0300."""
    import urllib.error
    import urllib.request

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10)
    finally:
        server.shutdown()
        thread.join()
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert lines and all("1230300" not in line for line in lines), lines
    assert any("***0300" in line for line in lines), lines


def test_a_uuid_in_an_access_line_is_left_alone():
    from sms_agent.ops.logs import mask_phone_numbers_in_url

    url = "/api/tasks/1c0f2d9e-1111-2222-3333-123456789012/"
    assert mask_phone_numbers_in_url(url) == url


def test_a_line_break_in_what_someone_typed_cannot_forge_a_log_line(client, log_lines):
    """Regression: update_tier's reason was logged as typed, so a reason of
    "ok\\n2026-12-05 ... INFO sms_agent.audit []: ..." added a line that looked like ours."""
    from tests.factories import make_staff, make_token, make_user

    make_user("+15551230300")
    admin_headers = {"Authorization": f"Token {make_token(make_staff('a', is_admin=True))}"}
    reason = "ok\r\n2026-12-05 07:00:00,000 INFO sms_agent.audit []: staff deleted"
    response = client.post(
        "/api/users/%2B15551230300/update_tier/",
        json={"tier": "premium", "reason": reason},
        headers=admin_headers,
    )
    assert response.status_code == 200
    [line] = [line for line in log_lines() if "tier of" in line]
    assert line.endswith("ok\\r\\n2026-12-05 07:00:00,000 INFO sms_agent.audit []: staff deleted")
    assert not [line for line in log_lines() if line.startswith("2026-12-05 07:00:00,000")]


def test_an_escape_sequence_or_direction_override_is_written_not_obeyed():
    """Regression: only line breaks were escaped in a text log line, so an ESC sequence in
    something logged (a name, a URL) retitled or cleared the terminal tailing the log, and
    a direction override showed the rest of the line backwards."""
    from sms_agent.ops.logs import TEXT_FORMAT, OneLineFormatter

    record = logging.LogRecord(
        "sms_agent.test",
        logging.INFO,
        __file__,
        1,
        "name %s done",
        ("\x1b]0;owned\x07\u202eab",),
        None,
    )
    record.request_id = record.job_id = ""
    line = OneLineFormatter(TEXT_FORMAT).format(record)
    assert line.endswith("name \\u001b]0;owned\\u0007\\u202eab done")
    assert "\x1b" not in line and "\u202e" not in line and "\x07" not in line


def test_a_traceback_still_follows_its_line():
    from sms_agent.ops.logs import TEXT_FORMAT, OneLineFormatter

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "sms_agent.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    record.request_id = record.job_id = ""
    lines = OneLineFormatter(TEXT_FORMAT).format(record).splitlines()
    assert lines[0].endswith("failed") and lines[-1] == "ValueError: boom"


def test_a_database_errors_text_carries_no_texters_number_or_words(app):
    """SQLAlchemy appends a failed statement's parameters to its error text, and that text
    goes to the error log, the log lines and ALERT_WEBHOOK_URL: a texter's full number and
    their message would go with it."""
    import sqlalchemy as sa

    from sms_agent.models import Task
    from tests.factories import make_user

    user = make_user("+15551234567")
    secret = "my-secret-question-4711"
    duplicate = {
        "user_phone": user.phone_number,
        "sms_content": secret,
        "message_sid": "SM" + "1" * 32,
    }
    db.session.execute(sa.insert(Task).values(**duplicate))
    with pytest.raises(sa.exc.IntegrityError) as raised:
        db.session.execute(sa.insert(Task).values(**duplicate))
    db.session.rollback()
    assert secret not in str(raised.value)
    assert "5551234567" not in str(raised.value)
