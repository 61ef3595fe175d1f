"""Receiving an SMS: normalise the number, dedupe by MessageSid, route keywords and commands,
admit the request (limits.py: sender rate, spend caps, quota), and store the Task the
worker will answer (or, refused, the Task staff will see). The caller commits, then
enqueues."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from .. import handoff, limits, quota
from ..clean_text import seen_name
from ..extensions import db
from ..models import Channel, RefusalReason, User, lock_texter, utcnow
from ..outbound import OUR_NUMBER
from ..outbound.channels import note_whatsapp_number
from ..outbound.language import text_language
from ..phones import mask
from . import keywords
from .form import BadInbound, from_us, is_message_sid, parse_form, written_to
from .media import WHATSAPP_PREFIX, attachments, split_channel
from .message_types import message_type
from .quoted import quoted_metadata
from .routing import Received, route
from .store import already_received, received_price, remember_handled, store_task

__all__ = [
    "BadInbound",
    "ConcurrentDeliveries",
    "Received",
    "is_message_sid",
    "receive_and_commit",
    "receive_sms",
]

log = logging.getLogger("sms_agent.inbound")


class ConcurrentDeliveries(Exception):
    """Both passes of `receive_and_commit` met another delivery's rows: send it again."""


def receive_and_commit(form: Mapping[str, str]) -> Received:
    """`receive_sms`, committed. Two deliveries of one SMS that both pass the MessageSid
    check, or first texts at once from a new number, meet a unique constraint; the loser's
    second pass then sees the winner's rows."""
    for attempt in (1, 2):
        try:
            received = receive_sms(form)
            db.session.commit()
            return received
        except IntegrityError:
            db.session.rollback()
            log.info("concurrent delivery of %s (pass %d)", form.get("MessageSid"), attempt)
    raise ConcurrentDeliveries("conflicting concurrent deliveries; retry")


def receive_sms(form: Mapping[str, str]) -> Received:
    """Twilio retries a webhook it got no answer to, and anyone who captured a signed one
    can post it again at any time, so a MessageSid seen before is a duplicate: a stored task
    says so (the insert skips it in the same statement), and so does a handled text's row
    (store.remember_handled), however long ago and however many texts came since."""
    sid, phone, body, num_media = parse_form(form)
    our_number = written_to(form)
    if from_us(phone, our_number):
        # Never a texter: a row would let notices, staff and the API text our own number,
        # and a reply to ourselves could come back as a text to answer, without end.
        log.warning("inbound %s from our own number %s: not a texter, ignored", sid, mask(phone))
        # Twilio billed receiving it all the same: the service's spend counts it, kept
        # under our number, which no texter has (costs.report.own_numbers; a forward
        # between numbers of ours may send many).
        channel = split_channel(form.get("From") or "")[1]
        remember_handled(sid, phone, received_price(channel, body, {"num_media": num_media}))
        return Received("own_number", phone)
    channel = split_channel(form.get("From") or "")[1]
    media = attachments(form)
    # Locked until the commit: webhooks of one texter take turns, so two of them cannot
    # both read service_state and one overwrite the other's quota notice.
    user = lock_texter(phone)
    if user is None:
        user = User(phone_number=phone, last_active=utcnow())
        db.session.add(user)
        db.session.flush()  # fills in the column defaults (tier, quota window, active)
        log.info("new user %s on tier %s", mask(phone), user.tier)
    elif user.last_active is None:
        # The first text of a texter staff or the API added: active from now on (an
        # admitted request moves it on again, quota.admit).
        user.last_active = utcnow()
    _note_channel(user, channel, form.get("From") or "")
    _note_profile_name(user, form)
    was_opted_out = user.is_opted_out
    twilio_keyword = keywords.matched_by_twilio(form.get("OptOutType"))
    received = route(user, body, media, twilio_keyword, message_type(form))
    stored = {
        **_media_metadata(num_media, media),
        **_our_number_metadata(our_number),
        **quoted_metadata(form, phone),
    }
    if received.outcome == "task":
        received = _admit(user, sid, body, stored, received.notice)
    elif received.outcome in _HOW_TOS:
        received = _held_to(_cost_rule(user, body, stored), user, sid, received)
        if received.outcome in _KEPT_HOW_TOS:
            # Kept for staff (what the texter sent, we cannot show them otherwise).
            kind = {"message_type": message_type(form)} if message_type(form) else {}
            unread = RefusalReason.UNSUPPORTED
            received = _refuse(user, sid, body, {**stored, **kind}, received, unread)
    else:
        if received.outcome == "held":
            received = _rated_hold(user, sid, received)
        elif (rule_for := _RATED_NOTICES.get(received.notice)) is not None and not (
            received.outcome == "start" and was_opted_out
        ):
            received = _held_to(rule_for(user, body, stored), user, sid, received)
        if received.outcome in _REFUSALS:
            received = _refuse(user, sid, body, stored, received)
    received.sid, received.our_number = sid, our_number
    handled = received.outcome not in ("task", "duplicate", *_REFUSALS, *_KEPT_HOW_TOS)
    if handled and not remember_handled(
        sid, user.phone_number, received_price(user.channel, body, stored)
    ):
        # A retry or replay of an SMS received before, as a task or a keyword, now routed
        # (again, or otherwise: the texter opted out since): it must change nothing.
        db.session.rollback()
        return Received("duplicate", phone)
    if received.outcome == "duplicate":
        return received
    if _changes_opt_in(received, was_opted_out, user):
        user.note_opt_change(sid, keywords.language(body))
    if received.notice == "more":
        user.note_more_asked(sid)  # its part counts against the caps until it is taken
    elif received.notice == "help":
        user.note_help_language(keywords.language(body))
    elif received.notice == "usage" and (said_in := keywords.language(body)):
        # Only a USAGE asked in words of French or Spanish: the word USAGE itself is what
        # the French and Spanish HELP tell the texter to send.
        user.note_help_language(said_in)
    elif received.outcome in _WRITTEN and (said_in := text_language(body)):
        # Notices that answer no question (AGENT's, RESET's, a refusal's) go out in a job
        # that has only the texter's row: the language of their latest text that tells it.
        # One that says too little ("merci", "ok?") leaves the one known before; the row is
        # written only when it changes.
        user.note_help_language(None if said_in == "en" else said_in)
    log.info("inbound %s from %s: %s", sid, mask(phone), received.outcome)
    return received


