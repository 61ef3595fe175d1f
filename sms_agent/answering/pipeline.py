"""Answering a stored task: claim it, ask the model, send the answer, handle failures.

Exactly-once is built from three facts kept in the database: the claim (a conditional UPDATE
from queued to processing, so two workers never both work on a task), the stored answer
(a redelivered job never asks the model twice), and one OutboundMessage per part committed
before Twilio is called (a part with a sid is never sent again, and a part whose send was
interrupted by a crash is not resent blind). That is why the pipeline, unlike the rest of
the domain, commits in steps: the claim with the first reads, before the model call (which
must hold no database connection), with the answer and each part before it is sent, and with the
completion or failure. Everything else leaves the commit to its caller.

A reply whose sending slot (TWILIO_MPS) is far off is not slept for: the answer is
committed with the slots booked for it, the task goes back to the queue, and the job runs
again shortly before the slot (SendLater; outbound/slots.py), so the worker answers other
texters meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta

import sqlalchemy as sa

from .. import costs, notices, outbound, program_notice
from ..extensions import DATABASE_BUSY, db
from ..media.read import (
    BeingRead,
    MediaProblem,
    attachments_of,
    has_cut_voice_notes,
    has_unheard_voice_notes,
    has_unread_files,
    read_media,
    unopened_pictures,
    words_of,
)
from ..models import AnsweredElsewhere, Task, TaskStatus, User, texter_of, utcnow
from ..vendors.openai import LLMError
from . import spoken
from .ask import ask_model, reply_kind
from .claim import begin_claim, claim, kept_across_commits, renew_claim
from .completion import mark_completed
from .failures import (
    TryAgain,
    finish_unsent,
    give_up,
    hold_for_staff,
    log_media_problem,
    refuse_media,
    release,
)

__all__ = ["TryAgain", "answer", "claim", "give_up"]

log = logging.getLogger("sms_agent.pipeline")

#: Where a deferred task keeps the sending slots booked for its reply.
SLOTS_KEY = "slots"


def answer(task_id, last_try: bool = False) -> str:
    """Answer one task; returns what happened. Raises TryAgain for a passing failure,
    outbound.SendLater when the reply's sending slot is far off (the task is deferred), and
    DATABASE_BUSY when no pooled connection came free in time or the database refused or
    dropped one (nothing is lost: the job runs again later). On the job's `last_try`, which
    no retry of the model's failures follows, a voice note that cannot be transcribed is
    left out and the rest answered (media.read.read_media)."""
    with kept_across_commits():
        try:
            return _claim_and_answer(task_id, last_try)
        except AnsweredElsewhere as exc:
            return _answered_elsewhere(exc)


def _claim_and_answer(task_id, last_try: bool) -> str:
    task = begin_claim(task_id)  # committed with the first reads (claim.py)
    if task is None:
        return "skipped"
    key, started = task.id, time.monotonic()
    try:
        with outbound.replying_on(task.user_phone, outbound.written_to(task)):
            return _answer_claimed(task, started, last_try)
    except outbound.SendLater as later:
        defer(task, later)
        raise
    except (LLMError, outbound.SendFailed) as exc:
        cause = exc if isinstance(exc, LLMError) else exc.error
        if not cause.retryable:
            give_up(task.id, cause)
            return "failed"
        release(task)
        raise TryAgain(cause) from exc
    except MediaProblem as exc:
        refuse_media(task, exc)  # commits the media rows too: staff see which one failed
        return "failed"
    except BeingRead as exc:
        # The run the sweeper took the task from is still reading: it answers the texter.
        db.session.rollback()
        log.info("%s; this run stops", exc)
        return "skipped"
    except outbound.OutsideWindow as exc:
        finish_unsent(task, str(exc), partly_sent=_reply_went_out(task))
        return "not_sent"
    except outbound.OptedOut:
        # The answer was written and paid for: a request given back here let a texter
        # ask, send STOP before the reply, START again and ask again, for free and without
        # end (only the spend caps stopped it).
        gone = _reply_went_out(task)
        finish_unsent(task, "the texter has opted out", give_back=False, partly_sent=gone)
        return "opted_out"
    except outbound.HeldByStaff:
        hold_for_staff(task)
        return "held"
    except outbound.CountryNotAllowed as exc:
        finish_unsent(task, str(exc))  # the ErrorLog is committed with it
        return "not_sent"
    except DATABASE_BUSY:
        # An overload or an outage, which passes. The task goes back to the queue if a
        # connection frees up, else the sweeper finds it; a model call it paid for first
        # goes back into the spend with it (the retry asks the model again).
        db.session.rollback()
        with contextlib.suppress(*DATABASE_BUSY):
            costs.keep_paid_calls()
            release(task)
        raise
    except AnsweredElsewhere:
        raise  # nothing of this run's answer was stored (answer() ends the run)
    except Exception as exc:  # a bug or a database fault must not leave the task hanging
        db.session.rollback()
        if db.session.scalar(sa.select(Task.id).where(Task.id == key)) is None:
            return _deleted_meanwhile(key)
        log.exception("unexpected failure answering task %s", key)
        costs.keep_paid_calls()  # committed with the failure
        give_up(key, exc)
        return "failed"


def _reply_went_out(task: Task) -> bool:
    """Whether Twilio took a part of the task's answer (before a STOP, or in an earlier run
    of the job): read only when the answer was refused."""
    kind = reply_kind(task)
    # Unflushed: its parts are committed before Twilio sees them, and the task's failure is
    # to be written before the model call its answer cost (tests/write_order.py).
    with db.session.no_autoflush:
        return any(message.kind == kind and message.sid for message in task.outbound_messages)


def _answered_elsewhere(exc: AnsweredElsewhere) -> str:
    """This run stalled past STALE_TASK_SECONDS and the task's next run answered first
    (models/answered_once.py): the texter has that answer, so this one is not sent. Its
    model calls were paid for, so they stay in the spend."""
    db.session.rollback()
    if db.session.scalar(sa.select(Task.id).where(Task.id == exc.task_id)) is None:
        return _deleted_meanwhile(exc.task_id)
    costs.keep_paid_calls()
    db.session.commit()
    log.warning("%s; this run's answer is not sent", exc)
    return "skipped"


def _deleted_meanwhile(key) -> str:
    """The task was deleted while it was answered (its texter was deleted, by the API or
    the admin): there is nobody left to answer, and the model calls made for it were paid
    for, so they stay in the spend."""
    costs.keep_paid_calls()
    db.session.commit()
    log.info("task %s was deleted while it was answered; not answered", key)
    return "deleted"


def _answer_claimed(task: Task, started: float, last_try: bool) -> str:
    user = texter_of(task)
    if not user.is_active or user.is_opted_out:
        finish_unsent(task, "the texter is inactive" if not user.is_active else "opted out")
        return "not_sent"
    answered_now = task.ai_response is None
    if answered_now:
        # A number we may not text is not worth a model call, nor is a WhatsApp texter
        # whose 24-hour window closed before this job ran (a backlog, a worker outage).
        outbound.check_destination(user, task)
        outbound.check_window(user)
        if attachments_of(task):
            # The claim is committed first: a run that finds an attachment still being read
            # by the run it took over from stops, and leaves the task claimed by its own.
            db.session.commit()
            # Holds no connection through downloads, as ask_model.
            media = read_media(task, last_try)
            renew_claim(task)  # the model's wait starts the stale clock, not the reading's
            for problem in media.unread:  # the rest is answered; staff still learn why
                log_media_problem(task, problem)
            db.session.commit()  # a retried job reuses what was fetched and transcribed
            if spoken.says_stop(task, media):
                return spoken.obey_stop(task, media)
            ask_model(task, user, media)
        else:
            ask_model(task, user)  # committed with the first part, before Twilio sees it
    _deliver_reply(task, user, answered_now)
    # One commit records the last part's sid and the completion: fewer round trips per task.
    mark_completed(task, processing_time=round(time.monotonic() - started, 3))
    db.session.commit()
    return "answered"


def _deliver_reply(task: Task, user: User, answered_now: bool) -> None:
    """Send the stored answer; outbound.send commits in steps, because each part must be on
    record as about to be sent before Twilio sees it. The last part's outcome is committed
    by the caller with the task's completion, one round trip fewer per task.

    What the texter reads (`sent`, the context of later questions) and what MORE sends next
    (`more`, shaped for `more_channel`) ride on the task's metadata in the same commit as
    the first part. A new number's first answer comes after the carriers' program notice,
    sent once, in the first of the slots booked for both; slots too far off raise
    SendLater (outbound/slots.py). A file we do not read that came with the text gets its
    note just before the answer, once the answer is there to follow it."""
    # The model may have asked for a person (the answer is the acknowledgement) or declined.
    kind = reply_kind(task)
    # Shaped for what the texter asked, also by voice ("what does <br> do?" keeps its tags).
    shaped = outbound.plan(user, task.ai_response, question=words_of(task), more=True)
    meta = task.metadata_ or {}
    booked = meta.get(SLOTS_KEY)
    kept = {"sent": shaped.sent, "more": shaped.rest, "more_channel": outbound.channel_of(user)}
    if any(meta.get(key) != value for key, value in kept.items()) or booked is not None:
        others = {key: value for key, value in meta.items() if key != SLOTS_KEY}
        task.metadata_ = {**others, **kept}
    notice = program_notice.due(user)
    note = _note_on_attachments(task)
    slots = outbound.book(user, len(shaped.parts) + notice + bool(note), booked, task=task)
    if notice:
        notices.send_program_notice_once(user, task, slots)
    if note:  # once per text, as from the webhook: a retried job does not send it again
        notices.send_notice(user, note, task, reply_to=task.message_sid, slots=slots)
    outbound.send(
        user,
        shaped,
        kind=kind,
        task=task,
        # Parts are only ever stored with an answer, so an answer made in this run has none.
        resume=not answered_now,
        slots=slots,
        unless_staff_hold=True,
    )


def _note_on_attachments(task: Task) -> str | None:
    """The note sent before the answer on what of the text was left out (one notice per
    text): a picture that could not be opened (naming every attachment left unread), else a
    file we do not read, else a voice note with no words heard, else one whose transcript
    was too long to ask whole."""
    if unopened_pictures(task):
        return "picture_note"
    if has_unread_files(task):
        return "media_note"
    if has_unheard_voice_notes(task):
        return "voice_note"
    return "voice_cut" if has_cut_voice_notes(task) else None


def defer(task: Task, later: outbound.SendLater) -> None:
    """Commit the answer with the slots booked for it and hand the task back to the queue
    until then. Its clock (lease_at) is set to the first slot, so the sweeper leaves it alone until
    STALE_TASK_SECONDS after it (the job that sends it is already waiting in the broker)."""
    task.metadata_ = {**(task.metadata_ or {}), SLOTS_KEY: later.booking}
    task.status = TaskStatus.QUEUED.value
    task.lease_at = utcnow() + timedelta(seconds=later.wait)
    db.session.commit()
    log.info("task %s answered; its reply waits %.1fs for a sending slot", task.id, later.wait)
