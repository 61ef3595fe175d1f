"""Celery jobs: they take ids, call one domain function, commit, and own only retry policy.

Answering a task and sending a notice come from the webhook and the API; sweeping stranded
tasks, rolling quota windows and fetching Twilio's prices come from beat. Notices to many
texters at once (notices.BULK) are spread over time and wait in a queue of their own
(enqueue_bulk_notices), so they never stand between a texter and an answer.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from typing import NamedTuple

import sqlalchemy as sa
from celery import shared_task
from flask import current_app
from kombu.exceptions import KombuError
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm.exc import ObjectDeletedError

from . import costs, handoff, inbound, limits, more, notices, outbound, quota
from .answering import pipeline, spoken
from .answering.claim import kept_across_commits
from .extensions import DATABASE_BUSY, db
from .inbound import store
from .media import retention
from .media.read import BeingRead, read_for_staff
from .models import PendingNotice, Task, User
from .ops import metrics, sweeper
from .phones import mask
from .vendors import publishing
from .worker import BULK_QUEUE

log = logging.getLogger("sms_agent.jobs")


def backoff(retries: int) -> float:
    """Seconds before retry number `retries + 1`: RETRY_BACKOFF_SECONDS doubled each time."""
    return current_app.config["RETRY_BACKOFF_SECONDS"] * (2**retries)


def retry_wait(retries: int, cause) -> float | None:
    """Seconds before retry number `retries + 1` of a passing failure: backoff(), or as
    long as the server said to wait, if longer; None when it said to wait past
    MAX_SERVER_WAIT_SECONDS (LLMError.waits_too_long: the job gives up)."""
    if getattr(cause, "waits_too_long", False):
        return None
    return max(backoff(retries), getattr(cause, "retry_after", None) or 0.0)


#: The longest a job waits for a busy database before it looks again.
MAX_BUSY_WAIT_SECONDS = 60.0


def busy_wait(busy: int) -> float:
    """Seconds before a job the database could not serve `busy` times in a row runs again:
    backoff() doubling up to MAX_BUSY_WAIT_SECONDS, each wait a random 50-100% of that, so
    the thousands of jobs an outage holds back neither knock at once nor every two seconds."""
    ceiling = min(backoff(min(busy, 30)), MAX_BUSY_WAIT_SECONDS)
    return ceiling * random.uniform(0.5, 1.0)


@shared_task(bind=True, acks_late=True, max_retries=None, name="sms_agent.jobs.answer_task")
def answer_task(self, task_id: str, busy: int = 0, sent: dict[str, list[str]] | None = None) -> str:
    """Answer one stored task. A passing failure is retried with exponential backoff up to
    OPENAI_MAX_RETRIES (AI) or TWILIO_MAX_RETRIES (sending), then given up on; a busy
    database only delays the job (`busy` counts the delays, see busy_wait), and `sent`
    carries the sids Twilio gave its parts meanwhile, which the database may not have
    stored (outbound.sids_given)."""
    outbound.keep_given(sent)
    # The model's failures are retried up to OPENAI_MAX_RETRIES times: past it, a voice note
    # that cannot be transcribed is left out, and the words beside it answered.
    last_try = self.request.retries >= current_app.config["OPENAI_MAX_RETRIES"]
    try:
        return pipeline.answer(task_id, last_try)
    except outbound.SendLater as later:
        # Not a retry: the answer is stored, only its sending slot is ahead.
        _run_later(later, answer_task, task_id, retries=self.request.retries)
        return "deferred"
    except DATABASE_BUSY as exc:
        # The pool or the database could not serve the job: nothing failed, it runs later.
        wait = busy_wait(busy)
        log.warning(
            "task %s: database busy or unreachable (%s); runs again in %.1fs",
            task_id,
            type(exc).__name__,
            wait,
        )
        _publish(
            answer_task,
            task_id,
            countdown=wait,
            retries=self.request.retries,
            kwargs={
                "busy": busy + 1,
                **({"sent": given} if (given := outbound.sids_given()) else {}),
            },
        )
        return "busy"
    except pipeline.TryAgain as exc:
        wait = retry_wait(self.request.retries, exc.cause)
        if wait is None or self.request.retries >= current_app.config[exc.limit_key]:
            pipeline.give_up(task_id, exc.cause)
            return "failed"
        log.warning("task %s: %s; retry %d in %.1fs", task_id, exc, self.request.retries + 1, wait)
        raise self.retry(countdown=wait) from exc


@shared_task(acks_late=True, max_retries=None, name="sms_agent.jobs.receive_inbound")
def receive_inbound(form: dict[str, str], busy: int = 0, counted: bool = False) -> str:
    """Store a text the web process took while the database could not (receive_later), as
    the webhook would have, then queue what it needs next. The database still away, it
    runs again later (`busy` counts the delays, see busy_wait); a MessageSid stored
    meanwhile makes it a duplicate, as any retry of a webhook is. Returns the outcome
    (never the text: the worker logs what a job returns). `counted`: the web process had
    counted it against the sender's rate, which must not count it again."""
    if counted:
        limits.note_counted(form.get("MessageSid"))
    try:
        received = inbound.receive_and_commit(form)
    except (*DATABASE_BUSY, inbound.ConcurrentDeliveries) as exc:
        db.session.rollback()
        wait = busy_wait(busy)
        log.warning(
            "inbound %s: database still unavailable (%s); stored in %.1fs",
            form.get("MessageSid"),
            type(exc).__name__,
            wait,
        )
        shown = (form.get("MessageSid"),)
        again = {"busy": busy + 1, **_counted(form)}
        _publish(receive_inbound, form, countdown=wait, kwargs=again, shown=shown)
        return "busy"
    except inbound.BadInbound as exc:  # checked by the webhook already; kept as it would be
        db.session.rollback()
        log.warning("inbound %s not stored: %s", form.get("MessageSid"), exc)
        return "bad"
    follow_up(received)
    return received.outcome