def _changes_opt_in(received: Received, was_opted_out: bool, user: User) -> bool:
    """A STOP or START (or START under a picture) that opted the texter out or in, or is to
    be confirmed (START from a subscribed texter): the one whose confirmation stands. A
    second STOP, which changes nothing and is not confirmed, leaves the first one's."""
    return user.is_opted_out != was_opted_out or received.notice in ("opt_out", "opt_in")


def _note_channel(user: User, channel: str, sender: str) -> None:
    """Answers go back on the channel the texter last used; a WhatsApp message also opens
    WhatsApp's 24-hour window, and says how WhatsApp writes their number. An SMS texter's
    row is only written when the channel changes."""
    if user.channel != channel:
        user.channel = channel
    if channel == Channel.WHATSAPP:
        user.last_whatsapp_at = utcnow()
        note_whatsapp_number(user, sender.strip()[len(WHATSAPP_PREFIX) :])


#: The longest name a texter's row keeps (User.full_name).
_MAX_NAME_CHARS = 100


def _note_profile_name(user: User, form: Mapping[str, str]) -> None:
    """The name on a WhatsApp texter's profile (Twilio's ProfileName) is their name for
    staff until they have one; a name given (by staff, the API or the texter) is kept."""
    if user.full_name:
        return
    name = seen_name(form.get("ProfileName") or "")[:_MAX_NAME_CHARS]
    if name:
        user.full_name = name


def _media_metadata(num_media: int, media: list) -> dict:
    """What the task keeps about its attachments, for the worker to read them."""
    if not num_media and not media:
        return {}
    return {"num_media": num_media, "media": [item.as_json() for item in media]}


def _our_number_metadata(our_number: str | None) -> dict:
    """Where the task keeps the number of ours it was written to: its answer, MORE and
    notices go out from it (outbound.send). Not known (old tasks, API-created ones): none."""
    return {OUR_NUMBER: our_number} if our_number else {}


#: Outcomes stored as a refused task: each refusal reason is one, and a text held for staff.
_REFUSALS = {reason.value: reason for reason in RefusalReason}
_REFUSALS["held"] = RefusalReason.HELD_FOR_STAFF
#: Outcomes of a text in the texter's own words: a question for the model, or one refused.
_WRITTEN = {"task", *_REFUSALS}


