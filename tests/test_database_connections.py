"""Pooled database connections: taking one from the pool costs no round trip to the server,
and one the server has closed is replaced before a request or a job uses it."""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db, drop_closed_connection
from sms_agent.models import User


def _backend_pid() -> int:
    return db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def closed_by_the_server(pid: int) -> None:
    """pg_terminate_backend from a connection of its own, outside the app's pool."""
    engine = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):  # the server has let go of it once it is gone from its list
            gone = other.execute(
                sa.text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar_one()
            if gone:
                break
            time.sleep(0.02)
    engine.dispose()


def test_taking_a_pooled_connection_sends_nothing_to_the_server(app, monkeypatch):
    pings = []
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(1))
    for phone in ("+12025550101", "+12025550102", "+12025550103"):
        db.session.add(User(phone_number=phone))
        db.session.commit()  # each commit gives the connection back; the next takes it again
    assert db.session.query(User).count() == 3
    assert pings == []


def test_a_connection_the_database_closed_is_replaced_before_it_is_used(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to close a connection")
    first = _backend_pid()
    db.session.commit()  # back to the pool, idle
    closed_by_the_server(first)

    db.session.add(User(phone_number="+12025550104"))
    db.session.commit()  # would fail with "server closed the connection" on the dead one

    assert db.session.get(User, "+12025550104") is not None
    assert _backend_pid() != first


def test_only_a_closed_connection_is_refused():
    connection = sqlite3.connect(":memory:")  # no socket to watch: always fine
    drop_closed_connection(connection, None, None)
    connection.close()

    class ClosedPsycopgConnection:
        def fileno(self):
            raise OSError("the connection is closed")

    with pytest.raises(sa.exc.DisconnectionError):
        drop_closed_connection(ClosedPsycopgConnection(), None, None)


#: Run in a network namespace of its own: the app reaches PostgreSQL over TCP on the
#: namespace's loopback, relayed to the server's Unix socket; then the loopback goes down.
DEAD_HOST_SCRIPT = """
import socket, subprocess, sys, threading, time
import sqlalchemy as sa
from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db

server_socket, url = sys.argv[1], sa.make_url(sys.argv[2])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
listener = socket.create_server(("127.0.0.1", 0))

def pass_on(source, target):
    while data := source.recv(65536):
        target.sendall(data)

def relay():
    while True:
        near, far = listener.accept()[0], socket.socket(socket.AF_UNIX)
        far.connect(server_socket)
        threading.Thread(target=pass_on, args=(near, far), daemon=True).start()
        threading.Thread(target=pass_on, args=(far, near), daemon=True).start()

threading.Thread(target=relay, daemon=True).start()
relayed = url.set(host="127.0.0.1", port=listener.getsockname()[1])
uri = relayed.render_as_string(hide_password=False)
app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=uri, DB_CONNECT_TIMEOUT=2)
with app.app_context():
    db.session.execute(sa.text("SELECT 1"))
    subprocess.run(["ip", "link", "set", "lo", "down"], check=True)  # the host is gone
    began = time.monotonic()
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        print(f"failed after {time.monotonic() - began:.1f}s")
"""


def test_a_query_to_a_host_that_died_under_its_connection_fails_in_seconds(database_url):
    """Regression: a database host that died under an open connection (a power cut, a
    partition: packets vanish, nothing answers) held the webhook, job or command that sent
    it a query for the kernel's retransmissions, about fifteen minutes, so Twilio gave up on
    the webhook and its text was lost. A query left unacknowledged for DB_CONNECT_TIMEOUT
    now fails the connection, and the webhook keeps its text for a worker.

    Played in a network namespace of its own whose loopback goes down (root and unshare),
    with PostgreSQL reached over its Unix socket, which the namespace does not touch."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    url = sa.make_url(database_url)
    server_socket = Path(f"/var/run/postgresql/.s.PGSQL.{url.port or 5432}")
    if url.get_backend_name() != "postgresql" or not server_socket.exists():
        pytest.skip("needs PostgreSQL's Unix socket on this host")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip for a network namespace")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("this sandbox makes no network namespaces")
    argv = ["unshare", "-n", sys.executable, "-c", DEAD_HOST_SCRIPT, str(server_socket)]
    done = subprocess.run(
        [*argv, database_url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("failed after "), done.stdout
    assert float(done.stdout.split()[-1].rstrip("s")) < 6


def _postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's cursors: PostgreSQL only")


def test_a_repeated_query_builds_no_column_descriptions(app, monkeypatch):
    """SQLAlchemy reuses the column map of a statement it ran before, so psycopg's
    per-column descriptions of its result are never read: they are not built either."""
    import psycopg

    _postgresql_only()
    db.session.add(User(phone_number="+12025550105"))
    db.session.commit()
    texter = sa.select(User).where(User.phone_number == sa.bindparam("phone"))
    db.session.scalars(texter, {"phone": "+12025550105"}).one()  # compiled and mapped once
    db.session.expunge_all()
    built = []
    column = psycopg.Column.__init__
    monkeypatch.setattr(
        psycopg.Column, "__init__", lambda self, *a: built.append(a[1]) or column(self, *a)
    )

    user = db.session.scalars(texter, {"phone": "+12025550105"}).one()

    assert user.phone_number == "+12025550105"
    assert built == []


def test_a_result_is_described_as_psycopg_describes_it_even_when_read_late(app):
    _postgresql_only()
    cursor = db.session.connection().connection.driver_connection.cursor()
    cursor.execute("SELECT 1 AS number, 'x'::text AS word")
    described = cursor.description
    cursor.execute("SELECT now() AS moment")  # the cursor moves on to another result

    assert len(described) == 2
    assert [(column.name, column.type_code) for column in described] == [
        ("number", 23),
        ("word", 25),
    ]
    assert [column[0] for column in cursor.description] == ["moment"]
    cursor.execute("SELECT")
    assert cursor.description == []
    cursor.execute("SET timezone = 'UTC'")
    assert cursor.description is None
    rows = db.session.execute(sa.text("SELECT 7 AS seven, 'a' AS letter")).mappings().all()
    assert rows == [{"seven": 7, "letter": "a"}]


def test_a_webhook_whose_new_connection_is_closed_at_once_keeps_the_text_for_a_worker(app, client):
    """Regression: the database closing connections as fast as they are made (a failover,
    connections being terminated): the pooled one found closed and its replacement closed
    too, SQLAlchemy's pool gave up with an InvalidRequestError ("This connection is
    closed"), which nothing takes for the database being away: the webhook answered Twilio
    500 and the text was lost (found live: gunicorn, backends terminated during a burst).
    The database being away, the text now goes to the broker, as in any outage."""
    from sms_agent import jobs
    from tests.standins import inbound_form, signed_post
    from tests.test_webhook import queued_jobs

    _postgresql_only()
    first = _backend_pid()
    db.session.commit()  # back to the pool, idle
    closed_by_the_server(first)

    def closed_as_soon_as_made(dbapi_connection, _record):
        closed_by_the_server(dbapi_connection.info.backend_pid)

    sa.event.listen(db.engine, "connect", closed_as_soon_as_made)
    form = inbound_form("Are you there?")
    try:
        response = signed_post(client, "/sms/inbound", form)
    finally:
        sa.event.remove(db.engine, "connect", closed_as_soon_as_made)

    assert response.status_code == 200
    [(job, args)] = queued_jobs(app)
    assert job == "sms_agent.jobs.receive_inbound" and args == [form]
    assert jobs.receive_inbound.apply(args=args).result == "task"  # the database is back
