"""Answering a stored task: claim it, classify, ask the model, shape, send, record errors.

Exactly-once is built from three facts kept in the database: the claim (a conditional UPDATE
from queued to processing, so two workers never both work on a task), the stored answer
(a redelivered job never asks the model twice), and one OutboundMessage per part committed
before Twilio is called (a part with a sid is never sent again, and a part whose send was
interrupted by a crash is not resent blind).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from . import classify, context, metrics, notices, prompts, quota, replies
from .delivery import (
    OptedOut,
    SendFailed,
    new_message,
    plan,
    record_error,
    send_text,
    transmit,
)
from .extensions import db
from .llm import LLMError, get_llm_backend
from .models import (
    BOOKKEEPING_LOCK,
    DeliveryStatus,
    ErrorType,
    Task,
    TaskStatus,
    User,
    utcnow,
)
from .sms import SmsError, get_sms_backend

__all__ = ["OptedOut", "SendFailed", "TryAgain", "answer", "give_up", "send_notice", "send_text"]

log = logging.getLogger("sms_agent.pipeline")


class TryAgain(Exception):
    """A passing failure (timeout, 429, 5xx): the job retries after a backoff.

    `limit_key` names the config setting that caps the retries for this kind of failure."""

    def __init__(self, cause: LLMError | SmsError):
        super().__init__(str(cause))
        self.cause = cause
        self.limit_key = (
            "OPENAI_MAX_RETRIES" if isinstance(cause, LLMError) else "TWILIO_MAX_RETRIES"
        )


def claim(task_id) -> Task | None:
    """Move a task to processing, or None when it is done or another worker holds it.

    A task left in processing for STALE_TASK_SECONDS belonged to a worker that died, so it
    may be claimed again."""
    try:
        key = uuid.UUID(str(task_id))
    except ValueError:
        log.error("job for a malformed task id %r dropped", task_id)
        return None
    stale = utcnow() - timedelta(seconds=current_app.config["STALE_TASK_SECONDS"])
    claimable = sa.or_(
        Task.status == TaskStatus.QUEUED.value,
        sa.and_(Task.status == TaskStatus.PROCESSING.value, Task.updated_at < stale),
    )
    task = db.session.scalar(
        sa.update(Task)
        .where(Task.id == key, claimable)
        .values(status=TaskStatus.PROCESSING.value, updated_at=utcnow())
        .returning(Task)  # the claimed row comes back with the UPDATE: no second query
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    db.session.commit()
    if task is None:
        log.info("task %s not claimed (done, held by another worker, or unknown)", key)
        return None
    metrics.observe_queue_wait(task)
    return task


def answer(task_id) -> str:
    """Answer one task; returns what happened. Raises TryAgain for a passing failure."""
    with _kept_across_commits():
        return _claim_and_answer(task_id)


@contextlib.contextmanager
def _kept_across_commits():
    """Keep loaded rows after each commit instead of reading them all again.

    A claimed task belongs to this worker, so reloading it, its parts and its texter after
    every commit only costs round trips (a third of a job's CPU). What others may change
    meanwhile is handled on purpose: the texter's opt-out is read again before each send,
    and the activity counters are SQL increments."""
    session = db.session()
    expiring = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expiring
        session.expire_all()  # whoever uses the session next reads fresh rows again


def _reread_opt_out(user: User) -> None:
    """A STOP may have come in while the model was thinking: the webhook stores it in
    another transaction, so read it again right before sending anything."""
    db.session.refresh(user, ["opted_out_at"])


def _claim_and_answer(task_id) -> str:
    task = claim(task_id)
    if task is None:
        return "skipped"
    started = time.monotonic()
    try:
        return _answer_claimed(task, started)
    except (LLMError, SendFailed) as exc:
        cause = exc if isinstance(exc, LLMError) else exc.error
        if not cause.retryable:
            give_up(task.id, cause)
            return "failed"
        _release(task)
        raise TryAgain(cause) from exc
    except OptedOut:
        _finish_unsent(task, "the texter has opted out")
        return "opted_out"
    except Exception as exc:  # a bug or a database fault must not leave the task hanging
        db.session.rollback()
        log.exception("unexpected failure answering task %s", task.id)
        give_up(task.id, exc)
        return "failed"


def _answer_claimed(task: Task, started: float) -> str:
    user = task.user
    if not user.is_active or user.is_opted_out:
        _finish_unsent(task, "the texter is inactive" if not user.is_active else "opted out")
        return "not_sent"
    answered_now = task.ai_response is None
    if answered_now:
        _ask_model(task, user)  # committed with the first part, before Twilio sees it
    _deliver_reply(task, user, answered_now)
    # One commit records the last part's sid and the completion: fewer round trips per task.
    task.mark_completed(task.ai_response, processing_time=round(time.monotonic() - started, 3))
    db.session.commit()
    return "answered"


def _ask_model(task: Task, user: User) -> None:
    # Read the history before changing the task, so its query does not autoflush an UPDATE.
    history = context.history_messages(user, task)
    found = classify.classify(task.sms_content)
    task.category, task.complexity_score = found.category, round(found.complexity, 3)
    budget = quota.segment_budget(user.tier)
    messages = [{"role": "system", "content": prompts.system_prompt(task.category, budget)}]
    messages += history
    messages.append({"role": "user", "content": task.sms_content})
    backend = get_llm_backend()
    began = time.monotonic()
    completion = backend.complete(messages, prompts.max_tokens(budget))
    text = completion.text
    if completion.finish_reason == "length":
        text = replies.trim_to_sentence(text)
    if not replies.to_sms_text(text):
        raise LLMError(
            "the model returned an empty answer", error_type="openai_error", retryable=True
        )
    task.ai_response = text
    task.tokens_used = completion.tokens_used
    task.metadata_ = {
        **(task.metadata_ or {}),
        "backend": backend.name,
        "model": completion.model,
        "finish_reason": completion.finish_reason,
        "request_id": completion.request_id,
        "offline": completion.offline,
        "llm_seconds": round(time.monotonic() - began, 3),
        "context_turns": (len(messages) - 2) // 2,
    }


def _deliver_reply(task: Task, user: User, answered_now: bool) -> None:
    """Send the stored answer part by part, each committed as queued before Twilio sees it.
    The last part's outcome is left for the caller to commit with the task's completion."""
    backend = get_sms_backend()
    # Parts are only ever stored with an answer, so an answer made in this run has none yet.
    stored = (
        {} if answered_now else {m.part: m for m in task.outbound_messages if m.kind == "reply"}
    )
    texts = plan(user, task.ai_response)
    for number, text in enumerate(texts, start=1):
        message = stored.get(number)
        if message is not None and message.sid:
            continue
        if message is not None and message.status == DeliveryStatus.QUEUED.value:
            # Committed as about to be sent, then the worker died: Twilio may have it.
            log.warning("part %d of task %s may have been sent; not resent", number, task.id)
            continue
        if message is None:
            message = new_message(
                user, text, kind="reply", part=number, parts=len(texts), task=task
            )
            db.session.add(message)
        message.status, message.error_code, message.error_message = "queued", None, None
        db.session.commit()
        _reread_opt_out(user)
        try:
            transmit(message, user, backend)
        except BaseException:
            db.session.commit()  # the failed attempt is recorded before the retry decision
            raise
        if number < len(texts):
            db.session.commit()


def _release(task: Task) -> None:
    """Hand a task back to the queue before a retry, keeping what was recorded so far."""
    task.status = TaskStatus.QUEUED.value
    db.session.commit()


def _finish_unsent(task: Task, reason: str) -> None:
    task.mark_failed(reason)
    db.session.commit()
    log.info("task %s not answered: %s", task.id, reason)


def give_up(task_id, cause: BaseException) -> None:
    """Final failure: an ErrorLog of the right type, the task failed, and an apology SMS."""
    task = db.session.get(Task, uuid.UUID(str(task_id)))
    if task is None or task.status == TaskStatus.COMPLETED.value:
        return
    error_type = getattr(cause, "error_type", None)
    if isinstance(cause, SmsError):
        error_type = None  # each Twilio failure was logged when it happened
    elif error_type is None:
        error_type = _error_type_of(cause)
    if error_type:
        record_error(error_type, str(cause)[:2000], user=task.user, task=task, exc=cause)
    task.mark_failed(str(cause)[:500])
    db.session.commit()
    if not isinstance(cause, SmsError):
        _reread_opt_out(task.user)
        send_notice(task.user, "apology", task=task)


def _first_notice_for(user: User, inbound_sid: str) -> bool:
    """Record, before sending, that this SMS got its notice: at most one notice per SMS.

    service_state is read again under the row lock the webhook takes too, so a webhook of
    the same texter committing meanwhile cannot lose this sid, nor this commit theirs."""
    db.session.refresh(user, ["service_state"], with_for_update=BOOKKEEPING_LOCK)
    if not user.remember_sid("noticed_sids", inbound_sid):
        db.session.rollback()
        return False
    db.session.commit()
    return True


def _error_type_of(exc: BaseException) -> str:
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return ErrorType.DATABASE_ERROR
    return ErrorType.SYSTEM_ERROR


def send_notice(
    user: User, kind: str, task: Task | None = None, *, reply_to: str | None = None
) -> bool:
    """Send one of the service's notices (help, usage, quota...) and commit; False when it
    could not be sent (opted out, or Twilio refused, which is already logged) or was
    already sent in reply to the inbound SMS `reply_to` (a redelivered job)."""
    if reply_to and not _first_notice_for(user, reply_to):
        log.info("%s notice for %s already sent", kind, reply_to)
        return False
    try:
        send_text(user, notices.compose(kind, user), kind=kind, task=task)
    except OptedOut:
        log.info("%s notice not sent: opted out", kind)
        return False
    except SendFailed:
        return False
    finally:
        db.session.commit()
    return True
