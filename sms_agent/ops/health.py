"""Probes for the load balancer and the orchestrator: alive (/healthz) and ready (/readyz)."""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from flask import Blueprint, current_app

from ..extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("sms_agent.health")

#: Seconds the readiness probe waits for the broker, and for the database, before calling
#: it down.
BROKER_PROBE_TIMEOUT = 2.0
DATABASE_PROBE_TIMEOUT = 2.0

T = TypeVar("T")


@bp.get("/healthz")
def healthz():
    """The process answers; touches nothing else, so a database outage never restarts it."""
    return {"status": "ok"}


class KeptAnswer:
    """An answer anyone may ask for that costs a trip to the database (or the broker),
    kept for a few seconds and made by one caller at a time: one who asks meanwhile gets
    the last answer, or waits for this one if there is none yet. A stranger's loop of calls
    then costs one trip a period, however fast it runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answer = None
        self.made_at = -math.inf

    def get(self, seconds: float, make: Callable[[], T]) -> T:
        """The answer kept, or `make()`'s when the one kept is `seconds` old."""
        if not self.lock.acquire(blocking=self.made_at == -math.inf):
            return self.answer
        try:
            if time.monotonic() - self.made_at >= seconds:
                self.answer = make()
                self.made_at = time.monotonic()
            return self.answer
        finally:
            self.lock.release()


@bp.record_once
def _keep_answers(state) -> None:
    state.app.extensions["readyz"] = KeptAnswer()


@bp.get("/readyz")
def readyz():
    """Ready to take traffic: the database answers SELECT 1 (and has been migrated) or the
    broker accepts a connection; "degraded" while only one of them does. 503 (neither, or a
    schema behind this code) names what failed in a word, so the proxy stops routing here
    meanwhile; the driver's own words (hosts, users, database names) go to the log only,
    since anyone may ask.

    Since anyone may ask, an answer is kept for READYZ_CACHE_SECONDS (KeptAnswer): each
    probe opens a connection to the database and the broker (during an outage, waits out
    their timeouts and logs a WARNING), and a stranger's loop of probes cost as many."""
    kept = current_app.extensions["readyz"]
    return kept.get(current_app.config["READYZ_CACHE_SECONDS"], _probe_readiness)


def _probe_readiness() -> tuple[dict, int]:
    database, broker = database_problem(), broker_problem()
    schema = None if database else _schema_problem_once()
    checks = {
        "database": (database and "unreachable") or (schema and "not migrated") or "ok",
        "broker": (broker and "unreachable") or "ok",
    }
    status = _readiness(checks, schema)
    for name, problem in (("database", database or schema), ("broker", broker)):
        if problem:
            said = "degraded" if status == "degraded" else "not ready"
            log.warning("%s: %s %s: %s", said, name, checks[name], problem)
    return {"status": status, "checks": checks}, 503 if status == "unavailable" else 200


def _readiness(checks: dict[str, str], schema: str | None) -> str:
    """ok, degraded or unavailable. Either the database or the broker keeps a text (a
    webhook stores it, or hands it to the broker while the database is away), so one of
    them down leaves the process ready: a proxy that took every process out for a shared
    outage would refuse Twilio's webhooks itself, and Twilio does not send a refused one
    again. A schema behind this code is no outage: that process must take nothing."""
    if set(checks.values()) == {"ok"}:
        return "ok"
    return "degraded" if "ok" in checks.values() and not schema else "unavailable"