def receive_later(form: dict[str, str]) -> bool:
    """The web process could not reach the database with a signed text: it goes to the
    broker instead, and a worker stores it once the database is back (receive_inbound).
    Twilio does not send a webhook again after an error, so a 500 would lose the text.
    False when the broker cannot take it either. The job's display in logs and the
    broker's headers names the MessageSid only, never the texter or the text."""
    return _publish(receive_inbound, form, kwargs=_counted(form), shown=(form.get("MessageSid"),))


@shared_task(acks_late=True, max_retries=None, name="sms_agent.jobs.record_status")
def record_status(report: dict[str, str | None], busy: int = 0) -> str:
    """Apply a delivery report the web process took while the database could not
    (record_status_later), as the webhook would have; the database still away, it runs
    again later (`busy` counts the delays, see busy_wait). A report applied twice changes
    nothing the first did not (outbound.record_delivery_status)."""
    try:
        outbound.record_delivery_status(**report)
        db.session.commit()
    except DATABASE_BUSY as exc:
        db.session.rollback()
        wait = busy_wait(busy)
        sid = report.get("sid")
        log.warning(
            "status of %s: database still unavailable (%s); applied in %.1fs",
            sid,
            type(exc).__name__,
            wait,
        )
        _publish(record_status, report, countdown=wait, kwargs={"busy": busy + 1}, shown=(sid,))
        return "busy"
    return "applied"


def record_status_later(report: dict[str, str | None]) -> bool:
    """The web process could not reach the database with a signed delivery report: it goes
    to the broker, as a text does (receive_later), since Twilio does not send a report
    again after an error. False when the broker cannot take it either."""
    return _publish(record_status, report, shown=(report.get("sid"),))


def _counted(form: dict[str, str]) -> dict[str, bool]:
    """receive_inbound's `counted`, when the text was counted against the sender's rate in
    this request or job (limits.counted): the storage it counts in is not rolled back."""
    return {"counted": True} if limits.counted(form.get("MessageSid")) else {}


def follow_up(received: inbound.Received) -> None:
    """What a text needs once the commit that stored it is done: counted, and its answer,
    its pictures for staff or its notice queued."""
    metrics.count_inbound(received.outcome)
    if received.task_id is not None:
        enqueue_answer(received.task_id)
    if received.held_media is not None:
        enqueue_held_media(received.held_media)
    if received.notice:
        enqueue_notice(received.phone, received.notice, received.sid, sender=received.our_number)


