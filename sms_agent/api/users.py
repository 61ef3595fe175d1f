"""/api/users/: texters, with their task statistics, tier changes and direct messages."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .. import costs, handoff, jobs, outbound, quota
from ..extensions import db
from ..inbound.media import UnservedChannel, texter_phone
from ..models import User, utcnow
from ..phones import InvalidPhoneNumber, mask
from ..user_stats import stats_column, stats_of
from . import bp
from .auth import current_staff, forbid_fields, owns, scope_to_caller, staff_only
from .errors import (
    ApiError,
    bad_request,
    conflict,
    country_not_allowed,
    field_errors,
    inactive,
    key_reused,
    not_found,
    opted_out,
    outside_window,
)
from .etags import require_unchanged
from .filters import USER_ORDERING, UserQuery, ordering, user_conditions
from .list_statements import kept_statement
from .operations import operation
from .pagination import paginate
from .requests import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, load_body, load_query
from .schemas import (
    SendMessageIn,
    SendMessageOut,
    UpdateTierIn,
    UpdateTierOut,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
    kept,
)

log = logging.getLogger("sms_agent.api")

#: What a texter may change on their own record; tier and activation stay with staff.
TEXTER_FIELDS = {"email", "full_name", "timezone", "preferences"}
USER_PATH = "/users/<phone_number>/"


#: What a user's entry shows of their own row: UserOut's fields that are its columns, each
#: as the list sorts by it, so a cursor carries the value shown (`monthly_requests`: the
#: running window's count, not the stored one).
SHOWN = [
    USER_ORDERING[name] if name in USER_ORDERING else getattr(User, name)
    for name in kept(UserOut).fields
    if hasattr(User, name)
]


def listed(statement: sa.Select) -> sa.Select:
    """`statement`, a select of users' rows, with each one's spend, all time and this month
    (costs.report.texter_spend), and their stats (user_stats.stats_column), in the same
    statement rather than more per page."""
    return statement.with_only_columns(*SHOWN, *_derived_columns())


@functools.cache
def _derived_columns() -> tuple[sa.Label, sa.Label, sa.Label]:
    """Built once: the month the spend reads is a parameter taken when the statement runs."""
    return (
        costs.report.texter_spend(User.phone_number).label("spent_micro"),
        costs.report.texter_spend(User.phone_number, this_month=True).label("spent_month_micro"),
        stats_column(User.phone_number),
    )


def dump_users(rows: Sequence[sa.Row]) -> list[dict]:
    """Users' entries from their `listed` rows, their stats read from the same rows.
    `monthly_requests` is the count of the running window (quota.used_in_sql): 0
    once the texter's month has ended, which their stored count only shows after their next
    request."""
    names = rows[0]._fields if rows else ()
    entries = []
    now = utcnow()
    for row in rows:
        entry = dict(zip(names, row, strict=True))  # a third of what copying `row._mapping` costs
        # The end of the window `monthly_requests` counts, not an ended one's.
        entry["rate_limit_reset"] = quota.end_of_running_window(
            entry["rate_limit_reset"], entry["timezone"], now
        )
        entry["stats"] = stats_of(entry["stats"])
        entry["cost_usd"] = costs.report.usd(entry["spent_micro"])
        entry["cost_this_month_usd"] = costs.report.usd(entry["spent_month_micro"])
        entries.append(entry)
    return kept(UserOut, many=True).dump(entries)


def dump_records(users: Sequence[User]) -> list[dict]:
    """The entries of users at hand as records (one, for a GET or a change of it), as the
    list shows them, in the order given."""
    phones = [user.phone_number for user in users]
    statement = listed(sa.select(User).where(User.phone_number.in_(phones)))
    rows = {row.phone_number: row for row in db.session.execute(statement)}
    return dump_users([rows[phone] for phone in phones])


def get_user_or_404(phone_number: str) -> User:
    """The user at this URL; a texter asking about someone else gets the same 404 as a
    number nobody has. A number that cannot be read is a 400 saying why, as in a body (a
    "No such user." sent a client with a number lacking its area code to create one)."""
    try:
        phone = texter_phone(phone_number)
    except (InvalidPhoneNumber, UnservedChannel) as exc:
        raise bad_request(
            "The phone number in the URL cannot be read.", phone_number=[str(exc)]
        ) from None
    user = db.session.get(User, phone) if owns(phone) else None
    if user is None:
        raise not_found("user")
    return user


@bp.get("/users/")
@operation("users", query=UserQuery, response=UserOut, paginated=True)
def list_users():
    """List users, newest first, with their task statistics.

    Texters' tokens see only their own record.
    """
    query = load_query(kept(UserQuery))
    order = ordering(query, [USER_ORDERING["created_at"].desc()], User.phone_number)
    statement = kept_statement(
        lambda: (
            sa.select(User)
            .where(*user_conditions(query), *scope_to_caller(User.phone_number))
            .order_by(*order)
        )
    )
    return paginate(statement, query, dump_users, rows=True, order=order, shown=listed)


@bp.post("/users/")
@operation("users", body=UserCreateIn, response=UserOut, status=201)
@staff_only
def create_user():
    """Create a user (a texter's phone number); 409 if a user has this number already."""
    data = load_body(kept(UserCreateIn))
    if db.session.get(User, data["phone_number"]) is not None:
        raise _number_taken()
    user = User(**data)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Someone created the same number between our check and our commit.
        db.session.rollback()
        raise _number_taken() from None
    return dump_records([user])[0], 201


def _number_taken() -> ApiError:
    """409, as the user is there already; the details name the field, as a 400's would."""
    message = "A user with this phone number already exists."
    return conflict(message, phone_number=[message])


@bp.get(USER_PATH)
@operation("users", response=UserOut)
def get_user(phone_number: str):
    """One user, with their task statistics."""
    return dump_records([get_user_or_404(phone_number)])[0]


@bp.patch(USER_PATH)
@operation("users", body=UserUpdateIn, response=UserOut)
def update_user(phone_number: str):
    """Change a user's details: only the fields sent.

    No PUT: a user is never replaced whole (their number, counts and opt-out are not the
    caller's to send), so a client sends what it changes.

    A tier change follows the same rule as update_tier/: an upgrade resets the monthly count.
    Texters may change their own email, full_name, timezone and preferences.
    """
    user = get_user_or_404(phone_number)
    schema = kept(UserUpdateIn)
    data = load_body(schema, partial=True)
    forbid_fields(data, TEXTER_FIELDS, schema)
    require_unchanged(user, dump_records)
    old_tier = quota.change_tier(user, data.pop("tier")) if "tier" in data else user.tier
    for name, value in data.items():
        setattr(user, name, value)
    db.session.commit()
    jobs.enqueue_tier_change_notices([(user, old_tier)])
    return dump_records([user])[0]


@bp.delete(USER_PATH)
@operation("users", status=204)
@staff_only
def delete_user(phone_number: str):
    """Delete a user and their tasks.

    The SMS and model calls they cost stay in the service's spend, without their number or
    text, so nothing of theirs reaches the next texter of the number (models/forgetting.py).
    """
    user = get_user_or_404(phone_number)
    require_unchanged(user, dump_records)
    db.session.delete(user)
    db.session.commit()
    return "", 204


@bp.post(USER_PATH + "send_message/")
@operation(
    "users",
    body=SendMessageIn,
    response=SendMessageOut,
    errors=(403, 409, 422, 502),
    headers=(IDEMPOTENCY_KEY_PARAMETER,),
)
@staff_only
def send_message(phone_number: str):
    """Text this user a message now (refused with 409 if they texted STOP, if their account
    is inactive, or if they use WhatsApp and have not written within its 24-hour window;
    403 if their number is outside ALLOWED_COUNTRIES; 400 if nothing is left of the message
    once formatted for SMS, such as only spaces or invisible characters, or if it is longer
    than one WhatsApp message to a WhatsApp texter: 1,600 characters as Twilio counts them,
    an emoji two).

    Works whoever answers the texter (ai, waiting, staff); the caller is recorded as the
    author, and a conversation waiting for a person becomes theirs. With an Idempotency-Key
    header, a repeat of a request that was sent answers 409 (`already_sent`, with the
    first request's `message_sid`, `messages` and `shortened`) and texts nothing: a client
    may retry after a timeout without texting twice, however many sends came between. The
    same key with another message is a 422 (`key_reused`), and nothing is sent.
    """
    user = get_user_or_404(phone_number)
    data = load_body(kept(SendMessageIn))
    if (too_long := outbound.reply_too_long(user, data["message"])) is not None:
        raise field_errors({"message": [too_long]})
    key = idempotency_key()
    staff = current_staff()
    shaped = outbound.plan(user, data["message"], by_staff=True)
    try:
        with jobs.sids_stored_later():
            messages = handoff.send_as_staff(
                user,
                shaped,
                staff,
                kind="api",
                submission=None if key is None else f"api:{staff.id}:{key}",
                asked=handoff.fingerprint(data["message"]),
            )
    except handoff.NothingToSend as exc:
        raise field_errors({"message": [str(exc)]}) from None
    except handoff.AlreadySent as exc:
        raise conflict(
            "Already sent: a request with this Idempotency-Key was sent before.",
            reason="already_sent",
            **exc.answer,
        ) from None
    except handoff.KeyReused:
        raise key_reused("message") from None
    except handoff.InactiveTexter as exc:
        raise inactive(f"Not sent: {exc}.") from None
    except outbound.OutsideWindow as exc:
        raise outside_window(user, f"Not sent: {exc}.") from None
    except outbound.OptedOut:
        db.session.commit()  # keeps an opt-out Twilio may have just reported
        raise opted_out() from None
    except outbound.CountryNotAllowed as exc:
        db.session.commit()  # keeps the error log for staff
        raise country_not_allowed(exc) from None
    except outbound.SendFailed as exc:
        db.session.commit()  # keeps the failed message and its error log for staff
        raise ApiError(502, "The SMS provider refused the message.", {"reason": str(exc)}) from None
    db.session.commit()
    return {
        "message_sid": messages[0].sid if messages else None,
        "messages": len(messages),
        "shortened": shaped.cut,
    }


@bp.post(USER_PATH + "update_tier/")
@operation("users", body=UpdateTierIn, response=UpdateTierOut)
@staff_only
def update_tier(phone_number: str):
    """Move a user to another tier; an upgrade to a paid tier resets their monthly count."""
    user = get_user_or_404(phone_number)
    data = load_body(kept(UpdateTierIn))
    try:
        old_tier = quota.change_tier(user, data["tier"])
    except quota.UnknownTier as exc:
        raise field_errors({"tier": [str(exc)]}) from None
    new_tier = user.tier  # read back after the commit, it could be a change made since
    db.session.commit()
    jobs.enqueue_tier_change_notices([(user, old_tier)])
    log.info(
        "tier of %s changed %s -> %s: %s",
        mask(user.phone_number),
        old_tier,
        new_tier,
        data.get("reason") or "no reason given",
    )
    if old_tier == new_tier:
        message = f"Already on {new_tier}: nothing changed."
    else:
        message = f"Tier changed from {old_tier} to {new_tier}."
    return {
        "message": message,
        "old_tier": old_tier,
        "new_tier": new_tier,
    }
