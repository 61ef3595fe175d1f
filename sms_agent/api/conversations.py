"""/api/conversations/ and a texter's thread: who answers each texter (ai, waiting, staff),
the messages both ways, and staff taking a conversation over and handing it back."""

from __future__ import annotations

from collections.abc import Sequence

from .. import handoff, inbox, threads, unseen
from ..extensions import db
from ..models import User
from . import bp, cursors
from .auth import current_staff, scope_to_caller, sees_staff_details, staff_only
from .errors import conflict
from .filters import ConversationQuery, MessageQuery
from .operations import operation
from .pagination import page_size, paginate, url_with
from .requests import load_body, load_query
from .schemas import ConversationOut, MessageOut, ReadIn, ReleaseIn, TakeoverIn, kept
from .users import USER_PATH, get_user_or_404


def dump_conversations(users: Sequence[User]) -> list[dict]:
    entries = inbox.entries(users, staff_names=sees_staff_details())
    return kept(ConversationOut, many=True).dump(entries)


def dump_messages(rows) -> list[dict]:
    return kept(MessageOut, many=True).dump(threads.load(rows, staff_names=sees_staff_details()))


@bp.get("/conversations/")
@operation("conversations", query=ConversationQuery, response=ConversationOut, paginated=True)
def list_conversations():
    """List conversations, latest activity first.

    `state` is ai, waiting (the texter or the model asked for a person) or staff (a staff
    member holds it). `unread` counts the texts held for staff that nobody opened yet.
    """
    query = load_query(kept(ConversationQuery))
    statement = inbox.listing(state=query.get("state")).where(*scope_to_caller(User.phone_number))
    return paginate(statement, query, dump_conversations)


@bp.get(USER_PATH + "messages/")
@operation("conversations", query=MessageQuery, response=MessageOut, paginated=True, cursor=True)
def list_messages(phone_number: str):
    """A texter's thread both ways, oldest first within a page.

    Page 1 holds the newest messages. Every answer has a `cursor`: pass it back as `cursor`
    to get the messages committed since, oldest first, and poll on with the `cursor` of each
    answer (`next` is set while the messages waiting fill more than a page); none is missed,
    whatever time its writer stamped on it, and none comes twice from cursor to cursor (one
    committed while the first list was read may come again). With `after` (a time), only
    messages created later, page 1 the oldest of them; a message stamped earlier but
    committed later is skipped. A texter's token reads its own thread, where staff messages
    are by "staff". Reading changes nothing: the texts held for staff stay unread until a
    POST to `read/`.
    """
    user = get_user_or_404(phone_number)
    query = load_query(kept(MessageQuery))
    if "cursor" in query:
        return _messages_since(user.phone_number, query["cursor"], query)
    # Marked before the page is read: a message committed meanwhile may come again from
    # the cursor, but cannot be missed.
    start = threads.start()
    after = query.get("after")
    statement = threads.index(user.phone_number, after, oldest_first=after is not None)
    listed = paginate(statement, query, dump_messages, rows=True)
    return {**listed, "cursor": cursors.encode(start)}


def _messages_since(phone: str, position: threads.Position, query: dict) -> dict:
    rows, count, position = threads.read_since(phone, position, page_size(query))
    cursor = cursors.encode(position)
    return {
        "count": count,
        "next": url_with("cursor", cursor) if position.until is not None else None,
        "previous": None,
        "results": dump_messages(rows),
        "cursor": cursor,
    }


@bp.post(USER_PATH + "takeover/")
@operation("conversations", body=TakeoverIn, response=ConversationOut, errors=(409,))
@staff_only
def take_over(phone_number: str):
    """Take the conversation over: the AI stays out of it until it is released.

    409 when another staff member holds it, unless `force` is true.
    """
    return _change_hands(handoff.take_over, phone_number, kept(TakeoverIn))


@bp.post(USER_PATH + "release/")
@operation("conversations", body=ReleaseIn, response=ConversationOut, errors=(409,))
@staff_only
def release(phone_number: str):
    """Hand the conversation back to the AI: it answers the texter's next text.

    409 when another staff member holds it (one may have taken it since the caller looked),
    unless `force` is true. The texts held for staff are read: send the `unread` you were
    shown, so that a text held since, which you never saw, is answered by the AI (once).
    """
    return _change_hands(handoff.release, phone_number, kept(ReleaseIn))


def _change_hands(change, phone_number: str, schema) -> dict:
    """Take over or release as the caller: a conversation another staff member holds is a
    409 naming them (`held_by`), unless the body says `force`."""
    user = get_user_or_404(phone_number)
    data = load_body(schema)
    try:
        done = change(user, current_staff(), **data)
    except handoff.HeldByOther as exc:
        db.session.rollback()
        raise conflict(str(exc), held_by=exc.holder) from None
    db.session.commit()
    if isinstance(done, unseen.Owed):  # a release: what the texter is owed, once committed
        done.enqueue()
    return dump_conversations([user])[0]


@bp.post(USER_PATH + "read/")
@operation("conversations", body=ReadIn, response=ConversationOut)
@staff_only
def mark_read(phone_number: str):
    """Mark the texts held for staff read: the conversation's `unread` becomes 0.

    Reading the thread (a GET) never does this, so a monitoring script or a prefetch leaves
    the inbox as staff see it; call this when a person has read the thread. Send the
    `unread` they were shown, so that a text held since stays unread.
    """
    user = get_user_or_404(phone_number)
    data = load_body(kept(ReadIn))
    handoff.mark_read(user.phone_number, data["unread"])
    db.session.commit()
    return dump_conversations([user])[0]
