"""Making two PostgreSQL transactions meet at a lock every time, for deadlock regressions:
a third transaction holds a row both need, each writer is started in its own thread and
app context, and the test goes on only once the writers wait for the lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from sms_agent.extensions import db


def waiting_for_locks(count: int, timeout: float = 10.0) -> None:
    """Until `count` of this database's connections wait for a lock."""
    deadline = time.monotonic() + timeout
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with db.engine.connect() as watcher:
        while watcher.execute(query).scalar() < count:
            assert time.monotonic() < deadline, "nobody came to wait for the lock"
            time.sleep(0.02)
            watcher.rollback()


def in_app_thread(app, call: Callable, results: dict, name: str) -> threading.Thread:
    """A thread (not started) running `call()` in an app context of its own; its result, or
    the exception it raised, lands in `results[name]`."""

    def run():
        with app.app_context():
            try:
                results[name] = call()
            except Exception as exc:  # noqa: BLE001 - the test reports it
                results[name] = exc
            finally:
                db.session.remove()

    return threading.Thread(target=run)
