"""Texting someone: shape a text into parts, store each as an OutboundMessage, send them in
order through the SMS backend, and record why a part failed.

Everything the service sends goes through `send`, so the opt-out rule, the error log of
failed sends and the commit of each part before Twilio sees it (which early status
callbacks and exactly-once sending need) hold for every sender: the pipeline's replies,
notices, MORE, staff replies, the API's send_message.
The opt-out rule has one exception, asked for by name: the single SMS confirming an opt-out.
"""

from __future__ import annotations

import logging

from .. import costs, quota
from ..current import app_config
from ..extensions import DATABASE_BUSY, db
from ..models import (
    Channel,
    ConversationState,
    DeliveryStatus,
    ErrorType,
    OutboundMessage,
    StaffUser,
    Task,
    User,
    reread_opt_out,
)
from ..models.plain_flush import flush_plainly
from ..models.sent_once import send_once
from ..ops.error_log import record_error
from ..phones import mask
from ..vendors import pacing
from ..vendors.pacing import Slots
from ..vendors.twilio import SmsError, get_sms_backend
from . import channels
from .gsm import encoding_of, message_length, segment_count
from .sender import is_our_number, sender_number, written_to
from .shape import Shaped, shape
from .split import MAX_MESSAGE_CHARS
from .status import record_sent, store_given

log = logging.getLogger("sms_agent.outbound")

STAFF = ConversationState.STAFF.value


#: The kind of the one SMS an opted-out texter may still get: the confirmation of the STOP
#: itself, which the carriers' rules require (unless Twilio's Advanced Opt-Out sends it).
OPT_OUT_CONFIRMATION = "opt_out"


class OptedOut(Exception):
    """The texter has opted out (STOP, or Twilio said 21610): nothing may be sent to them."""

    #: Whether an earlier part of the same send reached Twilio (see SendFailed).
    may_have_reached = False


class OutsideWindow(OptedOut):
    """A WhatsApp texter has not written within WhatsApp's 24-hour window, so nothing may be
    sent until they do. Every sender treats it as an opt-out for now (nothing is sent, no
    error is logged); the API and the pipeline tell it apart by its message."""


class HeldByStaff(Exception):
    """A staff member took the conversation over before the AI's answer went out: the AI
    stays out of it (handoff.take_over), so the answer is not sent."""


class CountryNotAllowed(Exception):
    """The number is in a country outside ALLOWED_COUNTRIES: nothing is sent to it, so no
    caller (send_message included) can be used to run up a bill abroad (toll fraud)."""

    def __init__(self, country: str | None, allowed: tuple[str, ...]):
        super().__init__(f"SMS to {country or 'an unknown country'} is not allowed")
        self.country = country
        self.allowed = allowed

    @classmethod
    def of(cls, phone: str) -> CountryNotAllowed:
        return cls(costs.country_of(phone), allowed_countries())

    @property
    def explained(self) -> str:
        """What staff read: the refusal and the setting that made it."""
        return f"{self} (ALLOWED_COUNTRIES: {', '.join(self.allowed) or 'none'})"


def allowed_countries() -> tuple[str, ...]:
    """ALLOWED_COUNTRIES, or the country of our own number."""
    config = app_config()
    configured = config.get("ALLOWED_COUNTRIES")
    if configured:
        return tuple(configured)
    own = costs.country_of(config["TWILIO_PHONE_NUMBER"])
    return (own,) if own else ()


def in_allowed_country(phone: str) -> bool:
    return costs.country_of(phone) in allowed_countries()


class OwnNumber(CountryNotAllowed):
    """The number is one of ours (sender.is_our_number), which has a texter's row only from
    staff, or from before its texts stopped making one: a text to it could come back as one
    to answer, billed at every turn. Refused wherever a number abroad is, by every caller of
    `send`."""

    def __init__(self, phone: str):
        super().__init__(costs.country_of(phone), allowed_countries())
        self.args = ("SMS to our own number is not allowed",)

    @property
    def explained(self) -> str:
        return f"{self} (it could come back as a text to answer)"


