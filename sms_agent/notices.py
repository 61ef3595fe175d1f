"""The short service messages a texter can get besides an answer: help, usage, quota, media
(a file we cannot read, one we could not fetch, a model that cannot see pictures), opt-in,
opt-out, reset, apology and tier-change texts and the one-time program notice: which one
and in which language, filled in from notice_wording.py, and sending one at most once per
inbound SMS.

Every notice fits one GSM-7 segment (160 characters) with the longest numbers it can hold;
tests/test_notices.py checks each one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time
from functools import partial
from zoneinfo import ZoneInfo

from flask import current_app

from . import limits, outbound, program_notice, quota
from .extensions import db
from .media.kinds import OTHER, TEXT
from .media.read import attachments_of, unopened_pictures, words_of
from .models import Task, User, relock_bookkeeping, utcnow
from .notice_wording import (
    APOLOGY,
    DECLINED,
    EMPTY,
    HANDOFF_ACK,
    HANDOFF_ENDED,
    HELP,
    MEDIA,
    MEDIA_FAILED,
    MEDIA_NOTE,
    MEDIA_TOO_LARGE,
    MEDIA_UNAVAILABLE,
    MEDIA_UNREADABLE,
    MONTHS,
    NO_REQUESTS,
    NO_VISION,
    OPT_IN,
    OPT_OUT,
    PAUSED,
    PICTURE_NOTE,
    QUOTA,
    RATE_LIMITED,
    REQUESTS,
    RESET,
    SPEND_CAP,
    TEXT_PART_FAILED,
    TEXT_PART_UNAVAILABLE,
    TEXT_PART_UNREADABLE,
    TIER_CHANGE,
    UNSUPPORTED,
    USAGE,
    VOICE_CUT,
    VOICE_NOTE,
    VOICE_TOO_LONG,
    VOICE_UNHEARD,
    in_language,
)
from .outbound.gsm import GSM_7, segment_count
from .outbound.language import language_for
from .outbound.shape import char_budget
from .plural import counted

log = logging.getLogger("sms_agent.notices")


def service() -> str:
    return current_app.config["SERVICE_NAME"]


def support_contact(config=None) -> str:
    """SUPPORT_CONTACT, else "<SERVICE_NAME> support"; of `config` when given (the app's
    start-up checks, before a request), else the running app's."""
    config = current_app.config if config is None else config
    return config["SUPPORT_CONTACT"] or f"{config['SERVICE_NAME']} support"


def _reset_day(user: User, language: str | None = None) -> str:
    when = quota.window_end(user).astimezone(ZoneInfo(user.timezone or "UTC"))
    return _date(when, language)


def _date(when: datetime, language: str | None) -> str:
    if language not in MONTHS:
        return f"{when:%b} {when.day}"
    return f"{when.day} {MONTHS[language].split()[when.month - 1]}"


def _dated(wording: str, until: str, **values) -> str:
    """`wording` filled in, with the date `until` ending its sentence once: a French month
    is written short with a period ("jusqu'au 7 déc."), which takes the sentence's."""
    if until.endswith("."):
        wording = wording.replace("{until}.", "{until}")
    return wording.format(until=until, **values)


def _fixed(wordings: dict) -> Callable[..., str]:
    """A notice with nothing to fill in: its wording in the texter's language."""
    return lambda _user, language=None: in_language(wordings, language)


def help_text(user: User) -> str:
    """Carriers want the program's name, a support contact and the rates line in HELP; the
    default wording leaves three characters spare in the segment, at enterprise figures.
    AIDE is answered in French, AYUDA in Spanish, as ARRÊT's and BAJA's confirmations are.
    While a spend cap holds the texter's answers, it says until when in place of the
    requests left: the cap's notice sends them to HELP, which told them "99 of 100 left"."""
    wording, answering, paused, none = in_language(HELP, user.help_language)
    if limits.no_answers(user.tier):
        answers = none.format(tier=user.tier)
    elif held := _held_until(user, user.help_language):
        dated, for_now = paused
        answers = _dated(dated, until=held[1]) if held[1] else for_now
    else:
        answers = answering.format(left=quota.remaining(user), limit=quota.monthly_limit(user.tier))
    return wording.format(service=service(), answers=answers, support=support_contact())


