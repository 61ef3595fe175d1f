"""/api/conversations/ and a texter's thread: who answers each texter (ai, waiting, staff),
the messages both ways, and staff taking a conversation over and handing it back."""

from __future__ import annotations

from collections.abc import Sequence

from .. import handoff, inbox, threads
from ..extensions import db
from ..models import User
from . import bp
from .auth import current_staff, scope_to_caller, sees_staff_names, staff_only
from .errors import conflict
from .filters import ConversationQuery, MessageQuery
from .operations import operation
from .pagination import paginate
from .requests import load_body, load_query
from .schemas import ConversationOut, MessageOut, ReadIn, ReleaseIn, TakeoverIn
from .users import USER_PATH, get_user_or_404


def dump_conversations(users: Sequence[User]) -> list[dict]:
    entries = inbox.entries(users, staff_names=sees_staff_names())
    return ConversationOut(many=True).dump(entries)


def dump_messages(rows) -> list[dict]:
    return MessageOut(many=True).dump(threads.load(rows, staff_names=sees_staff_names()))


@bp.get("/conversations/")
@operation("conversations", query=ConversationQuery, response=ConversationOut, paginated=True)
def list_conversations():
    """List conversations, latest activity first.

    `state` is ai, waiting (the texter or the model asked for a person) or staff (a staff
    member holds it). `unread` counts the texts held for staff that nobody opened yet.
    """
    query = load_query(ConversationQuery())
    statement = inbox.listing(state=query.get("state")).where(*scope_to_caller(User.phone_number))
    return paginate(statement, query, dump_conversations)


@bp.get(USER_PATH + "messages/")
@operation("conversations", query=MessageQuery, response=MessageOut, paginated=True)
def list_messages(phone_number: str):
    """A texter's thread both ways, oldest first within a page.

    Page 1 holds the newest messages. With `after`, only later messages, and page 1 holds
    the oldest of them: poll with the `created_at` of the last message you have. A texter's
    token reads its own thread, where staff messages are by "staff".
    """
    user = get_user_or_404(phone_number)
    query = load_query(MessageQuery())
    after = query.get("after")
    statement = threads.index(user.phone_number, after, oldest_first=after is not None)
    return paginate(statement, query, dump_messages, rows=True)


@bp.post(USER_PATH + "takeover/")
@operation("conversations", body=TakeoverIn, response=ConversationOut, errors=(409,))
@staff_only
def take_over(phone_number: str):
    """Take the conversation over: the AI stays out of it until it is released.

    409 when another staff member holds it, unless `force` is true.
    """
    user = get_user_or_404(phone_number)
    data = load_body(TakeoverIn())
    staff = current_staff()
    try:
        handoff.take_over(user, staff, force=data["force"])
    except handoff.HeldByOther as exc:
        db.session.rollback()
        raise conflict(str(exc), held_by=exc.holder) from None
    db.session.commit()
    return dump_conversations([user])[0]


@bp.post(USER_PATH + "release/")
@operation("conversations", body=ReleaseIn, response=ConversationOut)
@staff_only
def release(phone_number: str):
    """Hand the conversation back to the AI: it answers the texter's next text."""
    user = get_user_or_404(phone_number)
    load_body(ReleaseIn())
    handoff.release(user)
    db.session.commit()
    return dump_conversations([user])[0]


@bp.post(USER_PATH + "read/")
@operation("conversations", body=ReadIn, response=ConversationOut)
@staff_only
def mark_read(phone_number: str):
    """Mark the texts held for staff read: the conversation's `unread` becomes 0.

    Reading the thread (a GET) never does this, so a monitoring script or a prefetch leaves
    the inbox as staff see it; call this when a person has read the thread.
    """
    user = get_user_or_404(phone_number)
    load_body(ReadIn())
    handoff.mark_read(user.phone_number)
    db.session.commit()
    return dump_conversations([user])[0]