def destination_problem(phone: str) -> CountryNotAllowed | None:
    """Why nothing may be sent to `phone` (OwnNumber, CountryNotAllowed), or None."""
    if is_our_number(phone):
        return OwnNumber(phone)
    return None if in_allowed_country(phone) else CountryNotAllowed.of(phone)


def may_text(user: User) -> bool:
    """Whether `send` would text `user` now (Twilio willing), asked before anything is
    sent, so without the ErrorLog a refused send leaves: their number is in
    ALLOWED_COUNTRIES, they have not opted out, and on WhatsApp its window is open."""
    try:
        check_reachable(user)
    except (OptedOut, CountryNotAllowed):
        return False
    return True


def check_reachable(user: User) -> None:
    """Raise what `send` would refuse `user` with now, without its ErrorLog:
    CountryNotAllowed, OptedOut, or its OutsideWindow on WhatsApp; asked before work whose
    only end is a message to them (a task the API is asked to create)."""
    refused = destination_problem(user.phone_number)
    if refused is not None:
        raise refused
    _refuse_if_opted_out(user, confirming_opt_out=False)
    check_window(user)


def check_destination(user: User, task: Task | None = None) -> None:
    """Raise CountryNotAllowed (with an ErrorLog for staff) for a number abroad, or its
    OwnNumber for one of ours."""
    refused = destination_problem(user.phone_number)
    if refused is None:
        return
    record_error(
        ErrorType.VALIDATION_ERROR,
        f"{refused}; ALLOWED_COUNTRIES is {','.join(refused.allowed) or 'empty'}",
        user=user,
        task=task,
        country=refused.country,
    )
    log.warning("no SMS to %s: %s", mask(user.phone_number), refused)
    raise refused


def check_window(user: User) -> None:
    """Raise OutsideWindow for a WhatsApp texter whose 24-hour window has closed."""
    closed = channels.window_problem(user)
    if closed:
        raise OutsideWindow(closed)


class SendFailed(Exception):
    """Twilio refused or could not be reached; `error.retryable` says whether to try again.

    `may_have_reached` is True when some of the text may be on its way to the texter: an
    earlier part was sent, or this part's outcome is unknown. A caller that would retry the
    whole text (a staff form, an API request) must not then pretend nothing happened."""

    def __init__(self, error: SmsError):
        super().__init__(str(error))
        self.error = error
        self.retryable = error.retryable
        self.may_have_reached = error.ambiguous


def plan(
    user: User,
    body: str,
    *,
    question: str = "",
    more: bool = False,
    kept_for: str | None = None,
    by_staff: bool = False,
) -> Shaped:
    """What `body` becomes for this user's tier: clean, capped, split and numbered; with
    `more`, a cut ends with the MORE marker and keeps the rest (see shape.shape). On
    WhatsApp: one formatted message instead (channels.shape_whatsapp), a staff member's
    (`by_staff`) with the formatting they typed, which is WhatsApp's own.

    `kept_for` names the channel a kept rest (MORE) was shaped for: on that channel it is
    sent as it is, but WhatsApp's formatting, emoji and lengths are no SMS, so a rest kept
    for WhatsApp and asked for by SMS is shaped for SMS afresh. (A rest kept for SMS is
    plain text, which WhatsApp shows as it is.)"""
    plain, known = kept_for is not None, user.help_language
    if channels.is_whatsapp(user):
        return channels.shape_whatsapp(
            body, question=question, plain=plain, more=more, as_written=by_staff, known=known
        )
    if kept_for == Channel.WHATSAPP:
        body, plain = channels.whatsapp_to_markdown(body), False
    budget = quota.segment_budget(user.tier)
    return shape(body, budget, question=question, plain=plain, more=more, known=known)


