"""Not the product: the least an ingest could cost if webhooks shared their transaction.

`make bench-ingest BENCH_ARGS=--group-commit` serves this app with the same gunicorn as the
ceiling and the real webhook. It does only what every stored webhook must do, with the
cheapest tools at hand: check Twilio's signature, read the form and the number, and store
the message before answering. Storing is group commit: a request that finds no flush running
flushes everything pending in one transaction (lock the texters' rows, insert the tasks with
one multi-row `INSERT ... ON CONFLICT DO NOTHING` over raw psycopg) and one Celery publish for
the whole batch; the others wait for the flush that carries theirs. No ORM, no keywords,
quota, metrics, log lines or dedupe bookkeeping. Whatever rate it reaches bounds what the
product's webhook could reach on this machine by batching.
"""

from __future__ import annotations

import datetime
import os
import threading
import uuid

import psycopg
from celery import Celery
from flask import Flask, abort, request
from twilio.request_validator import RequestValidator

from sms_agent.phones import to_e164

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
#: Published to a queue no worker reads: the bench measures ingest, not answers.
QUEUE = "bench-group-commit"

LOCK_TEXTERS = (
    "SELECT phone_number FROM users WHERE phone_number = ANY(%s)"
    " ORDER BY phone_number FOR NO KEY UPDATE"
)
ADD_TEXTERS = (
    "INSERT INTO users (phone_number, tier, full_name, last_active, total_requests,"
    " monthly_requests, rate_limit_reset, window_started_at, timezone, preferences,"
    " service_state, is_active, created_at, updated_at)"
    " SELECT p, 'free', '', %(now)s, 0, 0, %(now)s + interval '30 days', %(now)s, 'UTC', '{}',"
    " '{}', true, %(now)s, %(now)s FROM unnest(%(phones)s::text[]) AS p ON CONFLICT DO NOTHING"
)
STORE_TASKS = (
    "INSERT INTO tasks (id, user_phone, sms_content, category, status, message_sid, success,"
    " metadata, created_at, updated_at)"
    " SELECT i, p, b, 'general', 'queued', s, false, '{}', %(now)s, %(now)s"
    " FROM unnest(%(ids)s::uuid[], %(phones)s::text[], %(bodies)s::text[], %(sids)s::text[])"
    " AS t(i, p, b, s) ON CONFLICT (message_sid) DO NOTHING RETURNING id"
)


class GroupCommit:
    """Whoever finds no flush running becomes the leader and flushes all that is pending;
    a webhook is answered only once the flush that carried it has committed (or failed)."""

    def __init__(self, database_url: str, celery: Celery) -> None:
        self.database_url = database_url.replace("postgresql+psycopg", "postgresql")
        self.celery = celery
        self.condition = threading.Condition()
        self.pending: list[dict] = []
        self.flushing = False
        self.connections = threading.local()

    def store(self, message: dict) -> None:
        batch = None
        with self.condition:
            self.pending.append(message)
            while self.flushing and "outcome" not in message:
                self.condition.wait()
            if "outcome" not in message:
                self.flushing = True
                batch, self.pending = self.pending, []
        if batch is not None:
            try:
                self.flush(batch)
                outcome = "stored"
            except Exception as exc:  # every webhook of the batch fails with it
                outcome = exc
            with self.condition:
                for each in batch:
                    each["outcome"] = outcome
                self.flushing = False
                self.condition.notify_all()
        if isinstance(message["outcome"], Exception):
            raise message["outcome"]

    def connection(self) -> psycopg.Connection:
        current = getattr(self.connections, "current", None)
        if current is None or current.closed:
            current = self.connections.current = psycopg.connect(self.database_url)
        return current

    def flush(self, batch: list[dict]) -> None:
        now = datetime.datetime.now(datetime.UTC)
        phones = sorted({message["phone"] for message in batch})
        connection = self.connection()
        with connection.transaction(), connection.cursor() as cursor:
            if len(cursor.execute(LOCK_TEXTERS, (phones,)).fetchall()) < len(phones):
                cursor.execute(ADD_TEXTERS, {"now": now, "phones": phones})
            cursor.execute(
                STORE_TASKS,
                {
                    "now": now,
                    "ids": [uuid.uuid4() for _ in batch],
                    "phones": [message["phone"] for message in batch],
                    "bodies": [message["body"] for message in batch],
                    "sids": [message["sid"] for message in batch],
                },
            )
            stored = [str(row[0]) for row in cursor.fetchall()]
        self.celery.send_task("bench.answer_batch", args=[stored], queue=QUEUE)


def create_app() -> Flask:
    """The app gunicorn serves (`bench.group_commit:create_app()`), from the stack's
    environment."""
    app = Flask(__name__)
    signed_url = os.environ["PUBLIC_BASE_URL"] + "/sms/inbound"
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    group = GroupCommit(os.environ["DATABASE_URL"], Celery(broker=os.environ["CELERY_BROKER_URL"]))

    @app.post("/sms/inbound")
    def inbound():
        form = request.form
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(signed_url, form, signature):
            abort(403)
        phone = to_e164(form.get("From") or "", "US")
        group.store({"sid": form["MessageSid"], "phone": phone, "body": form.get("Body") or ""})
        return EMPTY_TWIML, 200, {"Content-Type": "text/xml"}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
