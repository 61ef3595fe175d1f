"""Fixtures: a private database per test run, emptied after every test; app, client, runner.

Tests run on SQLite by default; TEST_DATABASE_URL (or DATABASE_URL) pointing at PostgreSQL
runs them there, each test process in a database of its own so parallel runs never collide.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.models import types
from sms_agent.vendors import openai as llm
from sms_agent.vendors import twilio as sms
from tests.broker import drained
from tests.write_order import WriteOrderWatch


@contextlib.contextmanager
def fresh_database(tmp_dir) -> Iterator[str]:
    """An empty database on the configured server, dropped afterwards."""
    url = sa.make_url(TestingConfig.SQLALCHEMY_DATABASE_URI)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_dir / f'test-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    name = f"{url.database}_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture(scope="session")
def _write_order_watch() -> WriteOrderWatch:
    watch = WriteOrderWatch()
    watch.install()
    return watch


@pytest.fixture(autouse=True)
def _tasks_written_before_their_ledger_rows(request, _write_order_watch):
    """See tests/write_order.py: a wrong order can deadlock two commits on PostgreSQL."""
    yield
    wrong, _write_order_watch.wrong = _write_order_watch.wrong, []
    if request.node.get_closest_marker("any_write_order") is None:
        assert not wrong, f"written in an order that can deadlock two commits: {wrong}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        schema_app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with schema_app.app_context():
            db.create_all()
            db.engine.dispose()
        yield url


class RollingBackClient(FlaskClient):
    """Drops whatever a request left uncommitted, as the end of a real request would.

    The test and the request share one app context and so one session; without this, a
    view that forgot to commit would still look right to the test that called it.
    """

    def open(self, *args, **kwargs):
        # A real request has a `g` of its own; here each shares the test's app context, so
        # the CSRF token Flask-WTF kept in `g` for one request (made from a session secret a
        # login may have replaced since) is dropped before the next.
        if has_app_context():
            g.pop("csrf_token", None)
        response = super().open(*args, **kwargs)
        db.session.rollback()
        return response


@pytest.fixture
def app(database_url):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url)
    app.test_client_class = RollingBackClient
    with app.app_context():
        # The in-memory broker is one per process and outlives each test's app: a test that
        # left jobs queued would hand them to the next test that runs what is queued.
        drained(app)
        yield app
        llm.forget_clients()  # the next test's stand-ins listen elsewhere
        llm.forget_servers()  # ... or where this one did, with other quirks
        sms.forget_clients()
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


def _empty_all_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class QueryCounter:
    """Counts the SQL statements the app sends, and the transactions it commits, while
    active (`with count_queries() as q:`)."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []
        self.commits = 0

    def _record(self, _conn, _cursor, statement, *_args):
        self.statements.append(statement)

    def _commit(self, _conn):
        self.commits += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        sa.event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *_exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._record)
        sa.event.remove(self.engine, "commit", self._commit)

    @property
    def count(self) -> int:
        return len(self.statements)


#: Noon UTC on the 20th: a test that starts here stays inside one UTC day and one UTC month.
MID_MONTH_NOON = datetime(2027, 1, 20, 12, tzinfo=UTC)


@pytest.fixture
def mid_month_noon(monkeypatch) -> datetime:
    """The product's clock (utcnow) starts at MID_MONTH_NOON and runs on at the real pace, so
    what a test spends, texts and checks falls in one UTC day and one UTC month whenever it
    runs: on the wall clock, a test run across midnight saw the spend it had just made as
    yesterday's (and across a month's end, as last month's)."""
    started = time.monotonic()

    def clock() -> datetime:
        return MID_MONTH_NOON + timedelta(seconds=time.monotonic() - started)

    monkeypatch.setattr(types, "clock", clock)
    return MID_MONTH_NOON


@pytest.fixture
def count_queries(app):
    return lambda: QueryCounter(db.engine)


@pytest.fixture
def openai_server(app):
    """A local OpenAI-compatible server the app's real openai SDK talks to."""
    from tests.standins import openai_standin

    with openai_standin() as server:
        app.config.update(
            LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1", OPENAI_API_KEY="sk-test"
        )
        yield server


@pytest.fixture
def twilio_server(app):
    """A local Twilio REST stand-in the app's real twilio SDK talks to."""
    from tests.standins import twilio_standin

    with twilio_standin() as server:
        app.config.update(SMS_BACKEND="twilio", TWILIO_API_BASE_URL=server.url)
        yield server


@pytest.fixture
def media_store(app, tmp_path):
    """The local media store of the embedded mode, in a folder of this test's own."""
    from sms_agent.vendors.twilio_media import LocalMediaStore

    app.config["MEDIA_STORE_DIR"] = str(tmp_path / "media")
    return LocalMediaStore(app.config)
