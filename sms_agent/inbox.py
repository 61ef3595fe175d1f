"""The staff inbox: texters' conversations by latest activity, with who answers each (ai,
waiting, staff), who holds it and what staff have not read. The admin's Inbox and the API's
conversations list read it here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import Conversation, ConversationState, User
from .threads import holder_name

#: States in which a conversation needs staff: someone asked for a person, or staff have it.
NEEDS_STAFF = (ConversationState.WAITING.value, ConversationState.STAFF.value)


@dataclass(frozen=True)
class Entry:
    user_phone: str
    full_name: str
    state: str
    held_by: str | None
    #: None for a texter staff or the API added who has not texted and got no text yet.
    last_message_at: datetime | None
    unread: int
    opted_out: bool
    #: False for a texter staff made inactive: their texts are refused, as an opted-out one's.
    active: bool = True


def last_activity() -> sa.ColumnElement:
    """The later of the texter's last admitted request and the conversation's last message
    (held texts and staff replies, which leave User.last_active alone); NULL for a texter
    staff or the API added who has neither."""
    return sa.case(
        (User.last_active.is_(None), Conversation.last_message_at),
        (Conversation.last_message_at > User.last_active, Conversation.last_message_at),
        else_=User.last_active,
    )


def listing(state: str | None = None, needs_staff: bool = False) -> sa.Select:
    """Texters (User rows), latest activity first; only those in `state`, or only those
    that need staff."""
    statement = sa.select(User).outerjoin(
        Conversation, Conversation.user_phone == User.phone_number
    )
    if state:
        statement = statement.where(User.conversation_state == state)
    elif needs_staff:
        statement = statement.where(User.conversation_state.in_(NEEDS_STAFF))
    # Those with no activity last on both databases (PostgreSQL puts NULLs first downward).
    return statement.order_by(last_activity().desc().nulls_last(), User.phone_number)


def entries(users: Sequence[User], *, staff_names: bool = True) -> list[Entry]:
    """One entry per texter, their conversations fetched in one query; without
    `staff_names`, a holder is only "staff" (for a texter's eyes, see threads.STAFF)."""
    phones = [user.phone_number for user in users]
    conversations = {
        conversation.user_phone: conversation
        for conversation in db.session.scalars(
            sa.select(Conversation)
            .options(selectinload(Conversation.held_by))
            .where(Conversation.user_phone.in_(phones))
        )
    }
    return [_entry(user, conversations.get(user.phone_number), staff_names) for user in users]


def entry_for(user: User) -> Entry:
    return entries([user])[0]


def _entry(user: User, conversation: Conversation | None, staff_names: bool) -> Entry:
    latest = user.last_active
    if conversation is not None and (latest is None or conversation.last_message_at > latest):
        latest = conversation.last_message_at
    holder = conversation.held_by if conversation is not None else None
    return Entry(
        user_phone=user.phone_number,
        full_name=user.full_name or "",
        state=user.conversation_state,
        held_by=holder_name(holder.username if holder is not None else None, staff_names),
        last_message_at=latest,
        unread=conversation.unread if conversation is not None else 0,
        opted_out=user.is_opted_out,
        active=user.is_active,
    )