def warn_of_a_help_reply_longer_than_one_sms(config) -> None:
    """Name, as the app starts, a SUPPORT_CONTACT (or SERVICE_NAME) that makes HELP longer
    than one SMS, at the largest quota's figures: carriers want HELP in one message, and a
    long help-centre URL made every HELP two segments, billed twice, with nothing said."""
    if not config["HELP_REPLY_ENABLED"]:
        return
    wording, answering, _paused, _none = HELP[None]
    limit = max(config["QUOTA_FREE"], config["QUOTA_PREMIUM"], config["QUOTA_ENTERPRISE"])
    text = wording.format(
        service=config["SERVICE_NAME"],
        answers=answering.format(left=limit, limit=limit),
        support=support_contact(config),
    )
    if (segments := segment_count(text)) > 1:
        log.warning(
            "the HELP reply is %d SMS segments with SUPPORT_CONTACT and SERVICE_NAME as set: "
            "carriers want it in one (160 GSM-7 characters); shorten SUPPORT_CONTACT",
            segments,
        )


def usage_text(user: User, language: str | None = None) -> str:
    """Past the tier's monthly spend cap it says so, and when the cap lifts, rather than
    when the quota resets: the cap's notice asks them to reply USAGE, which told a capped
    texter only the requests they had left, as if they would be answered. While the daily
    cap pauses answers it says until when: "resets on" alone said nothing of the pause to
    a texter asking why their texts go unanswered.

    The count is quota.used's, the one the API and the admin show: after a downgrade it can
    pass the new tier's limit ("150 of 100"), which a copy capped at the limit hid from the
    texter while staff saw 150."""
    said, endings = in_language(USAGE, language)
    held, until = _held_until(user, language) or (None, _reset_day(user, language))
    used, limit = quota.used(user), quota.monthly_limit(user.tier)
    said = said.format(
        used=used,
        limit=limit,
        used_requests=_requests(used, language),
        limit_requests=_requests(limit, language),
        tier=user.tier,
    )
    return _dated(endings[held], said=said, service=service(), until=until)


def _requests(count: int, language: str | None) -> str:
    """As many requests in the notice's language: "1 request", "100 requests", "0 demande"."""
    noun, nouns = in_language(REQUESTS, language)
    return counted(count, noun, nouns, language=language, marked=False)


def _held_until(user: User, language: str | None = None) -> tuple[str, str] | None:
    """Which spend cap holds the texter's answers now ("spend_cap", their tier's monthly
    one, or "paused", the service's daily one; "paused_for_now" when it is 0 and lifts on
    no day) and when it lifts, in their time; None when texts are answered."""
    if limits.spend_cap_reached(user) is not None:
        return "spend_cap", _lifts(user, language=language)
    if limits.answers_paused(user):
        lifts = limits.daily_cap_lifts()
        if lifts is None:
            return "paused_for_now", ""
        return "paused", _in_their_time(user, lifts, language)
    return None


def quota_text(user: User, language: str | None = None) -> str:
    wording = in_language(QUOTA, language)
    limit = _requests(quota.monthly_limit(user.tier), language)
    return _dated(wording, limit_requests=limit, until=_reset_day(user, language))


def no_requests_text(user: User, language: str | None = None) -> str:
    """A tier with a quota of 0 (QUOTA_FREE=0: answers for paying plans only; or a spend cap
    of 0, limits.no_answers) has nothing to
    use up or to get back on the 1st, which "You've used all 0 requests ... resets on Jan 1"
    told the texter, who texted again then and was refused again; nor does a spend cap's
    lifting bring answers back. Said in place of each notice in ANSWERS_ON_A_DATE."""
    return in_language(NO_REQUESTS, language).format(tier=user.tier)


def spend_cap_text(user: User, now: datetime | None = None, language: str | None = None) -> str:
    """The cap lifts with the UTC month (limits.py), which is not the quota's month: away
    from UTC that is not a local midnight, so the texter is told the hour too (in UTC+14,
    "until Feb 1" was said on February 1, hours before it lifted)."""
    wording = in_language(SPEND_CAP, language)
    return _dated(wording, tier=user.tier, until=_lifts(user, now, language))


def _lifts(user: User, now: datetime | None = None, language: str | None = None) -> str:
    """When the spend cap lifts, in the texter's time."""
    return _in_their_time(user, limits.spend_cap_lifts(now), language)


def _in_their_time(user: User, moment: datetime, language: str | None = None) -> str:
    """A limit's midnight UTC, in the texter's time: "Feb 1", or "Jan 31 14:00"."""
    local = moment.astimezone(ZoneInfo(user.timezone or "UTC"))
    hour = "" if local.time() == time.min else f" {local:%H:%M}"
    return f"{_date(local, language)}{hour}"