@shared_task(acks_late=True, name="sms_agent.jobs.read_held_media")
def read_held_media(task_id: str) -> None:
    """Fetch the pictures and transcribe the voice notes of a text held for staff, so its
    conversation shows them."""
    task = db.session.get(Task, uuid.UUID(task_id))
    if task is None:
        return
    with kept_across_commits():
        try:
            read_for_staff(task)
        except BeingRead:  # a second job for it (the sweep's): the first one reads them
            db.session.rollback()
            return
        db.session.commit()
        spoken.obey_held_stop(task)


@shared_task(acks_late=True, name="sms_agent.jobs.send_notice")
def send_notice(
    phone: str,
    kind: str,
    reply_to: str | None = None,
    booking: dict | None = None,
    sender: str | None = None,
    busy: int = 0,
) -> bool:
    """Send a service notice (help, usage, quota, media, opt_in, opt_out, reset,
    tier_change...) or the next part of a cut answer (more) to a texter, once per inbound
    SMS (or tier change) `reply_to`, from `sender`, the number of ours that SMS was written
    to (None: TWILIO_PHONE_NUMBER). Its sending slots are booked first; when they are far
    off, the job runs again shortly before them with the `booking`. A database away runs
    it again later (`busy` counts the delays, see busy_wait): nothing else keeps a notice."""
    try:
        return _notify(phone, kind, reply_to, booking, sender)
    except DATABASE_BUSY as exc:
        db.session.rollback()
        if record_sids_later():
            return True  # sent: only its sid waits for the database
        wait = busy_wait(busy)
        log.warning(
            "notice %s: database busy or unreachable (%s); runs again in %.1fs",
            kind,
            type(exc).__name__,
            wait,
        )
        again = {**(_sender(sender) or {}), "booking": booking, "busy": busy + 1}
        args = (phone, kind, reply_to)
        _publish(send_notice, *args, countdown=wait, queue=_queue_for(kind), kwargs=again)
        return False


def _notify(
    phone: str, kind: str, reply_to: str | None, booking: dict | None, sender: str | None
) -> bool:
    user = db.session.get(User, phone)
    if user is None:
        # The texter was deleted after the notice was queued: nobody is left to tell.
        log.info("notice %s dropped: the texter no longer exists", kind)
        return False
    if not user.is_active and kind != outbound.OPT_OUT_CONFIRMATION:
        # Staff made them inactive after it was queued (a keyword's notice, a bulk tier
        # change): an inactive texter is sent nothing but the confirmation of their STOP.
        log.info("notice %s dropped: the texter is inactive", kind)
        if kind == "more":
            more.release(user, reply_to)
            db.session.commit()
        return False
    # On the channel of the text it answers, even if the texter wrote on the other since.
    with outbound.replying_on(phone, sender):
        return _send_notice(user, kind, reply_to, booking, sender)


def record_sids_later() -> bool:
    """The database failed after Twilio took a message (the write of its sid timed out, the
    connection dropped before the commit): its sid goes to the broker, as a delivery report
    the web process could not store does (record_status_later), and is stored once the
    database answers; without it the row stayed queued, unpriced and unknown to staff. A
    notice's job is not run again for it: the notice is on record as sent (its reply_to),
    and a run again would send nothing. False when Twilio took nothing."""
    given = outbound.sids_given()
    for message_id, (sid, status) in given.items():
        record_status_later({"sid": sid, "twilio_status": status, "reference": message_id})
    if given:
        log.warning(
            "the database failed after Twilio took %d messages: sids stored later", len(given)
        )
    return bool(given)


@contextlib.contextmanager
def sids_stored_later():
    """Around a staff member's send in a web request: the database failing after Twilio
    took the message (record_sids_later) still fails the request (a retry with the same
    submission key sends nothing), but the sid is stored later."""
    try:
        yield
    except DATABASE_BUSY:
        db.session.rollback()
        record_sids_later()
        raise


