"""A whole stack per test: scratch PostgreSQL database, private redis-server, OpenAI and
Twilio stand-ins, and real gunicorn, Celery worker and beat processes.

These tests run only through `make faults` (pytest -m faults) with TEST_DATABASE_URL naming
a PostgreSQL server; they need redis-server on PATH.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from bench import harness
from bench.standins import StandIn
from config import TestingConfig

#: Settings every fault stack runs with: short ages and backoffs so faults heal in seconds.
FAULT_SETTINGS = {
    "WORKER_CONCURRENCY": 4,
    "WEB_CONCURRENCY": 2,
    "WEB_THREADS": 8,
    "STALE_TASK_SECONDS": 10,
    "SWEEP_INTERVAL_SECONDS": 1,
    "RETRY_BACKOFF_SECONDS": 0.5,
    "OPENAI_MAX_RETRIES": 2,
    "TWILIO_MAX_RETRIES": 3,
    "TWILIO_MPS": 0,  # the stand-in has no rate to respect
    "OPENAI_TIMEOUT": 2,
    "LLM_BACKEND": "openai",
    "OPENAI_API_KEY": "sk-stand-in",
    "SMS_BACKEND": "twilio",
    "LOG_LEVEL": "INFO",
}

#: How the default program notice begins (program_notice.default).
PROGRAM_NOTICE_START = "SMS-to-AI Agent: AI answers to your texts"


class Stack:
    """One running deployment; the test starts the processes it needs."""

    def __init__(self, database_url: str, work_dir, stand_in: StandIn) -> None:
        self.work_dir = work_dir
        self.stand_in = stand_in
        self.redis_port = harness.free_port()
        self.web_port = harness.free_port()
        self.redis = harness.start_redis(self.redis_port, work_dir)
        self.env = harness.stack_env(
            database_url,
            f"redis://127.0.0.1:{self.redis_port}/0",
            self.web_port,
            OPENAI_BASE_URL=stand_in.url + "/v1",
            TWILIO_API_BASE_URL=stand_in.url,
            **FAULT_SETTINGS,
        )
        harness.migrate(self.env)
        self.engine = sa.create_engine(sa.make_url(database_url))
        self.processes: list[harness.Process] = [self.redis]
        self.http = requests.Session()

    # processes
    def start(self, *names: str) -> None:
        for name in names:
            self.processes.append(self._starters()[name]())

    def _starters(self):
        return {
            "web": lambda: harness.start_web(self.env, self.work_dir),
            "worker": lambda: harness.start_worker(self.env, self.work_dir),
            "beat": lambda: harness.start_beat(self.env, self.work_dir),
        }

    def process(self, name: str) -> harness.Process:
        return next(p for p in reversed(self.processes) if p.name == name)

    def restart_exited(self) -> None:
        """Start again a worker or beat that exited, as production's supervisor does (the
        README asks for one): Celery's Redis transport can end a worker when the broker
        goes away just as a job is acknowledged (kombu: "'NoneType' object has no attribute
        'hostname'" while restoring unacked messages)."""
        for name in ("worker", "beat"):
            if any(p.name == name for p in self.processes):
                if self.process(name).popen.poll() is not None:
                    self.processes.append(self._starters()[name]())

    def restart_redis(self) -> None:
        self.redis = harness.start_redis(self.redis_port, self.work_dir)
        self.processes.append(self.redis)

    def close(self) -> None:
        for process in self.processes:  # all at once: their graceful shutdowns overlap
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in reversed(self.processes):
            process.stop()
        self.http.close()
        self.engine.dispose()

    # webhooks
    @property
    def inbound_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/sms/inbound"

    def text(self, phone: str, body: str, sid: str | None = None) -> dict[str, str]:
        """A signed inbound SMS; returns the form, so a test can send it again."""
        form = harness.inbound_form(phone, body, sid)
        response = self.post(form)
        assert response.status_code == 200, response.text
        return form

    def post(self, form: dict[str, str], session: requests.Session | None = None):
        headers = {"X-Twilio-Signature": harness.signature(self.inbound_url, form)}
        return (session or self.http).post(self.inbound_url, data=form, headers=headers, timeout=30)

    def post_many(self, forms: list[dict], concurrency: int = 50) -> list[int]:
        """Status codes of all the webhooks, sent `concurrency` at a time."""
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda form: self.post(form, requests).status_code, forms))

    # what the database says
    def scalar(self, sql: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))

    def statuses(self) -> dict[str, int]:
        return dict(self.rows("SELECT status, count(*) FROM tasks GROUP BY status"))

    def wait_until_settled(
        self, expected_tasks: int, timeout: float, supervised: bool = False
    ) -> dict[str, int]:
        """Wait until `expected_tasks` tasks exist and none is queued or processing;
        `supervised` restarts a worker or beat that exits meanwhile."""

        def settled():
            if supervised:
                self.restart_exited()
            statuses = self.statuses()
            done = statuses.get("completed", 0) + statuses.get("failed", 0)
            return statuses if done == expected_tasks == sum(statuses.values()) else None

        try:
            return harness.wait_until(settled, timeout, "every task to finish", interval=0.5)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; statuses {self.statuses()}\n{self.logs()}") from None

    def answers_to(self, number: str) -> list[dict]:
        """What Twilio accepted for `number`, less the one-time program notice a new number
        gets before its first answer."""
        return [
            call
            for call in self.stand_in.sent_to(number)
            if not call["body"].startswith(PROGRAM_NOTICE_START)
        ]

    def replies_per_task(self) -> list[int]:
        sql = """SELECT count(m.id) FROM tasks t LEFT JOIN outbound_messages m
                 ON m.task_id = t.id AND m.kind = 'reply' AND m.sid IS NOT NULL
                 GROUP BY t.id"""
        return [row[0] for row in self.rows(sql)]

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-tail:]}" for p in self.processes)


@pytest.fixture
def stack(tmp_path):
    url = TestingConfig.SQLALCHEMY_DATABASE_URI
    if not url.startswith("postgresql"):
        pytest.skip("fault tests run on PostgreSQL (set TEST_DATABASE_URL)")
    if shutil.which("redis-server") is None:
        pytest.skip("fault tests need redis-server")
    with harness.scratch_database(url, prefix="faults") as database_url, StandIn() as stand_in:
        stack = Stack(database_url, tmp_path, stand_in)
        try:
            yield stack
        finally:
            stack.close()
            time.sleep(0.2)  # let the killed connections go before the database is dropped