def paused_text(user: User, now: datetime | None = None, language: str | None = None) -> str:
    """The daily cap lifts at midnight UTC (limits.daily_cap_lifts), told in the texter's
    time: "for today ... text again tomorrow" sent a texter in New York, refused at 10:00,
    away until the next day, when answers came back at 19:00 (unless staff raise the cap
    sooner). A cap of 0 names no day: the next day's has no room either."""
    dated, for_now = in_language(PAUSED, language)
    lifts = limits.daily_cap_lifts(now)
    if lifts is None:
        return for_now.format(service=service())
    return _dated(dated, service=service(), until=_in_their_time(user, lifts, language))


def opt_in_text(user: User) -> str:
    wording = in_language(OPT_IN, user.opt_change_language)
    return wording.format(service=service())


def opt_out_text(user: User) -> str:
    """The one message an opted-out texter may still get must fit one segment (outbound.send
    refuses anything longer): with a SERVICE_NAME too long for that, or in a script that
    makes it UCS-2, it goes without the name rather than not at all."""
    wording, unnamed = in_language(OPT_OUT, user.opt_change_language)
    named = wording.format(service=service())
    if outbound.is_one_sms(user, outbound.plan(user, named).parts):
        return named
    log.warning("SERVICE_NAME makes the STOP confirmation longer than one SMS; sent without it")
    return unnamed


def tier_change_text(user: User, language: str | None = None) -> str:
    """An answer's length in the tier's SMS, or on WhatsApp, which has no SMS to count, in
    the characters those allow (what the model is asked to keep to, answering/prompts.py).
    A tier with no AI answers (QUOTA_<TIER>=0 or SPEND_CAP_<TIER>=0) is said to have none:
    "100 requests a month" told a texter moved to it of answers every text then refused."""
    limit, segments = quota.monthly_limit(user.tier), quota.segment_budget(user.tier)
    wording, characters, none = in_language(TIER_CHANGE, language)
    if limits.no_answers(user.tier):
        return none.format(service=service(), tier=user.tier)
    if outbound.is_whatsapp(user):
        length = characters.format(count=char_budget(segments, GSM_7))
    else:
        length = f"{segments} SMS"
    limit = _requests(limit, language)
    return wording.format(service=service(), tier=user.tier, limit_requests=limit, length=length)


def picture_note_text(_user: User, language: str | None = None, task: Task | None = None) -> str:
    """The note before an answer to the rest of a text whose picture could not be opened,
    naming the attachments left unread by their place ("attachments 1 and 3 of 4")."""
    wording, (alone, one, several, words_alone), joined = in_language(PICTURE_NOTE, language)
    places = unopened_pictures(task) if task else []
    items = attachments_of(task) if task else []
    if len(items) <= 1 or not places:
        only_words = [item.get("kind") for item in items] == [TEXT]
        return wording.format(which=words_alone if only_words else alone)
    count = len(items)
    *others, last = map(str, places)
    listed = f"{', '.join(others)}{joined}{last}" if others else last
    return wording.format(which=(several if others else one).format(places=listed, count=count))


def _of_what_was_sent(wordings: dict, text_part: dict) -> Callable[..., str]:
    """A notice on attachments that could not be read, worded for a text whose only ones we
    read are text parts (a long text a phone sent as MMS) as about the texter's message: they
    sent no picture or voice note."""

    def worded(_user: User, language: str | None = None, task: Task | None = None) -> str:
        kinds = {item.get("kind") for item in attachments_of(task)} - {OTHER} if task else ()
        return in_language(text_part if kinds == {TEXT} else wordings, language)

    return worded


def handoff_text(_user: User, language: str | None = None) -> str:
    """The acknowledgement of a request for a person (HANDOFF_ACK_TEXT, then STAFF_HOURS):
    in the texter's language when HANDOFF_ACK_TEXT is the default, else as staff wrote it."""
    text = current_app.config["HANDOFF_ACK_TEXT"]
    hours = current_app.config["STAFF_HOURS"]
    ours, staff_hours = HANDOFF_ACK[None]
    if text == ours:
        text, staff_hours = in_language(HANDOFF_ACK, language)
    return f"{text} {staff_hours.format(hours=hours)}" if hours else text


