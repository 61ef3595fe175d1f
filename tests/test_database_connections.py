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


def _closed_by_the_server(pid: int) -> None:
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
    _closed_by_the_server(first)

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