def reply_length(user: User, text: str) -> int:
    """How long a text staff write to `user` is, against MAX_MESSAGE_CHARS: its characters
    on SMS (a long one goes as several messages), but on WhatsApp, where it goes as one,
    its length as Twilio counts that message's Body (channels.WHATSAPP_MAX_CHARS: an emoji
    is two), since a longer one would be cut."""
    return message_length(text) if channels.is_whatsapp(user) else len(text)


def reply_too_long(user: User, text: str) -> str | None:
    """What staff (the admin's form and measure, the API's send_message/) are told of a
    text too long for `user`'s channel, or None: longer, it would be cut."""
    if reply_length(user, text) <= MAX_MESSAGE_CHARS:
        return None
    if channels.is_whatsapp(user):
        return (
            f"Field cannot be longer than {MAX_MESSAGE_CHARS} characters as WhatsApp counts "
            "them (an emoji is two): it goes as one message."
        )
    return f"Field cannot be longer than {MAX_MESSAGE_CHARS} characters."


def segments_for(user: User, text: str) -> int:
    """What one message to `user` counts (and is priced) as: its SMS segments, or one on
    WhatsApp, which has no segments (Twilio prices it per message)."""
    return 1 if channels.is_whatsapp(user) else segment_count(text)


def new_message(
    user: User,
    text: str,
    *,
    kind: str,
    part: int,
    parts: int,
    task: Task | None = None,
    staff_user: StaffUser | None = None,
) -> OutboundMessage:
    whatsapp = channels.is_whatsapp(user)
    message = OutboundMessage(
        task=task,
        staff_user=staff_user,
        to_number=user.phone_number,
        body=text,
        kind=kind,
        part=part,
        parts=parts,
        channel=channels.channel_of(user),
        encoding=channels.WHATSAPP_ENCODING if whatsapp else encoding_of(text),
        segments=segments_for(user, text),
    )
    _about_to_be_sent(message)
    return message


def send(
    user: User,
    body: str | Shaped,
    *,
    kind: str,
    task: Task | None = None,
    resume: bool = False,
    confirming_opt_out: bool = False,
    staff_user: StaffUser | None = None,
    slots: Slots | None = None,
    unless_staff_hold: bool = False,
    sender: str | None = None,
) -> list[OutboundMessage]:
    """Shape `body` for `user` (unless it is shaped already, by `plan`) and send its parts
    in order; returns them. `staff_user` is the author of a message staff wrote (stored on
    each part).

    Raises OptedOut for an opted-out texter (nothing is stored then), its OutsideWindow for a
    WhatsApp texter outside WhatsApp's 24-hour window, CountryNotAllowed for a number outside
    ALLOWED_COUNTRIES (nothing is stored; it leaves an ErrorLog), and SendFailed when Twilio
    refuses a part (that part is stored as failed, later parts are not sent).

    Each part is committed as about to be sent before Twilio sees it, whoever sends it (see
    `_commit_before_twilio`), and each part's outcome is committed before the next is stored;
    the last part's outcome is left to the caller's own commit. The commit ends whatever the
    caller's transaction held (the texter's row lock, say): a caller that writes to the
    texter afterwards takes the lock again. So a redelivered job (`resume=True`) skips parts
    that have a sid and never resends one whose outcome was lost, and the opt-out is read
    again before each part, since a STOP may have been committed meanwhile.

    `confirming_opt_out=True` lets exactly one one-segment SMS of kind OPT_OUT_CONFIRMATION
    reach a texter who has opted out; any other use of it is a programming error.

    `slots`, from `slots.book`, are the sending slots the parts go out in (see slots.py);
    without them each part waits for its number's next slot.

    `unless_staff_hold` (the AI's answer): HeldByStaff is raised instead
    of sending the first part once a staff member holds the conversation (a takeover while
    the model was thinking); an answer already partly sent is finished.

    `sender` is the number of ours the texter wrote to (Twilio's To), else the `task`'s:
    the parts go out from it, so they land in the thread the texter wrote in, not in one
    with TWILIO_PHONE_NUMBER that they may never have texted. Unknown, or written to on the
    other channel (sender.sender_number), they go out from the backend's own number.
    """
    try:
        messages = _send(
            user,
            body,
            kind,
            task,
            resume,
            confirming_opt_out,
            staff_user,
            slots,
            unless_staff_hold,
            sender or written_to(task),
        )
    except (OptedOut, SendFailed):
        costs.refresh_task_cost(task)
        raise
    costs.refresh_task_cost(task)
    return messages