def _send_notice(
    user: User, kind: str, reply_to: str | None, booking: dict | None, sender: str | None
) -> bool:
    phone = user.phone_number  # read before the rollback below expires it
    try:
        slots = outbound.book(user, notices.messages_for(user), booking, sender=sender)
    except outbound.SendLater as later:
        db.session.rollback()
        queue = _queue_for(kind)
        args = (phone, kind, reply_to, later.booking)
        _run_later(later, send_notice, *args, queue=queue, kwargs=_sender(sender))
        return False
    try:
        if kind == "more":
            sent = more.send_more(user, reply_to, slots, sender=sender)
        else:
            sent = notices.send_notice(user, kind, reply_to=reply_to, slots=slots, sender=sender)
    except more.AnswerUnderWay:
        # Its next run sends in the slots booked now, passed on (past by then, so at once):
        # booking new ones at each look took a sending slot every few seconds from others.
        log.info("MORE %s waits for the answer being made", reply_to)
        kept = slots.booking if slots is not None else None
        again = {**(_sender(sender) or {}), "booking": kept}
        if not _run_in(more.WAIT_SECONDS, send_notice, phone, kind, reply_to, kwargs=again):
            enqueue_notice(phone, kind, reply_to, sender=sender)  # kept for the sweeper
        return False
    except (NoResultFound, ObjectDeletedError):
        # Staff deleted the texter since it was read: its row is gone when it is read again
        # under the lock, and nobody is left to text.
        db.session.rollback()
        log.info("notice %s dropped: the texter was deleted meanwhile", kind)
        return False
    db.session.commit()
    return sent


@shared_task(name="sms_agent.jobs.sweep_stale_tasks", ignore_result=True)
def sweep_stale_tasks() -> int:
    """Enqueue again the tasks a broker outage or a killed worker left behind."""
    task_ids = sweeper.claim_stranded()
    db.session.commit()  # their clocks restart before their jobs exist
    for task_id in task_ids:
        enqueue_answer(task_id)
    if task_ids:
        log.warning("re-enqueued %d stale tasks", len(task_ids))
    _queue_pending_notices()
    for task_id in sweeper.unread_held_media():
        enqueue_held_media(task_id)
    return len(task_ids)


def _queue_pending_notices() -> None:
    """Queue the notices webhooks kept while the broker was down; one that fails again
    stays, with the rest, for the next sweep. Bulk ones are spread over the bulk lane again
    from now, as enqueue_bulk_notices spreads them: their times were lost with the publish,
    and a thousand tier-change notices queued at once booked every sending slot for the
    next quarter hour, ahead of every answer and STOP confirmation."""
    pending = sweeper.pending_notices()
    bulk = [notice for notice in pending if notice.kind in notices.BULK]
    runs = dict(
        zip(
            (notice.id for notice in bulk),
            _spread([db.session.get(User, notice.phone) for notice in bulk]),
            strict=True,
        )
    )
    queued = 0
    for notice in pending:
        args = (notice.phone, notice.kind, notice.reply_to)
        queue, sender = _queue_for(notice.kind), _sender(notice.sender)
        countdown = runs.get(notice.id)
        if not _publish(send_notice, *args, countdown=countdown, queue=queue, kwargs=sender):
            break
        db.session.delete(notice)
        queued += 1
    db.session.commit()
    if queued:
        log.warning("queued %d notices kept while the broker was down", queued)


@shared_task(name="sms_agent.jobs.roll_quota_windows", ignore_result=True)
def roll_quota_windows() -> int:
    """Start a new window for users whose window ended while they were not texting."""
    rolled = quota.roll_expired_windows()
    db.session.commit()
    if rolled:
        log.info("started a new quota window for %d users", rolled)
    return rolled


@shared_task(name="sms_agent.jobs.release_idle_conversations", ignore_result=True)
def release_idle_conversations() -> int:
    """Give back to the AI the conversations no staff member replied to for
    HANDOFF_IDLE_MINUTES, and tell each texter once."""
    owed = handoff.release_idle()
    db.session.commit()
    phones = [texter.phone for texter in owed]
    for texter in owed:
        if texter.anything:
            # Told before their answer, on its queue: a bulk notice may wait behind others.
            enqueue_notice(texter.phone, "handoff_ended", "HE" + uuid.uuid4().hex, ahead=True)
            texter.enqueue()
    untold = [texter.phone for texter in owed if not texter.anything]
    released = (
        db.session.scalars(sa.select(User).where(User.phone_number.in_(untold))).all()
        if untold
        else []
    )
    enqueue_bulk_notices(released, "handoff_ended", "HE")
    if phones:
        log.info("%d conversations went back to the AI after no staff reply", len(phones))
    return len(phones)


