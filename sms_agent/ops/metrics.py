"""Prometheus metrics: what the service did, counted where it happens, served at /metrics.

Row-shaped facts (errors recorded, SMS sent, a task starting or finishing) are counted from
the ORM session once its transaction commits, so every write path is covered and a rolled
back attempt counts nothing. Facts that leave no row (a keyword, a duplicate, a rejected
webhook, how long the AI took) are counted by the code that sees them.

With several processes on a host (gunicorn workers, Celery workers), set
PROMETHEUS_MULTIPROC_DIR to one shared, initially empty directory for all of them:
prometheus_client then writes each process's values there and /metrics adds them up.
"""

from __future__ import annotations

import functools
import hmac
import logging
import math

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from ..current import this_request
from ..extensions import DATABASE_BUSY, db, listen_on_every_session
from ..models import (
    Conversation,
    ConversationState,
    ErrorLog,
    ModelCall,
    OutboundMessage,
    Task,
    TaskStatus,
    User,
    utcnow,
)
from .health import KeptAnswer, unreachable_database

bp = Blueprint("metrics", __name__)
log = logging.getLogger("sms_agent.metrics")

INBOUND_MESSAGES = Counter(
    "sms_inbound_messages_total",
    "Inbound SMS webhooks by outcome: task, keyword, duplicate or rejected.",
    ["outcome"],
)
BAD_SIGNATURES = Counter(
    "sms_webhook_bad_signatures_total",
    "Webhooks refused for a missing or wrong Twilio signature, by path.",
    ["path"],
)
SMS_SENT = Counter("sms_sent_total", "SMS handed to the SMS backend, by kind.", ["kind"])
REPLIES_SENT = Counter("sms_replies_sent_total", "Tasks answered with an SMS reply.")
SEGMENTS_SENT = Counter("sms_segments_sent_total", "SMS segments sent (what the carrier bills).")
AI_LATENCY = Histogram(
    "ai_request_duration_seconds",
    "Time one AI answer took, retries included.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 2, 3, 5, 10, 20, 40, 60),
)
AI_TOKENS = Counter("ai_tokens_total", "Tokens used by completed AI answers.")
ERRORS = Counter("sms_agent_errors_total", "ErrorLog rows recorded, by error type.", ["error_type"])
QUEUE_WAIT = Histogram(
    "job_queue_wait_seconds",
    "Time from a task being stored to a worker starting to answer it.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
SMS_SPEND_ESTIMATED = Counter(
    "sms_spend_estimated_usd_total", "USD of SMS sent, at our estimate when each was sent."
)
SMS_SPEND = Counter(
    "sms_spend_usd_total", "USD of SMS at Twilio's own price, counted as the prices arrive."
)
MODEL_SPEND = Counter("model_spend_usd_total", "USD of model calls, by model.", ["model"])
TASKS_FINISHED = Counter("tasks_finished_total", "Tasks that reached a final status.", ["status"])
HANDOFFS_REQUESTED = Counter(
    "handoffs_requested_total",
    "Conversations that started waiting for a person, by what asked (keyword or model).",
    ["source"],
)
FIRST_STAFF_REPLY = Histogram(
    "handoff_first_staff_reply_seconds",
    "Time from a texter asking for a person to the first staff reply.",
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400),
)
CONVERSATIONS_WAITING = Gauge(
    "conversations_waiting",
    "Conversations waiting for a staff member now (read from the database at each scrape).",
    multiprocess_mode="mostrecent",
)

_PENDING = "metrics_pending"


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; the proxy should keep this path off the public internet, and
    with METRICS_TOKEN set only a scrape sending it as a bearer token is answered. In
    production it must be set: without it there is no /metrics (404), as a proxy that let
    the path through would show anyone the service's traffic and spending."""
    if not current_app.config["METRICS_TOKEN"] and current_app.config["APP_ENV"] == "production":
        abort(404)
    if not _scraper_allowed():
        return Response(
            "Send METRICS_TOKEN as a bearer token.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
        )
    kept = current_app.extensions["metrics"]
    waiting = kept.get(current_app.config["READYZ_CACHE_SECONDS"], _conversations_waiting)
    CONVERSATIONS_WAITING.set(waiting)
    directory = current_app.config.get("PROMETHEUS_MULTIPROC_DIR")
    registry = REGISTRY
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _scraper_allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return True
    scheme, _, sent = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())


def _conversations_waiting() -> float:
    """The one figure read from the database, kept like /readyz's answer (KeptAnswer) since
    without METRICS_TOKEN anyone may scrape: while it cannot be read (an outage), it is
    NaN, unknown, and the scrape still serves every other figure."""
    from ..handoff import waiting_count

    try:
        return waiting_count()
    except DATABASE_BUSY as exc:
        db.session.rollback()
        log.warning("conversations_waiting unknown: %s", unreachable_database(exc))
        return math.nan


def count_inbound(outcome: str) -> None:
    """One inbound webhook; every keyword (stop, help...) counts as "keyword"."""
    _inbound_counter(outcome).inc()


@functools.cache
def _inbound_counter(outcome: str):
    """The counter of one outcome, looked up once (outcomes are few): Counter.labels checks
    the value and takes a lock on every call, 15,000 instructions a webhook."""
    return INBOUND_MESSAGES.labels(outcome="keyword" if outcome in _keyword_outcomes() else outcome)


