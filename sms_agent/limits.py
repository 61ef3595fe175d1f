"""Admission of a texted request, in one place: whether the service takes it on.

Four rules decide, cheapest first, and the first that refuses wins:
1. the sender's rate (SENDER_RATE, e.g. "10/minute;200/day"), counted in the `limits`
   library's storage (Redis when configured, so every web process counts together);
2. the service's daily spend cap (DAILY_SPEND_CAP, or what staff raised it to today), with
   alerts at 80% and 100%, each once a day;
3. the texter's monthly spend cap (SPEND_CAP_<TIER>), per UTC month;
4. the monthly quota (quota.admit), which counts the request when it is admitted.
A refused text is stored with its reason and not answered; the texter gets at most one
notice per window of the rule that refused it. Keywords are always obeyed, and STOP and
START always confirmed; the other keywords' notices are held to the sender's rate (MORE's,
more of an answer, to every rule but the quota), as the how-tos of empty texts are
(inbound/receive.py). The caller commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from limits import parse_many, storage, strategies
from sqlalchemy.dialects import postgresql, sqlite

from . import program_notice, quota
from .answering.prompts import max_tokens
from .costs import report
from .costs.prices import (
    country_of,
    estimate_answer,
    estimate_attachments,
    estimate_sms,
    money,
)
from .current import app_config, app_globals
from .extensions import db
from .models import RefusalReason, SpendDay, User, first_of_next_month, utcnow
from .ops import alerts
from .outbound import channels
from .outbound.gsm import segment_count
from .phones import mask

log = logging.getLogger("sms_agent.limits")

#: What one text may cost the spend caps unless told otherwise: its answer, no attachments.
A_TEXT = report.InFlight(1)

#: Alerts about the daily spend cap, by the share of the cap they fire at.
CAP_ALERTS = {"alerted_80": Decimal("0.8"), "alerted_100": Decimal("1")}


@dataclass(frozen=True)
class Admission:
    """Admitted with the quota `window` it was counted in, or refused with `refusal`; the
    texter gets `notice` (at most one per window of the rule that refused)."""

    window: datetime | None = None
    refusal: RefusalReason | None = None
    notice: str | None = None


def admit(
    user: User,
    now: datetime | None = None,
    metadata: dict | None = None,
    received: Decimal = Decimal(0),
    sid: str | None = None,
    *,
    count_refused: bool = True,
) -> Admission:
    """`metadata`: what the text's task will keep, whose attachments (pictures, voice
    notes) the spend caps count with its answer; `received`: what receiving the text cost
    (stored with it, after this), spent already whatever is decided, so the caps count it;
    `sid`: the text's MessageSid, which the sender's rate counts once. `count_refused`
    False (the API's task, refused with a 429 that stores, sends and bills nothing): the
    sender's rate counts it only once every rule has admitted it, so a client retrying as
    the 429 allows does not use up the texter's own texts. A text refused still counts:
    Twilio billed it, and a phone stuck resending must be held.

    Every refusal is logged here, once: the API's task refused late by the rate (below)
    was the one that went unlogged."""
    admission = _admission(user, now or utcnow(), metadata, received, sid, count_refused)
    if admission.refusal is not None:
        log.info("%s refused: %s", mask(user.phone_number), admission.refusal)
    return admission


def _admission(
    user: User,
    now: datetime,
    metadata: dict | None,
    received: Decimal,
    sid: str | None,
    count_refused: bool,
) -> Admission:
    """`admit`'s decision, unlogged."""
    request = report.request_of(metadata)
    refused = cost_refusal(user, now, request, received, sid=sid, count=count_refused)
    if refused is not None:
        return refused
    window = quota.admit(user, now)
    if window is None:
        return _refuse(user, RefusalReason.OVER_QUOTA, "quota", _quota_run(user))
    if not count_refused and (refused := _sender_rate(user, now, sid)) is not None:
        return refused  # another request of theirs took the rate's last text meanwhile
    return Admission(window=window)


def cost_refusal(
    user: User,
    now: datetime | None = None,
    request: report.InFlight = A_TEXT,
    received: Decimal = Decimal(0),
    sid: str | None = None,
    count: bool = True,
) -> Admission | None:
    """The rules on what a texter may cost, all but the quota: `admit`'s, and alone those of
    a text answered with a how-to rather than the model (an empty text, a file we cannot
    read), whose SMS is paid for like an answer: a phone stuck resending one would cost an
    SMS each without end. `request` is what the spend caps must have room for: one answer,
    and the attachments read before it. Refused: with the rule's notice the first time in
    its window. `count` False: the sender's rate is read, not counted."""
    now = now or utcnow()
    refused = _sender_rate(user, now, sid, count)
    if refused is None:
        refused = _daily_cap(user, now, request, received)
    if refused is None:
        refused = _spend_cap(user, now, request, received)
    return refused


def rate_refusal(
    user: User, now: datetime | None = None, sid: str | None = None
) -> Admission | None:
    """The sender's rate alone: the rule a keyword's notice is held to (routing.py), so a
    phone stuck resending HELP gets the rate's one notice, then nothing, not an SMS each."""
    return _sender_rate(user, now or utcnow(), sid)


def _quota_run(user: User) -> str:
    """The run of over-quota texts one notice covers: this window, known by its start (a
    new timezone moves its end, which brought a notice per change), until a request is
    admitted again (staff reset the counter or upgraded the tier within the month, or a
    failed answer gave its request back), which moves last_active on, so running out once
    more gets a notice of its own. Not total_requests: a request given back lowers it to
    the figure it had when the texter was told, and the next run went unnoticed."""
    return f"{user.window_started_at.isoformat()}#{_last_admitted(user)}"


def _last_admitted(user: User) -> str:
    """What tells one run of refused texts from the next: when a request of the texter's
    was last taken up, "never" for one staff or the API added whose first request (a task
    the API made for them) was refused."""
    return user.last_active.isoformat() if user.last_active is not None else "never"


def _refuse(user: User, reason: RefusalReason, notice: str, window: str) -> Admission:
    """Refused, with the notice only the first time in `window` for this reason."""
    key = f"{reason.value}_notice_window"
    if reason is RefusalReason.OVER_QUOTA:
        key = "quota_notice_window"  # the name the quota notice has always been kept under
    if user.service_state.get(key) == window:
        return Admission(refusal=reason)
    user.service_state = {**user.service_state, key: window}
    return Admission(refusal=reason, notice=notice)


# -- the sender's rate --------------------------------------------------------------------
def counts_outside_the_transaction() -> bool:
    """Whether `admit` counts where a rollback cannot undo it: the sender rate's storage.
    A retried SMS must then be recognised as one before `admit`, or each of Twilio's
    retries would use up the texter's rate as if they had texted again."""
    return bool(app_config().get("SENDER_RATE"))


#: The counters' name in the storage. Not "sender", the fixed windows' counters: Redis keeps
#: a moving window's texts in a list under the key, and a counter left there by an earlier
#: version (up to a day) would fail every count with WRONGTYPE (the text admitted uncounted).
_COUNTED_AS = "sender_moving"


def _limiter() -> strategies.MovingWindowRateLimiter:
    """One limiter per app and storage: memory:// counters die with the app (each test
    app starts afresh), redis:// ones are shared by every process. A moving window: in
    fixed ones, texts at the end of one window and the start of the next all passed, twice
    the rate within moments; now any stretch of the window's length holds at most the rate."""
    uri = current_app.config["SENDER_RATE_STORAGE_URI"] or "memory://"
    kept = current_app.extensions.get("sender_rate")
    if kept is None or kept[0] != uri:
        counters = storage.storage_from_string(uri, **redis_timeouts(uri, current_app.config))
        kept = (uri, strategies.MovingWindowRateLimiter(counters))
        current_app.extensions["sender_rate"] = kept
    return kept[1]


def redis_timeouts(uri: str, config) -> dict[str, float]:
    """A Redis that takes connections and never answers (hung, or its host gone mid-
    connection) held every inbound text for redis-py's default 5 seconds, and the API's and
    the login's throttle 10; counters give up as soon as a publish to the broker does
    (BROKER_PUBLISH_TIMEOUT): a text is then admitted uncounted, and the throttle counts in
    the process's memory."""
    if not uri.startswith(("redis://", "rediss://")):
        return {}
    timeout = config["BROKER_PUBLISH_TIMEOUT"]
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def counted(sid: str | None) -> bool:
    """Whether the sender's rate counted the text `sid` (a MessageSid) within it in this
    request or job: a text the database then lost is received again (receive_and_commit's
    second pass, or a worker storing it, jobs.receive_later) without being counted again."""
    return sid in app_globals().get(_COUNTED_SIDS, ())


def note_counted(sid: str) -> None:
    """The text `sid` was counted within the sender's rate (in the request that took it, the
    worker storing it is told): `_sender_rate` lets it through uncounted from now on."""
    app_globals().setdefault(_COUNTED_SIDS, set()).add(sid)


_COUNTED_SIDS = "sender_rate_counted"


def _sender_rate(
    user: User, now: datetime, sid: str | None = None, count: bool = True
) -> Admission | None:
    """Counted (`count`), or read only: whether one more text is within the rate."""
    rate = app_config().get("SENDER_RATE")
    if not rate or counted(sid):
        return None
    limiter = _limiter()
    for item in parse_many(rate):
        try:
            take = limiter.hit if count else limiter.test
            within = take(item, _COUNTED_AS, user.phone_number)
        except Exception as exc:  # noqa: BLE001 (whatever the storage's client raises)
            # A counter that cannot be reached refuses nobody: the text is stored and
            # answered uncounted, as during a broker outage on the same Redis, instead of a
            # 500 that loses it once Twilio stops retrying.
            log.warning("SENDER_RATE_STORAGE_URI unreachable, %s not counted: %r", rate, exc)
            return None
        if not within:
            used_up = _used_up_until(rate, user.phone_number)
            if used_up is None:  # the window reset as it was read
                stats = limiter.get_window_stats(item, _COUNTED_AS, user.phone_number)
                used_up = (stats.reset_time, item.get_expiry())
            window = _rate_run(user, *used_up)
            return _refuse(user, RefusalReason.RATE_LIMITED, "rate_limited", window)
    if sid is not None and count:
        note_counted(sid)
    return None


def _used_up_until(rate: str, phone: str) -> tuple[float, int] | None:
    """When (a Unix time) the last of the sender's used-up SENDER_RATE windows resets, and
    that window's length in seconds: past both "10/minute" and "200/day", the day's; None
    when none is used up. Read from the storage that counts, without counting."""
    limiter = _limiter()
    used_up = []
    for item in parse_many(rate):
        stats = limiter.get_window_stats(item, _COUNTED_AS, phone)
        if stats.remaining == 0:
            used_up.append((stats.reset_time, item.get_expiry()))
    return max(used_up, default=None)


def _rate_run(user: User, lifts: float, length: int) -> str:
    """The run of refused texts one `rate_limited` notice covers, kept as the notice's
    window: until the sender may text again (`lifts`), and at most the used-up window's
    `length` from the run before. It is the last used-up window's reset, not the window
    that refused this text: past "10/minute;200/day" with the day used up, a text refused
    by the minute and the next by the day alternated the two windows and each brought a
    notice, two SMS a minute all day to a phone stuck resending. And a moving window frees
    one text at a time, each moving the reset on a little: told anew each time, a phone
    stuck resending got a notice after every text that got through, where a fixed window
    sent one per window; so a reset less than the window's length after the one kept is
    the same run. (A reset a moment earlier than the one kept is the same run too: Redis
    counters told it in whole seconds, which wandered across a second.)"""
    kept = user.service_state.get(f"{RefusalReason.RATE_LIMITED.value}_notice_window")
    kept_lifts, _slash, kept_length = str(kept).partition("/")
    try:
        if kept_length == str(length) and -1 < lifts - float(kept_lifts) < length:
            return kept
    except ValueError:
        pass  # one kept by an earlier version, as "1/minute@<reset>" or "<reset>"
    return f"{float(lifts)!r}/{length}"


def sender_rate_lifts(user: User, now: datetime | None = None) -> datetime:
    """When a texter refused `rate_limited` may be admitted again (_used_up_until); now,
    should none be used up any more (a window reset meanwhile)."""
    now = now or utcnow()
    rate = current_app.config.get("SENDER_RATE")
    used_up = _used_up_until(rate, user.phone_number) if rate else None
    return now if used_up is None else max(now, datetime.fromtimestamp(used_up[0], UTC))


# -- the service's daily cap --------------------------------------------------------------
#: The PostgreSQL advisory lock admissions under the daily cap take turns on ("sms_dcap").
DAILY_CAP_TURNS = 0x736D735F64636170


def daily_cap(day: date | None = None, *, taking_turns: bool = False) -> Decimal | None:
    """Today's cap: what staff raised it to today, else DAILY_SPEND_CAP; None when
    DAILY_SPEND_CAP is unset (no cap, and no query). `taking_turns` (an admission): on
    PostgreSQL the same statement waits for the admissions of other texters under way to
    commit (a transaction-long advisory lock), so the day's spend and answers under way
    read next include theirs. Each texter's admissions already took turns on their row;
    two texters' texts at the same moment each found room for one answer, both were taken,
    and the day went past the cap. (SQLite has one writer at a time, taken first.)"""
    configured = app_config().get("DAILY_SPEND_CAP")
    if configured is None:
        return None
    day = day or utcnow().date()
    raised = sa.select(SpendDay.cap_usd).where(SpendDay.day == day).scalar_subquery()
    query = sa.select(raised)
    if taking_turns and db.session.get_bind().dialect.name == "postgresql":
        query = query.add_columns(sa.func.pg_advisory_xact_lock(DAILY_CAP_TURNS))
    raised = db.session.execute(query).first()[0]
    return raised if raised is not None else money(configured)


class NoDailyCap(Exception):
    """There is no cap to raise: DAILY_SPEND_CAP is unset, so nothing caps the spend (a
    raised cap would be stored and never read, see daily_cap)."""


def raise_daily_cap(amount, day: date | None = None) -> SpendDay:
    """Staff lift today's cap (until midnight UTC); its alerts fire again at 80% and 100% of
    the new cap (only the 100% one used to, so no warning came before texters were refused
    again)."""
    if current_app.config.get("DAILY_SPEND_CAP") is None:
        raise NoDailyCap("no DAILY_SPEND_CAP is set: today's spend has no cap to raise")
    day = day or utcnow().date()
    record = db.session.get(SpendDay, day)
    if record is None:
        _spend_day_row(day)
        record = db.session.get(SpendDay, day)
    record.cap_usd = money(amount)
    for flag in CAP_ALERTS:
        setattr(record, flag, False)
    db.session.add(record)
    return record


def _spend_day_row(day: date) -> None:
    """The day's row, none found: stored unless another process stores it first. Two
    processes seeing the spend cross 80% at once both found none, and the second insert
    failed on the first's (a 500 for POST /api/tasks/); the conflict waits for the other's
    commit, and the row read next is the one both share."""
    insert = (postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite).insert
    db.session.execute(
        insert(SpendDay)
        .values(day=day, alerted_80=False, alerted_100=False, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=[SpendDay.day])
    )


def daily_cap_lifts(now: datetime | None = None) -> datetime | None:
    """When texters refused `daily_cap` now may be answered again (unless staff raise the
    cap sooner): the next midnight UTC, where the day the cap counts (report.day_start)
    ends. None with DAILY_SPEND_CAP=0: the next day's cap has no room either, and answers
    come back only when staff raise today's (told "until tomorrow", texters were refused
    again every day). The notices and the API's 429 say it."""
    configured = app_config().get("DAILY_SPEND_CAP")
    if configured is not None and money(configured) == 0:
        return None
    return report.day_start(now or utcnow()) + timedelta(days=1)


def _daily_cap(
    user: User, now: datetime, request: report.InFlight, received: Decimal
) -> Admission | None:
    cap = daily_cap(now.date(), taking_turns=True)
    if cap is None or _fits_the_day(user, now, request, received, cap):
        return None
    return _refuse(user, RefusalReason.DAILY_CAP, "paused", _cap_run(user, now.date()))


def _fits_the_day(
    user: User, now: datetime, request: report.InFlight, received: Decimal, cap: Decimal
) -> bool:
    """Whether today's cap has room for the request, claiming the alerts it reaches."""
    spent = spent_today(now, user) + received
    fits = _fits(spent, _request_cost(user, now, request, _this_answer(user)), cap)
    _alert_once(now.date(), spent, cap, answers_stop=not fits)
    return fits


def alert_daily_cap(user: User, now: datetime | None = None) -> None:
    """The daily cap's alerts as admitting a request from `user` claims them, alone: for a
    request refused in a transaction then rolled back (the API's 429), which took the
    claim and its page with it. The refusal that finds no room claims the alert that
    answers stop, so a service asked through the API alone refused every task at its cap
    and no alert ever came. The caller commits."""
    now = now or utcnow()
    cap = daily_cap(now.date())
    if cap is not None:
        _fits_the_day(user, now, A_TEXT, Decimal(0), cap)


def spent_today(now: datetime, besides: User | None = None) -> Decimal:
    """Today's spend with what is still to be paid for counted at what it may cost, as
    under the monthly cap: texts arriving together just under the cap were all admitted,
    each checked before any had cost a cent, and the day went past it by all their answers.
    Each texter's requests under way and MOREs' parts still to be sent (another texter's
    counted only for their own admissions, a day went past the cap by them) count at their
    own answer (tier, country, channel), after the program notice when theirs is due:
    counted at the admitted texter's, whether the service was paused depended on who asked
    (an enterprise texter refused while free ones were answered, a free one answered past
    the cap while enterprise answers were under way). `besides`: the texter being admitted,
    whose own MOREs and program notice their request counts (_request_cost)."""
    spent, under_way = report.today_and_under_way(now)
    return spent + _under_way_cost(under_way, now, besides)[1]


def under_way_today(now: datetime | None = None) -> tuple[int, Decimal]:
    """The answers under way that the daily cap counts (MOREs' parts to be sent too), and
    what it counts them at (what they may cost): what `flask spend today` shows beside the
    day's spend."""
    now = now or utcnow()
    return _under_way_cost(report.today_and_under_way(now)[1], now)


def _under_way_cost(
    under_way: list[report.UnderWay], now: datetime, besides: User | None = None
) -> tuple[int, Decimal]:
    """How many answers are under way, and what they may cost."""
    answers, cost = 0, Decimal(0)
    estimates: dict[tuple, Decimal] = {}
    for texter, in_flight in under_way:
        whatsapp = channels.is_whatsapp(texter)
        key = (texter.tier, country_of(texter.phone_number), whatsapp)
        if key not in estimates:
            estimates[key] = _answer_estimate(texter.tier, texter.phone_number, whatsapp)
        if besides is None or texter.phone_number != besides.phone_number:
            in_flight = _with_mores(texter, now, in_flight)
            cost += _program_notice_cost(texter) if in_flight.answers else Decimal(0)
        answers += in_flight.answers
        cost += _in_flight_estimate(in_flight, estimates[key])
    return answers, cost


def _with_mores(user: User, now: datetime, request: report.InFlight) -> report.InFlight:
    """`request` and the parts of the texter's MOREs not sent yet, counted as answers."""
    return request._replace(answers=request.answers + user.more_parts_pending(now))


def _in_flight_estimate(in_flight: report.InFlight, answer: Decimal) -> Decimal:
    """What requests under way may still cost: their answers, and reading the pictures and
    voice notes they came with (a voice note's transcription, billed by the minute, may
    cost more than its answer)."""
    attachments = estimate_attachments(in_flight.pictures, in_flight.voice_notes)
    return in_flight.answers * answer + attachments


def answers_paused(user: User, now: datetime | None = None) -> bool:
    """Whether the daily cap pauses answers now (what a text from `user` would be told);
    no query when DAILY_SPEND_CAP is unset."""
    now = now or utcnow()
    cap = daily_cap(now.date())
    if cap is None:
        return False
    answer = _request_cost(user, now, A_TEXT, _this_answer(user))
    return not _fits(spent_today(now, user), answer, cap)


def _request_cost(user: User, now: datetime, request: report.InFlight, answer: Decimal) -> Decimal:
    """What a cap must have room for to take `request` from `user`, each answer at
    `answer`, for admitting a text and for what USAGE and HELP say of it alike (read apart,
    they told a texter answers came while their next question was refused): its answer and
    attachments, the parts of the texter's earlier MOREs not sent yet, counted as answers
    under way (User.more_parts_pending), and the program notice their next SMS follows when
    they have had none on this channel: uncounted, a number's first answer took the spend
    past the cap by that notice."""
    return _in_flight_estimate(_with_mores(user, now, request), answer) + _program_notice_cost(user)


def _program_notice_cost(user: User) -> Decimal:
    if not program_notice.due(user):
        return Decimal(0)
    segments = segment_count(program_notice.text(user, user.help_language))
    return estimate_sms(user.phone_number, segments, channels.is_whatsapp(user))


def _fits(counted: Decimal, answer: Decimal, cap: Decimal) -> bool:
    """Whether a cap has room for one more answer (`answer`, what it may cost) on top of
    what it counts already (spent, and the answers under way): checking what was counted
    alone admitted a text just under the cap, whose answer then took the spend past it.
    A cap of 0 has no room, even for an answer priced at nothing."""
    return counted < cap and counted + answer <= cap


def _alert_once(day: date, spent: Decimal, cap: Decimal, answers_stop: bool) -> None:
    """Each alert once a day, decided by a conditional UPDATE, so two processes that see
    the spend cross a threshold at once send it once between them. The 100% one goes when
    answers stop (`answers_stop`: the cap has no room for the next answer), which may be
    a little before the spend is the whole cap. A cap of 0 (DAILY_SPEND_CAP=0, or raised
    to 0) is a pause staff chose: it alerts not at all, where it paged every day."""
    if not cap:
        return
    reached = {"alerted_80": spent >= cap * CAP_ALERTS["alerted_80"], "alerted_100": answers_stop}
    due = [flag for flag in CAP_ALERTS if reached[flag]]
    if not due:
        return
    if db.session.get(SpendDay, day) is None:
        _spend_day_row(day)
    for flag in due:
        column = getattr(SpendDay, flag)
        claimed = db.session.execute(
            sa.update(SpendDay)
            .where(SpendDay.day == day, column.is_(False))
            .values({flag: True})
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed:
            share = int(CAP_ALERTS[flag] * 100)
            said = f"spent {spent} USD today (answers under way included)"
            if share < 100:
                # The share spent, not the alert's: a day past 80% and 100% at once (a large
                # spend, a cap lowered below it) was said to be at 80% of a cap passed.
                said += f", {int(spent * 100 / cap)}% of the daily cap of {cap} USD"
            else:
                until = "tomorrow" if daily_cap_lifts() else "staff raise it"
                said += (
                    f" of the daily cap of {cap} USD, which has no room for another answer; "
                    f"only keywords are answered until {until}"
                )
            alerts.alert_after_commit("daily_spend_cap", said, level=share)


# -- the texter's monthly cap -------------------------------------------------------------
def monthly_cap(tier: str) -> Decimal | None:
    configured = app_config().get(f"SPEND_CAP_{tier.upper()}")
    return None if configured is None else money(configured)


def no_answers(tier: str) -> bool:
    """Whether texters of `tier` get no AI answers in any month: its quota is 0
    (QUOTA_<TIER>=0) or its monthly spend cap is (SPEND_CAP_<TIER>=0), and neither lifts on
    the 1st, so the notices name no date for answers to come back (notices.compose)."""
    return quota.monthly_limit(tier) == 0 or monthly_cap(tier) == 0


def spend_cap_lifts(now: datetime | None = None) -> datetime:
    """When a texter refused `over_spend` now may be answered again: the start of the next
    UTC month, whatever their timezone, because the cap counts the UTC month (below). The
    notice and the API's 429 both say it, so they cannot disagree."""
    return first_of_next_month(now or utcnow())


def _spend_cap(
    user: User, now: datetime, request: report.InFlight, received: Decimal
) -> Admission | None:
    """The cap's month is the UTC month the spend reports count, not the texter's: a month
    in their timezone moved with it, and moving east at a month's end, where the next one
    had begun, brought a fresh cap a day early."""
    if spend_cap_reached(user, now, request, received) is None:
        return None
    run = _cap_run(user, report.month_start(now))
    return _refuse(user, RefusalReason.OVER_SPEND, "spend_cap", run)


def spend_cap_reached(
    user: User,
    now: datetime | None = None,
    request: report.InFlight = A_TEXT,
    received: Decimal = Decimal(0),
) -> Decimal | None:
    """The monthly spend cap of the texter's tier, when it has no room for their next
    request this UTC month (its answer, and the attachments read before it: texts are
    refused `over_spend`); None when it has, or their tier has none.

    Their requests still being answered count at what an answer may cost: a texter just
    under the cap who sent ten texts at once had all ten admitted, each checked before any
    had cost a cent, and went past the cap by ten answers. (Admissions of one texter take
    turns under their row's lock, so each sees the ones before it.) What receiving this
    text cost (`received`) is spent whether it is answered or not: counted, a text whose
    answer just fitted no longer takes the spend past the cap by its receipt."""
    cap = monthly_cap(user.tier)
    if cap is None:
        return None
    now = now or utcnow()
    spent, in_flight = report.spent_and_in_flight(user.phone_number, report.month_start(now))
    answer = _this_answer(user)
    this = _request_cost(user, now, request, answer)
    if _fits(spent + received + _in_flight_estimate(in_flight, answer), this, cap):
        return None
    return cap


def _this_answer(user: User) -> Decimal:
    """What the answer to a text from `user` may cost. A WhatsApp texter's answers are one
    message each: counted at the tier's SMS, a few texts at once far under the cap were
    refused and told the month's cap was reached."""
    return _answer_estimate(user.tier, user.phone_number, channels.is_whatsapp(user))


def _answer_estimate(tier: str, phone: str, whatsapp: bool) -> Decimal:
    """What one answer to the texter of `phone` may cost: their tier's segments, or on
    WhatsApp one message at WhatsApp's price (the rest waits for MORE), and the tokens the
    tier allows (with a reasoning model's thinking)."""
    segments = quota.segment_budget(tier)
    tokens = max_tokens(segments) + int(current_app.config.get("OPENAI_REASONING_TOKENS") or 0)
    return estimate_answer(phone, segments, tokens, whatsapp)


def _cap_run(user: User, period: date | datetime) -> str:
    """The run of texts one cap's notice covers: the cap's day or month, until a request is
    admitted again (last_active, as _quota_run). A texter answered again under a higher cap
    (staff raised today's, or moved them to a tier with a higher one) who reaches it is
    told again, as the quota tells them after a reset; with the period alone they met
    silence the second time, as if the service had broken. So is one refused on answers
    still under way, which then cost less than they might: answered again, and silent once
    the cap was reached. Not the cap itself: each `flask spend raise-cap` (or a move to
    another tier) that still left a texter without room told them again, answered nothing
    in between."""
    return f"{period.isoformat()}#{_last_admitted(user)}"