@shared_task(name="sms_agent.jobs.forget_old_pictures", ignore_result=True)
def forget_old_pictures() -> int:
    """Drop the bytes of texters' pictures past MEDIA_RETENTION_DAYS, and the local media
    store's files as old (media/retention.py)."""
    forgotten = retention.forget_old_pictures()
    db.session.commit()
    if forgotten:
        log.info("dropped the bytes of %d pictures past MEDIA_RETENTION_DAYS", forgotten)
    if pruned := retention.prune_local_store():
        log.info("deleted %d files of the local media store past MEDIA_RETENTION_DAYS", pruned)
    return forgotten


@shared_task(name="sms_agent.jobs.forget_old_handled_messages", ignore_result=True)
def forget_old_handled_messages() -> int:
    """Forget the MessageSids of texts handled without a task (keywords, deleted tasks) past
    HANDLED_MESSAGES_RETENTION_DAYS (inbound/store.py)."""
    forgotten = store.forget_old_handled()
    db.session.commit()
    if forgotten:
        log.info("forgot %d MessageSids past HANDLED_MESSAGES_RETENTION_DAYS", forgotten)
    return forgotten


@shared_task(name="sms_agent.jobs.fetch_sms_prices", ignore_result=True)
def fetch_sms_prices() -> int:
    """Replace the estimates of final messages with Twilio's prices, a batch per run; what
    Twilio has not priced yet, or could not answer for, is asked again on a later run."""
    priced = costs.fetch_prices()
    db.session.commit()
    if priced:
        log.info("Twilio priced %d messages", priced)
    return priced


def _publish(
    job,
    *args,
    countdown: float | None = None,
    retries: int = 0,
    queue: str | None = None,
    kwargs: dict | None = None,
    shown: tuple | None = None,
) -> bool:
    """Publish a job (to Celery's default queue unless `queue` says) without ever failing
    the caller: the row is already committed, so a broker outage only delays it until the
    sweeper enqueues it again. `shown`: what logs show of the arguments, when not they."""
    try:
        publishing.publish(
            job,
            args,
            kwargs,
            countdown=countdown,
            retries=retries,
            queue=queue,
            **_shown_arguments(args if shown is None else shown, kwargs),
        )
    except (KombuError, OSError) as exc:
        log.error("could not enqueue %s%r: %s", job.name, args if shown is None else shown, exc)
        return False
    except Exception:  # a misconfigured broker must not turn a stored SMS into a 500
        log.exception("could not enqueue %s%r", job.name, args)
        return False
    return True


def _shown_arguments(args: tuple, kwargs: dict | None) -> dict:
    """The arguments' display in the worker's log, given rather than worked out by Celery
    on every publish (a reprlib walk; ours are a few short strings, which repr shows the
    same). The queue is not declared either (vendors/publishing.py): that binds copies of
    the queue and exchange to the channel each time, to learn from a cache that they were
    declared; a Redis broker needs no declaration to deliver to a queue, and the worker
    declares the queues it consumes."""
    return {"argsrepr": repr(args), "kwargsrepr": repr(kwargs or {})}


def _run_later(
    later: outbound.SendLater,
    job,
    *args,
    retries: int = 0,
    queue: str | None = None,
    kwargs: dict | None = None,
) -> None:
    """Run `job` again shortly before its sending slot."""
    _run_in(later.countdown, job, *args, retries=retries, queue=queue, kwargs=kwargs)