def _admit(user: User, sid: str, body: str, media: dict, notice: str | None) -> Received:
    """Admit the request (limits.py: rate, spend caps, quota), then store the task; a
    MessageSid stored already undoes the count (a retry of an SMS that was admitted once
    must not count twice). With a sender rate, a retry is recognised before admission, since
    the rate's counters are not rolled back with the rest."""
    if limits.counts_outside_the_transaction() and already_received(sid):
        db.session.rollback()
        return Received("duplicate", user.phone_number)
    price = received_price(user.channel, body, media)
    admission = limits.admit(user, metadata=media, received=price or Decimal(0), sid=sid)
    if admission.refusal is not None:
        # A START under a refused picture is still confirmed, unless the refusal's notice
        # (which shows the texter subscribed) goes instead.
        kept = notice if notice == "opt_in" else None
        refused = Received(
            admission.refusal.value, user.phone_number, notice=admission.notice or kept
        )
        return _refuse(user, sid, body, media, refused)
    stored = store_task(user, sid, body, media, admission.window, price=price)
    if stored is None:
        db.session.rollback()
        return Received("duplicate", user.phone_number)
    if stored.resent:
        # Stored for staff, not answered: the first one's answer is coming, counted once.
        quota.give_back_request(user.phone_number, admission.window)
        return Received("resent", user.phone_number)
    return Received("task", user.phone_number, notice=notice, task_id=stored.id)


#: Outcomes answered with a how-to instead of the model: nothing stored, but held to the
#: sender's rate and the spend caps like any text (limits.cost_refusal).
_HOW_TOS = {"empty", "media", "unsupported"}
#: Those stored for staff too, refused `unsupported`: a file we do not read alone, a
#: WhatsApp message of a kind we cannot read. (An empty text shows nothing to keep.)
_KEPT_HOW_TOS = {"media", "unsupported"}

Rule = Callable[[User], limits.Admission | None]


def _cost_rule(user: User, body: str, media: dict) -> Rule:
    """limits.cost_refusal, counting what receiving this text cost as `_admit` does for a
    question: Twilio bills it whatever is decided. Uncounted, a cap with room for the SMS
    asked for (MORE's, a how-to) but not for that receipt too sent it past the cap."""
    price = received_price(user.channel, body, media) or Decimal(0)
    return functools.partial(limits.cost_refusal, received=price)


def _rate_rule(user: User, body: str, media: dict) -> Rule:
    """limits.rate_refusal: the sender's rate, whatever the text cost."""
    return limits.rate_refusal


#: Keywords' notices, each an SMS we pay for, held to the sender's rate: a phone stuck
#: resending HELP (or AGENT, USAGE...) cost one each, without end. MORE, which sends more
#: of an answer (up to the tier's segments), is held to the spend caps too. Never STOP's
#: confirmation, nor START's when it opts the texter back in: carriers require those.
#: Each maps to the factory of its rule, given the texter, the text and its media.
_RATED_NOTICES = {
    **dict.fromkeys(["help", "usage", "reset", "handoff", "opt_in"], _rate_rule),
    "more": _cost_rule,
}


def _held_to(rule, user: User, sid: str, received: Received) -> Received:
    """Past the `rule` (the sender's rate, a spend cap), no how-to or keyword notice: that
    rule's notice once per window, then nothing (the keyword itself is still obeyed). A
    retry is recognised before it is counted, as in _admit."""
    if limits.counts_outside_the_transaction() and already_received(sid):
        db.session.rollback()
        return Received("duplicate", user.phone_number)
    refused = rule(user, sid=sid)
    if refused is not None:
        received.notice = refused.notice
    return received


def _rated_hold(user: User, sid: str, received: Received) -> Received:
    """A text for staff counts against the sender's rate like any text: past it, it is
    stored refused `rate_limited` (its pictures never fetched, no unread text added) with
    the rate's one notice. A phone stuck resending while staff had the conversation stored
    a text, and fetched and kept each picture, without end."""
    if limits.counts_outside_the_transaction() and already_received(sid):
        db.session.rollback()
        return Received("duplicate", user.phone_number)
    refused = limits.rate_refusal(user, sid=sid)
    if refused is None:
        return received
    return Received(refused.refusal.value, user.phone_number, notice=refused.notice)


def _refuse(
    user: User,
    sid: str,
    body: str,
    media: dict,
    received: Received,
    reason: RefusalReason | None = None,
) -> Received:
    """Store a refused text so staff see everything texters sent: not counted, never sent to
    the model. Its MessageSid dedupes it like any task, so a retry stores (and notices)
    nothing new. `reason`: the refusal's, when not the outcome's own."""
    price = received_price(user.channel, body, media)
    refusal = reason or _REFUSALS[received.outcome]
    stored = store_task(user, sid, body, media, None, refusal, price=price)
    if stored is None:
        db.session.rollback()
        return Received("duplicate", user.phone_number)
    if received.outcome == "held":
        handoff.hold_text(user)
        # Staff are the ones reading it: they see its pictures too.
        received.held_media = stored.id if media.get("media") else None
    return received