def _send(
    user,
    body,
    kind,
    task,
    resume,
    confirming_opt_out,
    staff_user,
    slots,
    unless_staff_hold,
    sender,
):
    check_destination(user, task)
    texts = (body if isinstance(body, Shaped) else plan(user, body)).parts
    if confirming_opt_out and not _is_confirmation(user, kind, texts):
        raise ValueError(f"only a one-part {OPT_OUT_CONFIRMATION!r} SMS may pass an opt-out")
    _refuse_if_opted_out(user, confirming_opt_out)
    check_window(user)
    backend = get_sms_backend()
    from_number = sender_number(sender, channels.channel_of(user))
    stored = _stored_parts(task, kind) if resume else {}
    messages = []
    for number, text in enumerate(texts, start=1):
        message = stored.get(number)
        if message is not None and (message.sid or message.status == DeliveryStatus.QUEUED):
            if not message.sid and not store_given(message):
                # Stored as about to be sent, then the worker died: Twilio may have it.
                log.warning("part %d of %s may have been sent; not resent", number, kind)
            messages.append(message)
            continue
        _wait_for_slot(backend, channels.channel_of(user), slots, from_number)
        # A STOP may have been committed meanwhile (during the wait too). It is read before
        # the part is stored, so a part that will not go out leaves no row (no SMS "queued"
        # after the opt-out, no price in the spend), and before the commit, so no
        # transaction stays open (and holds a pooled connection) through Twilio's answer.
        reread_opt_out(user)
        _refuse_if_opted_out(user, confirming_opt_out)
        if (
            unless_staff_hold
            and user.conversation_state == STAFF
            and not any(m.sid for m in messages)
        ):
            raise HeldByStaff(f"staff hold the conversation with {mask(user.phone_number)}")
        if message is None:
            message = new_message(
                user,
                text,
                kind=kind,
                part=number,
                parts=len(texts),
                task=task,
                staff_user=staff_user,
            )
            if unless_staff_hold:
                # The AI's answer, which a run that stalled and the run that took its task
                # over may both be sending: stored by the first to get there (sent_once.py).
                send_once(message)
        else:
            # A part Twilio failed before (it cost 0: nothing was sent), tried again by a
            # retried job: left at 0 with no estimate, the price job never asked about it
            # and it was free in every report and spend cap.
            _about_to_be_sent(message)
        db.session.add(message)
        messages.append(message)
        _commit_before_twilio()
        try:
            _transmit(message, user, backend, confirming_opt_out, slots, from_number)
        except BaseException as exc:
            if isinstance(exc, DATABASE_BUSY):
                # The database failed after Twilio took the part (the write of its sid): a
                # commit now would only fail again, as a PendingRollbackError the caller took
                # for a bug (the task failed, the texter who had the answer got the apology).
                # The caller rolls back and runs again, with the sid (status.sids_given).
                raise
            db.session.commit()  # the failed attempt is recorded before any retry decision
            if isinstance(exc, (OptedOut, SendFailed)) and number > 1:
                exc.may_have_reached = True
            raise
        if number < len(texts):
            db.session.commit()  # the last part's outcome is left to the caller's own commit
    return messages


def _wait_for_slot(backend, channel: str, slots: Slots | None, sender: str) -> None:
    """Wait for the part's sending slot (pacing.py) before it is stored as about to be sent:
    a part committed and then slept on was, when its worker died in the wait, taken by the
    redelivered job for one Twilio may have (`_commit_before_twilio`) and never sent.
    What the caller has pending (an answer with its model call) is committed first, so the
    wait holds no connection and a job run again after it sends the answer it finds."""
    wait = backend.time_to_slot(channel, slots, sender)
    if wait > 0:
        _commit_before_twilio()
        pacing.sleep_until(wait)


