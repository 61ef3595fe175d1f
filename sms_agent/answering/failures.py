"""When answering fails: a retry later, or giving up with an error log, the request given
back to the quota and an apology to the texter. Each commits: they are steps of the
pipeline's exactly-once record (see pipeline.py), not helpers for other callers."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa

from .. import handoff, notices, quota
from ..extensions import db
from ..models import ErrorType, RefusalReason, Task, TaskStatus, reread_opt_out
from ..ops.error_log import record_error
from ..vendors.openai import LLMError
from ..vendors.twilio import SmsError

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


def release(task: Task) -> None:
    """Hand a task back to the queue before a retry, keeping what was recorded so far."""
    task.status = TaskStatus.QUEUED.value
    db.session.commit()


def finish_unsent(
    task: Task, reason: str, give_back: bool = True, partly_sent: bool = False
) -> None:
    """The task ends with nothing sent; its request goes back to the quota unless
    `give_back` is False (the model was asked and paid for at the texter's request). An
    answer made but refused before its first part went out (the texter opted out, or their
    WhatsApp window closed, meanwhile) is not on record as sent, unless `partly_sent`."""
    task.mark_failed(reason)
    if not partly_sent:
        _forget_as_sent(task)
    if give_back:
        quota.give_back(task)
    db.session.commit()
    log.info("task %s not answered: %s", task.id, reason)


#: The metadata pipeline._deliver_reply keeps with an answer about to go out.
AS_SENT = frozenset({"sent", "more", "more_channel"})


def _forget_as_sent(task: Task) -> None:
    """Nothing of the answer went out: the metadata must not keep it as what the texter
    was sent and MORE sends next (their own token reads the metadata; the answer is
    staff's to read). Written only when it holds any."""
    meta = task.metadata_ or {}
    if AS_SENT & meta.keys():
        task.metadata_ = {key: value for key, value in meta.items() if key not in AS_SENT}


def hold_for_staff(task: Task) -> None:
    """Staff took the conversation over while the model was answering: the answer is not
    sent (the AI stays out of a conversation staff hold) but kept on the task for them, and
    the text waits for staff as one that came after the takeover would: refused
    `held_for_staff`, its request given back, one more unread."""
    task.status = TaskStatus.REFUSED.value
    task.refusal_reason = RefusalReason.HELD_FOR_STAFF.value
    task.success = False
    _forget_as_sent(task)
    quota.give_back(task)
    handoff.hold_text(task.user)
    db.session.commit()
    log.info("task %s held for staff: they took the conversation over", task.id)


def give_up(task_id, cause: BaseException) -> None:
    """Final failure: an ErrorLog of the right type, the task failed, and an apology SMS."""
    task = db.session.get(Task, uuid.UUID(str(task_id)))
    if task is None or task.status == TaskStatus.COMPLETED.value:
        return
    if isinstance(cause, SmsError):
        error_type = None  # each Twilio failure was logged when it happened
    else:
        error_type = _error_type_of(cause)
    task.mark_failed(str(cause)[:500])
    quota.give_back(task)
    if error_type:  # last: see record_error
        record_error(error_type, str(cause)[:2000], user=task.user, task=task, exc=cause)
    db.session.commit()
    if not isinstance(cause, SmsError):
        reread_opt_out(task.user)
        notices.send_notice(task.user, "apology", task=task)
        db.session.commit()


def refuse_media(task: Task, problem: Exception) -> None:
    """A picture or voice note could not be used (sms_agent/media/read.py): an ErrorLog,
    the task failed, its request given back, and a notice that says what went wrong
    instead of an apology that invites the texter to send it again."""
    task.mark_failed(str(problem)[:500])
    quota.give_back(task)
    log_media_problem(task, problem)  # last, after the task's move and the transcription's cost
    db.session.commit()
    reread_opt_out(task.user)
    notices.send_notice(task.user, problem.notice, task=task)
    db.session.commit()


def log_media_problem(task: Task, problem: Exception) -> None:
    """Staff's ErrorLog for an attachment that could not be used, whether the text failed
    with it or the rest was answered (a rotated TWILIO_AUTH_TOKEN shows either way). The
    transaction's last write: see record_error."""
    record_error(problem.error_type, str(problem)[:2000], user=task.user, task=task, exc=problem)


def _error_type_of(exc: BaseException) -> str:
    """Ours (an LLMError's, say) when the error names one; a library's own `error_type`
    (redis-py's ExceptionType.NETWORK) is none of ours and would fail the ErrorLog."""
    named = getattr(exc, "error_type", None)
    if named in ErrorType.values():
        return named
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return ErrorType.DATABASE_ERROR
    return ErrorType.SYSTEM_ERROR