#: Notice kinds (stored as OutboundMessage.kind) and how each is worded.
NOTICES = {
    "help": help_text,
    "usage": usage_text,
    "quota": quota_text,
    "spend_cap": spend_cap_text,
    "rate_limited": _fixed(RATE_LIMITED),
    "paused": paused_text,
    "media": _fixed(MEDIA),
    "media_note": _fixed(MEDIA_NOTE),
    "unsupported": _fixed(UNSUPPORTED),
    "media_too_large": _fixed(MEDIA_TOO_LARGE),
    "media_failed": _of_what_was_sent(MEDIA_FAILED, TEXT_PART_FAILED),
    "media_unavailable": _of_what_was_sent(MEDIA_UNAVAILABLE, TEXT_PART_UNAVAILABLE),
    "media_unreadable": _of_what_was_sent(MEDIA_UNREADABLE, TEXT_PART_UNREADABLE),
    "voice_unheard": _fixed(VOICE_UNHEARD),
    "voice_too_long": _fixed(VOICE_TOO_LONG),
    "voice_note": _fixed(VOICE_NOTE),
    "voice_cut": _fixed(VOICE_CUT),
    "picture_note": picture_note_text,
    "no_vision": _fixed(NO_VISION),
    "empty": _fixed(EMPTY),
    "opt_in": opt_in_text,
    outbound.OPT_OUT_CONFIRMATION: opt_out_text,
    "reset": _fixed(RESET),
    "apology": _fixed(APOLOGY),
    "declined": _fixed(DECLINED),
    "tier_change": tier_change_text,
    "handoff": handoff_text,
    "handoff_ended": _fixed(HANDOFF_ENDED),
    "program": program_notice.text,
}

#: Notices sent to many texters at once that answer nothing they just texted: they go out in
#: the background, spread over time (jobs.enqueue_bulk_notices), behind conversation.
BULK = frozenset({"tier_change", "handoff_ended"})


def tells_tier_change(old_tier: str, new_tier: str) -> bool:
    """Whether a tier change is texted (TIER_CHANGE_SMS: upgrades, all or off)."""
    setting = current_app.config["TIER_CHANGE_SMS"]
    if old_tier == new_tier or setting == "off":
        return False
    return setting == "all" or quota.is_upgrade(old_tier, new_tier)


#: Notices in the language of the keyword that asked for them (keywords.language), not of
#: the text they answer: every other is written in French or Spanish to a texter known to
#: write it.
IN_THE_KEYWORDS_LANGUAGE = frozenset({"help", "opt_in", outbound.OPT_OUT_CONFIRMATION})
#: Notices that say when answers come (back): a texter whose plan has none gets
#: no_requests_text in their place.
ANSWERS_ON_A_DATE = frozenset({"quota", "usage", "spend_cap", "paused"})
#: Notices that say something of the text they answer beyond its language.
ON_THE_TASK = frozenset({"picture_note", "media_failed", "media_unavailable", "media_unreadable"})


def compose(kind: str, user: User, said: str | None = None, task: Task | None = None) -> str:
    """The notice `kind` for `user`; `said`: the text it answers, whose language (English,
    French or Spanish, outbound/language.py) it is written in, else the texter's last known
    one (User.help_language: of a HELP, a USAGE or a refused text); `task`: that text, for
    the notices that name its attachments (ON_THE_TASK)."""
    if kind not in NOTICES:
        raise ValueError(f"unknown notice {kind!r}; one of {', '.join(NOTICES)}")
    if kind in IN_THE_KEYWORDS_LANGUAGE:
        return NOTICES[kind](user)
    worded = partial(NOTICES[kind], task=task) if kind in ON_THE_TASK else NOTICES[kind]
    if kind in ANSWERS_ON_A_DATE and limits.no_answers(user.tier):
        worded = no_requests_text
    language = language_for(said, user.help_language)
    notice = worded(user, language=language)
    if language and segment_count(notice) > 1 and not outbound.is_whatsapp(user):
        # French and Spanish take more words: a SERVICE_NAME that leaves the English notice
        # one SMS (what the start-up warning checks of the program notice) can make them two.
        english = worded(user, language=None)
        if segment_count(english) < segment_count(notice):
            return english
    return notice


def _first_notice_for(user: User, inbound_sid: str) -> bool:
    """Record, before sending, that this SMS got its notice: at most one notice per SMS.

    service_state is read again under the row lock the webhook takes too, so a webhook of
    the same texter committing meanwhile cannot lose this sid, nor this commit theirs. The
    record is committed here, ahead of the send, because that order is what makes a
    redelivered job harmless."""
    relock_bookkeeping(user)
    if not user.remember_sid("noticed_sids", inbound_sid):
        db.session.rollback()
        return False
    db.session.commit()
    return True