def database_problem(timeout: float = DATABASE_PROBE_TIMEOUT) -> str | None:
    """Why SELECT 1 fails, or None; asked from a thread of its own and given up after
    `timeout` seconds. A database host that died under an open pooled connection (a power
    cut, a partition) never answers, and the kernel resends for about fifteen minutes: the
    probe, and the web thread it held, waited that long. A probe given up on has its
    connection cut, so its thread ends at once and the pool opens a fresh one."""
    probe = _DatabaseProbe(db.engine)
    thread = threading.Thread(target=probe.run, name="readyz-database", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        probe.give_up()
        return f"no answer to SELECT 1 within {timeout:g} s"
    return probe.problem


class _DatabaseProbe:
    """One SELECT 1 on a pooled connection, whose socket another thread may shut down while
    it waits, never once the connection has gone back to the pool."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._fileno: int | None = None

    def run(self) -> None:
        try:
            with self.engine.connect() as connection:
                self._watch(connection.connection.dbapi_connection)
                try:
                    connection.execute(sa.text("SELECT 1"))
                finally:
                    self._watch(None)
        except Exception as exc:  # any failure means "unreachable"; its words go to the log
            self.problem = _describe(exc)

    def _watch(self, dbapi_connection) -> None:
        fileno = getattr(dbapi_connection, "fileno", None)  # SQLite has no socket
        with self._lock:
            self._fileno = fileno() if fileno else None

    def give_up(self) -> None:
        with self._lock:
            if self._fileno is None:
                return
            with socket.socket(fileno=os.dup(self._fileno)) as cut:
                try:
                    cut.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed


def database_not_ready(engine: sa.Engine | None = None) -> str | None:
    """Why the commands cannot use the database, in words saying what to do: it does not
    answer, or the migrations were never applied or are behind this code's. None when it is
    ready (also for a schema made without migrations, as the tests make theirs, and for one
    at a revision this code does not know: a newer deploy's, already migrated). Asked on a
    connection of its own (of `engine`, else the app's): the session, and what the caller
    holds in it, is left alone."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        with (engine or db.engine).connect() as connection:
            applied = set(MigrationContext.configure(connection).get_current_heads())
            has_tables = sa.inspect(connection).has_table("users")
    except sa.exc.SQLAlchemyError as exc:
        return unreachable_database(exc)
    upgrade = "run `flask db upgrade` (`make run` does it)"
    if not applied:
        return None if has_tables else f"the database has no tables yet: {upgrade}"
    scripts = ScriptDirectory(current_app.extensions["migrate"].directory)
    heads = set(scripts.get_heads())
    for revision in applied - heads:
        try:
            scripts.get_revision(revision)
        except CommandError:
            continue  # not ours: a newer deploy's migration
        needed = ", ".join(sorted(heads))
        return f"the database is at migration {revision}, this code needs {needed}: {upgrade}"
    return None


def unreachable_database(exc: BaseException) -> str:
    """What the commands say of a database they could not connect to, in one line."""
    return f"cannot reach the database (DATABASE_URL): {_describe(exc)}"


def _schema_problem_once() -> str | None:
    """database_not_ready's migration check for /readyz, until it first passes: a process
    deployed before `flask db upgrade` ran is not ready (every webhook would fail), and once
    the schema is there it stays, so later probes cost only their SELECT 1."""
    if current_app.extensions.get("schema_ready"):
        return None
    problem = database_not_ready()
    current_app.extensions["schema_ready"] = problem is None
    return problem


def broker_problem(timeout: float = BROKER_PROBE_TIMEOUT) -> str | None:
    celery_app = current_app.extensions["celery"]
    try:
        with celery_app.connection_for_write(connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except Exception as exc:  # kombu raises transport-specific errors; any means "down"
        return _describe(exc)
    return None


def _describe(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"[:200]


def warm_up(app) -> dict[str, str | None]:
    """Open the database pool's first connection and the broker's producer before a new
    web worker takes traffic (gunicorn's post_worker_init), so its first webhooks do not
    each pay ~0.5 s for connections and lazy imports. Problems are returned, not raised:
    a worker that starts during an outage must still come up and answer /healthz."""
    with app.app_context():
        problems = {"database": database_problem(), "broker": broker_problem()}
        if not problems["broker"]:
            with current_app.extensions["celery"].producer_or_acquire():
                pass
    return problems