@functools.cache
def _keyword_outcomes() -> frozenset[str]:
    from ..inbound.keywords import Keyword

    return frozenset(keyword.value for keyword in Keyword)


@bp.after_app_request
def _count_rejected_webhooks(response: Response) -> Response:
    """Bad signatures and malformed forms never reach the code that counts outcomes."""
    if this_request().endpoint == "webhook.inbound_sms" and response.status_code >= 400:
        count_inbound("rejected")
    return response


def _change(obj, attribute: str):
    """The value `attribute` took in this flush, else None."""
    history = inspect(obj).attrs[attribute].history
    return history.added[0] if history.added else None


def _facts_about(session: Session, obj) -> list:
    """(callable, args) pairs to emit once the transaction commits."""
    if isinstance(obj, ErrorLog) and obj in session.new:
        return [(ERRORS.labels(error_type=obj.error_type).inc, ())]
    if isinstance(obj, ModelCall) and obj in session.new:
        return [(MODEL_SPEND.labels(model=obj.model).inc, (float(obj.cost_usd or 0),))]
    if isinstance(obj, OutboundMessage):
        return _message_facts(obj)
    if isinstance(obj, Task):
        return _answer_facts(obj) + _status_facts(obj, _change(obj, "status"))
    if isinstance(obj, User) and _change(obj, "conversation_state") == ConversationState.WAITING:
        key = session.identity_key(Conversation, obj.phone_number)
        conversation = session.identity_map.get(key)
        source = (conversation.handoff_source if conversation else None) or "keyword"
        return [(HANDOFFS_REQUESTED.labels(source=source).inc, ())]
    if isinstance(obj, Conversation):
        return _first_reply_facts(obj)
    return []


def _first_reply_facts(conversation: Conversation) -> list:
    """The first staff reply after a texter asked for a person."""
    facts = []
    history = inspect(conversation).attrs["last_staff_reply_at"].history
    asked = conversation.requested_at
    if history.added and history.added[0] is not None and asked is not None:
        before = history.deleted[0] if history.deleted else None
        if before is None or before < asked:
            waited = (history.added[0] - asked).total_seconds()
            facts.append((FIRST_STAFF_REPLY.observe, (max(0.0, waited),)))
    return facts


def count_sent(session: Session, message: OutboundMessage) -> None:
    """A message the SMS backend accepted, counted at the commit: called where its sid is
    stored (outbound/status.record_sent, a Core UPDATE, which session events never see).
    Rows stored before a failed send get no sid and are not counted."""
    session.info.setdefault(_PENDING, []).extend(
        [
            (SMS_SENT.labels(kind=message.kind or "reply").inc, ()),
            (SEGMENTS_SENT.inc, (message.segments or 1,)),
            (SMS_SPEND_ESTIMATED.inc, (float(message.price_usd or 0),)),
        ]
    )


def count_completed(session: Session) -> None:
    """A task completed by a Core UPDATE (answering/completion.py), which session events
    never see: counted at the commit as a flush of its status would have been."""
    facts = _status_facts(None, TaskStatus.COMPLETED.value)
    session.info.setdefault(_PENDING, []).extend(facts)


def _message_facts(message: OutboundMessage) -> list:
    if _change(message, "price_estimated") is False:
        return [(SMS_SPEND.inc, (float(message.price_usd or 0),))]
    return []


def _answer_facts(task: Task) -> list:
    """The pipeline stores the model's answer with its token count and the seconds the
    call took (metadata llm_seconds) in the same flush. An offline notice is no model's
    answer, and its milliseconds are no AI latency."""
    if _change(task, "ai_response") is None:
        return []
    facts = []
    metadata = task.metadata_ or {}
    seconds = metadata.get("llm_seconds")
    if isinstance(seconds, int | float) and not metadata.get("offline"):  # no model answered
        facts.append((AI_LATENCY.observe, (seconds,)))
    if task.tokens_used:
        facts.append((AI_TOKENS.inc, (task.tokens_used,)))
    return facts


def observe_queue_wait(task: Task) -> None:
    """Called when a worker claims a task (a bulk UPDATE, which session events never see)."""
    if task.created_at is not None:
        QUEUE_WAIT.observe(max(0.0, (utcnow() - task.created_at).total_seconds()))


def _status_facts(task: Task, new_status: str | None) -> list:
    if new_status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
        facts = [(TASKS_FINISHED.labels(status=new_status).inc, ())]
        if new_status == TaskStatus.COMPLETED:
            facts.append((REPLIES_SENT.inc, ()))
        return facts
    return []


def _collect(session: Session, _context) -> None:
    pending = session.info.setdefault(_PENDING, [])
    for obj in list(session.new) + list(session.dirty):
        pending.extend(_facts_about(session, obj))


def _emit(session: Session) -> None:
    for emit, args in session.info.pop(_PENDING, []):
        emit(*args)


def _discard(session: Session) -> None:
    session.info.pop(_PENDING, None)


def init_app(app: Flask) -> None:
    """Serve /metrics and count committed rows from every ORM session (listeners are
    registered once per process, however many apps the tests build)."""
    app.register_blueprint(bp)
    app.extensions["metrics"] = KeptAnswer()
    listen_on_every_session(after_flush=_collect, after_commit=_emit, after_rollback=_discard)