#: The confirmations of a STOP and a START (only the latest one's is sent).
_OPT_CONFIRMATIONS = {outbound.OPT_OUT_CONFIRMATION, "opt_in"}


def send_notice(
    user: User,
    kind: str,
    task: Task | None = None,
    *,
    reply_to: str | None = None,
    slots: outbound.Slots | None = None,
    sender: str | None = None,
) -> bool:
    """Send one of the notices; False when it could not be sent (opted out, or Twilio
    refused, which is already logged) or was already sent in reply to the inbound SMS
    `reply_to` (a redelivered job). The caller commits what the send recorded. `sender`:
    the number of ours `reply_to` was written to (see outbound.send).

    The opt-out confirmation is the one notice that goes to an opted-out texter (and only
    to one: a START that came in before the job ran makes it moot). A texter's first notice
    comes after the program notice. `slots`: the sending slots booked for them
    (outbound.book, `messages_for`)."""
    # On the channel of the text it answers, even if the texter wrote on the other since.
    with outbound.replying_on(user.phone_number, sender or outbound.written_to(task)):
        return _send_notice(user, kind, task, reply_to, slots, sender)


def _send_notice(
    user: User,
    kind: str,
    task: Task | None,
    reply_to: str | None,
    slots: outbound.Slots | None,
    sender: str | None,
) -> bool:
    compose(kind, user)  # an unknown kind fails before anything is recorded or sent
    confirming = kind == outbound.OPT_OUT_CONFIRMATION
    if confirming and not user.is_opted_out:
        log.info("opt-out confirmation not sent: opted back in meanwhile")
        return False
    if reply_to and not _first_notice_for(user, reply_to):
        log.info("%s notice for %s already sent", kind, reply_to)
        return False
    if kind in _OPT_CONFIRMATIONS and reply_to and not user.is_latest_opt_change(reply_to):
        # STOP, START, STOP texted before this went out: only the last one is confirmed.
        log.info("%s notice for %s not sent: a later STOP or START came", kind, reply_to)
        return False
    if not confirming:
        send_program_notice_once(user, task, slots, sender)
    return _send(user, kind, task, confirming_opt_out=confirming, slots=slots, sender=sender)


def messages_for(user: User) -> int:
    """How many SMS a notice to `user` takes: one, after the program notice when it is due."""
    return 1 + program_notice.due(user)


def send_program_notice_once(
    user: User,
    task: Task | None = None,
    slots: outbound.Slots | None = None,
    sender: str | None = None,
) -> bool:
    """The carriers' program notice (name, rates, HELP, STOP) before the first answer,
    notice or staff message a number gets on each channel. Recorded in service_state, under
    the bookkeeping lock, and committed with the stored SMS before Twilio is called, as an
    answer's parts are: at most once a channel, never twice, and a worker that dies
    meanwhile leaves it on record (maybe sent) rather than sent and unrecorded. The caller
    commits what the send recorded."""
    if not program_notice.due(user):
        return False  # the loaded row is enough: the record is never removed
    if not outbound.may_text(user):
        # Refused before it was stored (WhatsApp's window closed, a country not allowed):
        # not on record as sent, so it still comes before the next thing that goes out.
        return False
    relock_bookkeeping(user)
    if program_notice.sent_on_its_channel(user):
        db.session.commit()  # only ends the locking transaction; nothing was changed
        return False
    sent = {
        **(user.service_state.get(program_notice.SENT) or {}),
        outbound.channel_of(user): utcnow().isoformat(),
    }
    user.service_state = {**user.service_state, program_notice.SENT: sent}
    return _send(user, "program", task, slots=slots, sender=sender)


def _send(
    user: User,
    kind: str,
    task: Task | None,
    *,
    confirming_opt_out: bool = False,
    slots: outbound.Slots | None = None,
    sender: str | None = None,
) -> bool:
    try:
        outbound.send(
            user,
            compose(kind, user, words_of(task) if task else None, task),
            kind=kind,
            task=task,
            confirming_opt_out=confirming_opt_out,
            slots=slots,
            sender=sender,
        )
    except outbound.OptedOut as exc:  # or its OutsideWindow
        log.info("%s notice not sent: %s", kind, exc)
        return False
    except outbound.CountryNotAllowed:
        return False  # logged as an error for staff
    except outbound.SendFailed:
        return False
    return True