def _about_to_be_sent(message: OutboundMessage) -> None:
    """A part about to be sent, new or tried again: queued, no error, and priced at its
    estimate until Twilio's price replaces it (billed if it goes through)."""
    message.status = DeliveryStatus.QUEUED.value
    message.error_code = message.error_message = None
    message.price_usd = costs.estimate_sms(
        message.to_number, message.segments, message.channel == Channel.WHATSAPP
    )
    message.price_estimated = True


def _commit_before_twilio() -> None:
    """Commit the part about to be sent, before Twilio sees it: every sender passes here
    (the pipeline's answers, staff and API sends, MORE, notices), for two reasons.

    - Twilio may report a message before its answer to our send has reached us, to another
      web process on another connection; the report names our row (the StatusCallback's
      `?message=<id>`, status.find_message), so the row must be visible to it by then.
      Keeping the early report until the row appears was the other way: it needs a table
      of reports for rows that may never appear and a rule for when to apply them, while
      the committed row also serves the second reason.
    - A part is on record before it can reach the texter: a worker or web process that dies
      while Twilio has it leaves a queued part without a sid, which is never resent blind
      (a redelivered job skips it; a retried staff submission finds its key committed with
      it), nor missing from the thread and the spend.

    The part, and the answer and model call that come with an answer's first part, are
    written by statements built once (models/plain_flush.py), not the ORM's flush.
    """
    flush_plainly(db.session())
    db.session.commit()


def _refuse_if_opted_out(user: User, confirming_opt_out: bool) -> None:
    if user.is_opted_out and not confirming_opt_out:
        raise OptedOut(f"{mask(user.phone_number)} has opted out")


def is_one_sms(user: User, texts: list[str]) -> bool:
    """Whether shaped `texts` are one message of one segment: all an opted-out texter's
    confirmation may be."""
    return len(texts) == 1 and segments_for(user, texts[0]) == 1


def _is_confirmation(user: User, kind: str, texts: list[str]) -> bool:
    return kind == OPT_OUT_CONFIRMATION and is_one_sms(user, texts)


def _stored_parts(task: Task | None, kind: str) -> dict[int, OutboundMessage]:
    if task is None:
        return {}
    return {m.part: m for m in task.outbound_messages if m.kind == kind}


def _transmit(
    message: OutboundMessage,
    user: User,
    backend,
    confirming_opt_out: bool = False,
    slots: Slots | None = None,
    from_number: str | None = None,
) -> None:
    """Send one stored part; on failure record why on the row and in the error log."""
    _refuse_if_opted_out(user, confirming_opt_out)
    try:
        result = backend.send(
            channels.recipient(user, message.channel),
            message.body,
            message.channel,
            slots,
            sender=from_number,
            reference=str(message.id),
            paced=True,  # its slot was waited for before it was stored (_wait_for_slot)
        )
    except SmsError as exc:
        _record_failure(message, user, exc)
        if exc.unsubscribed:
            user.opt_out()
            raise OptedOut(str(exc)) from exc
        raise SendFailed(exc) from exc
    record_sent(message, result.sid, result.status)


def _record_failure(message: OutboundMessage, user: User, exc: SmsError) -> None:
    # A send whose outcome is unknown stays queued without a sid: a redelivered job then
    # treats it like one interrupted by a crash and does not send it again.
    if not exc.ambiguous:
        message.status = DeliveryStatus.FAILED.value
        # Twilio refused it: nothing was sent, nothing is billed.
        message.price_usd, message.price_estimated = costs.money(0), False
    message.error_code = exc.code
    message.error_message = str(exc)[:500]
    record_error(
        ErrorType.TWILIO_ERROR,
        str(exc),
        user=user,
        task=message.task,
        exc=exc,
        twilio_code=exc.code,
        http_status=exc.status,
        kind=message.kind,
    )