def _run_in(
    countdown: float,
    job,
    *args,
    retries: int = 0,
    queue: str | None = None,
    kwargs: dict | None = None,
) -> bool:
    """Run `job` again in `countdown` seconds, for what it waits for (a sending slot, an
    answer being made); False when the broker could not take it. Jobs run eagerly
    (CELERY_TASK_ALWAYS_EAGER, for debugging) ignore a countdown, and one run at once would
    find nothing changed and run itself again without end: the wait happens here then, the
    one place a job's own wait does."""
    if current_app.config["CELERY_TASK_ALWAYS_EAGER"]:
        time.sleep(countdown)
    return _publish(job, *args, countdown=countdown, retries=retries, queue=queue, kwargs=kwargs)


def _queue_for(kind: str) -> str | None:
    """Bulk notices wait in a queue of their own, never in front of a conversation's jobs."""
    return BULK_QUEUE if kind in notices.BULK else None


def enqueue_answer(task_id) -> None:
    """Queue the job that answers a stored task; call only after the commit that stored it."""
    _publish(answer_task, str(task_id))


def enqueue_held_media(task_id) -> None:
    """Queue the job that fetches a held text's pictures; call after the commit that stored it."""
    _publish(read_held_media, str(task_id))


def enqueue_notice(
    phone: str,
    kind: str,
    reply_to: str | None = None,
    countdown: float | None = None,
    sender: str | None = None,
    ahead: bool = False,
) -> None:
    """Queue a notice SMS, so the webhook never waits for Twilio's REST API; `sender` is the
    number of ours the texter wrote to (Twilio's To), which the notice goes out from. Call
    after the commit that gave cause: a notice the broker cannot take is stored (and
    committed) for the sweeper. `ahead`: on the conversation's queue whatever its kind,
    ahead of the answer queued next."""
    queue = None if ahead else _queue_for(kind)
    if not _publish(
        send_notice, phone, kind, reply_to, countdown=countdown, queue=queue, kwargs=_sender(sender)
    ):
        # The broker is down: the notice is kept for the sweeper, as a stored task is.
        db.session.add(PendingNotice(phone=phone, kind=kind, reply_to=reply_to, sender=sender))
        try:
            db.session.commit()
        except sa.exc.SQLAlchemyError as exc:  # the database too: the webhook still answers
            db.session.rollback()
            log.error("notice %s to %s lost, database unreachable: %s", kind, mask(phone), exc)


def _sender(sender: str | None) -> dict | None:
    """The sender as a keyword argument, only when known: a notice with none (bulk ones,
    tier changes) is queued exactly as before there was one."""
    return {"sender": sender} if sender else None


class BulkNotices(NamedTuple):
    """How many texters a bulk notice goes to, and in how many seconds the last job runs."""

    count: int
    seconds: float


def enqueue_bulk_notices(users: list[User], kind: str, sid_prefix: str) -> BulkNotices:
    """Queue a notice of a kind in notices.BULK to each of `users`, spread over time at
    BULK_NOTICE_SHARE of the sending rate (outbound.spread); call after the commit that
    gave cause. Each job gets an id of its own (`sid_prefix` + a random hex) in place of an
    inbound sid, so a redelivered job does not text the same texter twice."""
    runs = _spread(users)
    for user, countdown in zip(users, runs, strict=True):
        enqueue_notice(user.phone_number, kind, sid_prefix + uuid.uuid4().hex, countdown)
    return BulkNotices(len(users), runs[-1] if runs else 0.0)


def _spread(users: list[User | None]) -> list[float]:
    """In how many seconds each bulk notice to `users` runs (outbound.spread); a texter
    deleted meanwhile (None) is given one slot, which their dropped notice leaves unused."""
    return outbound.spread([notices.messages_for(user) if user else 1 for user in users])


def enqueue_tier_change_notices(changes: list[tuple[User, str]]) -> BulkNotices:
    """Text each (user, old tier) whose change TIER_CHANGE_SMS says to tell, in the
    background (enqueue_bulk_notices); call after the commit that changed the tiers. Only
    texters we may text are counted and queued: one abroad or opted out would be told
    nothing, yet counted as told."""
    told = [
        user
        for user, old_tier in changes
        if user.is_active
        and notices.tells_tier_change(old_tier, user.tier)
        and outbound.may_text(user)
    ]
    return enqueue_bulk_notices(told, "tier_change", "TC")
