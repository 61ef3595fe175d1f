"""Who answers a texter: the AI, or staff. A texter (a keyword) or the model (its
request_human tool) asks for a person; the conversation waits for staff, a staff member
takes it over and replies, and it goes back to the AI when staff release it or after
HANDOFF_IDLE_MINUTES without a staff reply.

While it waits or is with staff, the texter's texts are stored for staff (held), never sent
to the model nor counted against the quota. Functions here add and flush; callers commit.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.exc import ObjectDeletedError

from . import notices, outbound, unseen
from .extensions import db, listen_on_every_session
from .models import (
    Conversation,
    ConversationState,
    HandoffSource,
    OutboundMessage,
    RefusalReason,
    SentSubmission,
    StaffUser,
    Task,
    User,
    lock_texter,
    relock_bookkeeping,
    utcnow,
)
from .outbound import channels

AI, WAITING, STAFF = (state.value for state in ConversationState)


class HeldByOther(Exception):
    """Another staff member holds the conversation; taking it over needs `force`, or their
    hold confirmed (`confirmed_holder_id`: the admin asks first, naming `holder`)."""

    def __init__(self, holder: StaffUser) -> None:
        super().__init__(f"{holder.username} is handling this conversation.")
        self.holder, self.holder_id = holder.username, holder.id


class NothingToSend(ValueError):
    """The staff message is empty once shaped for the texter's phone (only spaces or
    invisible characters): nothing would be sent, so nothing is done."""

    def __init__(self) -> None:
        super().__init__(
            "Nothing is left to send after formatting: the message is only spaces or "
            "invisible characters, so write some text (emoji alone are sent as written)."
        )


class AlreadySent(Exception):
    """This form submission was sent once already (a double click, a browser resend);
    `answer` is what its first request was answered (message_sid, messages, shortened),
    `task_id` the task it created, if it was the API's creation of one."""

    def __init__(self, first: dict) -> None:
        super().__init__()
        self.task_id = first.pop("task_id", None)
        self.answer = first


class KeyReused(Exception):
    """This submission's key was sent before with another request (another text): a client
    that reuses its keys, not a retry. Nothing is sent, and the first request stands."""


def fingerprint(text: str) -> str:
    """What a keyed request asked for, as stored with its key: the SHA-256 of its text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class InactiveTexter(Exception):
    """The texter's account is deactivated: the service sends them nothing (no answer, no
    notice), and staff's texts are no exception; staff reactivate them first."""

    def __init__(self) -> None:
        super().__init__("this texter is inactive (their account is deactivated)")


#: What staff are told about a texter who opted out: nothing goes to them until START.
OPTED_OUT_REASON = "this texter has opted out (they texted STOP)"


def why_nothing_reaches(user: User) -> str | None:
    """Why the service may send `user` nothing at all, staff's texts and answers alike:
    their account is inactive, or they opted out."""
    if not user.is_active:
        return str(InactiveTexter())
    if user.is_opted_out:
        return OPTED_OUT_REASON
    return None


def why_staff_cannot_text(user: User) -> str | None:
    """Why a text from staff to `user` would be refused, for the conversation page to say
    before staff type one (a WhatsApp texter whose window closed included: the page let
    staff write a reply that was then refused). send_as_staff still decides when it sends,
    under the lock."""
    if (refused := why_nothing_reaches(user)) is not None:
        return refused
    if (refused := outbound.destination_problem(user.phone_number)) is not None:
        return refused.explained
    return channels.window_problem(user)


def find(phone: str) -> Conversation | None:
    return db.session.get(Conversation, phone)


def conversation_for(user: User) -> Conversation:
    """The texter's conversation row, made on first need (who answers is on User)."""
    conversation = find(user.phone_number)
    if conversation is None:
        # Made by a takeover, say: no message yet, so the texter's own last activity.
        conversation = Conversation(
            user_phone=user.phone_number, unread=0, last_message_at=user.last_active or utcnow()
        )
        db.session.add(conversation)
        db.session.flush()
    return conversation


def is_held(user: User) -> bool:
    """Whether a text from this texter now goes to staff rather than to the model."""
    return user.conversation_state != AI


def request_human(user: User, source: HandoffSource | str) -> bool:
    """The texter (or the model for them) asks for a person; True when the conversation
    starts waiting now (staff are alerted then), False when staff were already asked or
    already have it."""
    conversation = conversation_for(user)
    now = utcnow()
    conversation.last_texter_at = conversation.last_message_at = now
    if user.conversation_state != AI:
        return False
    user.conversation_state = WAITING
    conversation.held_by = None
    conversation.handoff_source = str(source)
    conversation.requested_at = conversation.staff_clock_at = now
    return True


def hold_text(user: User) -> None:
    """A text stored for staff: one more unread, added in SQL to the count the row has when
    written, not the one read here: a held text another process deleted meanwhile (which
    takes itself off the count) is not put back."""
    conversation = conversation_for(user)
    conversation.unread = Conversation.unread + 1
    conversation.last_texter_at = conversation.last_message_at = utcnow()


def _unread_leaves_with_held_texts(session, _context, _instances) -> None:
    """A held text deleted (by any writer through the ORM: the admin's row or bulk delete,
    the API) before staff read it is no longer there to read, so the count drops with it.

    The unread texts are the newest held ones (each hold adds one, reading empties the
    count): a deleted one was unread when fewer than `unread` held texts are newer. Taken
    oldest first, each sees the count the older ones left, and judged in SQL, so a text
    held meanwhile by another process counts. A deleted texter's count goes with their
    conversation (ON DELETE CASCADE)."""
    held = RefusalReason.HELD_FOR_STAFF.value
    texts = [o for o in session.deleted if isinstance(o, Task) and o.refusal_reason == held]
    if not texts:
        return
    connection = session.connection()  # Core statements: no flush inside this flush
    for task in sorted(texts, key=lambda task: (task.created_at, task.id)):
        newer = (
            sa.select(sa.func.count())
            .select_from(Task)
            .where(Task.user_phone == task.user_phone, Task.refusal_reason == held)
            .where(
                sa.or_(
                    Task.created_at > task.created_at,
                    sa.and_(Task.created_at == task.created_at, Task.id > task.id),
                )
            )
        )
        connection.execute(
            sa.update(Conversation)
            .where(Conversation.user_phone == task.user_phone)
            .where(Conversation.unread > newer.scalar_subquery())
            .values(unread=Conversation.unread - 1)
        )
        loaded = session.identity_map.get(session.identity_key(Conversation, task.user_phone))
        if loaded is not None:
            session.expire(loaded, ["unread"])


def take_over(
    user: User,
    staff: StaffUser,
    *,
    force: bool = False,
    confirmed_holder_id: int | None = None,
) -> Conversation:
    """`staff` handles the conversation from now on; the AI stays out of it. Taking one that
    another staff member holds raises HeldByOther unless `force` (the API's caller says so
    up front) or that holder is `confirmed_holder_id`, the one the admin's question named:
    a staff member who took it since was not what was agreed to, and is asked about anew."""
    # Two staff pressing Take over at once take turns on the texter's row lock, so the
    # second sees the first as the holder.
    user = _locked(user)
    conversation = conversation_for(user)
    _refuse_if_held_by_other(user, conversation, staff, force, confirmed_holder_id)
    user.conversation_state = STAFF
    conversation.held_by = staff
    conversation.staff_clock_at = utcnow()
    return conversation


def _refuse_if_held_by_other(
    user: User,
    conversation: Conversation,
    staff: StaffUser,
    force: bool,
    confirmed_holder_id: int | None,
) -> None:
    """HeldByOther when a staff member other than `staff` holds the conversation, unless
    `force` or they are the holder `staff` confirmed overriding; read again under the
    texter's lock, so of two staff at once the second sees what the first did."""
    db.session.refresh(conversation)
    holder = other_holder(user, staff)
    if holder is not None and not force and holder.id != confirmed_holder_id:
        raise HeldByOther(holder)


def other_holder(user: User, staff: StaffUser) -> StaffUser | None:
    """The staff member other than `staff` who holds the conversation (None: nobody else
    does), whom taking it over or handing it back asks about first."""
    conversation = find(user.phone_number)
    holder = conversation.held_by if conversation is not None else None
    if user.conversation_state != STAFF or holder is None or holder.id == staff.id:
        return None
    return holder


def _locked(user: User) -> User:
    """The texter under their row lock; ObjectDeletedError if deleted since `user` was read."""
    locked = lock_texter(user.phone_number)
    if locked is None:
        raise ObjectDeletedError(sa.inspect(user))
    return locked


def release(
    user: User,
    staff: StaffUser | None = None,
    *,
    force: bool = False,
    confirmed_holder_id: int | None = None,
    seen: int | None = None,
) -> unseen.Owed:
    """Back to the AI: the texter's next text is answered by the model. Handing back one
    that a staff member other than `staff` holds raises HeldByOther unless `force` or that
    holder is `confirmed_holder_id` (the admin asks first, the API's caller says `force`, as
    for a takeover); without `staff` nothing is asked.

    Staff who hand it back have handled what was held for them: the `seen` texts they were
    shown unread are read (all with None). A text held since, which they never saw, is
    the AI's to answer (unseen.py): returns what the texter is owed, for the caller to
    enqueue once committed."""
    # Under the texter's row lock, as a takeover: both may make the conversation's row, and
    # the second of a release and a takeover at once made it again (a 500).
    user = _locked(user)
    conversation = conversation_for(user)
    owed = unseen.Owed(user.phone_number)
    if staff is not None:
        _refuse_if_held_by_other(user, conversation, staff, force, confirmed_holder_id)
        _read(conversation, seen)
        owed = unseen.answer_unseen(user, conversation, why_nothing_reaches(user))
    _back_to_ai(user, conversation)
    return owed


def _back_to_ai(user: User, conversation: Conversation) -> None:
    user.conversation_state = AI
    conversation.held_by = None
    conversation.staff_clock_at = None


def record_staff_reply(user: User, staff: StaffUser | None, read: int | None = None) -> None:
    """A staff member texted the texter: the texts held for them are read (`read` of them,
    the ones held when they replied, else all), the idle clock restarts, and a conversation
    that was waiting is now theirs."""
    conversation = conversation_for(user)
    now = utcnow()
    if user.conversation_state == WAITING and staff is not None:
        user.conversation_state = STAFF
        conversation.held_by = staff
    if user.conversation_state != AI:
        conversation.staff_clock_at = now
    conversation.last_staff_reply_at = conversation.last_message_at = now
    _read(conversation, read)


def _read(conversation: Conversation, read: int | None) -> None:
    """`read` of the texts held for staff are read (the newest held are the unread ones, so
    those held after the reader looked stay unread), or all with None."""
    if read is None:
        conversation.unread = 0
    else:
        # In SQL: texts held meanwhile were added to the row, deleted ones taken off it.
        left = Conversation.unread - read
        conversation.unread = sa.case((left > 0, left), else_=0)


def send_as_staff(
    user: User,
    text: str | outbound.Shaped,
    staff: StaffUser | None,
    *,
    kind: str = "staff",
    submission: str | None = None,
    asked: str | None = None,
) -> list[OutboundMessage]:
    """Text the texter as a staff member, in any state, through the one sending door.

    Raises NothingToSend for a text that shapes to nothing (no state changes then: a
    thumbs-up must not take a waiting conversation), InactiveTexter for a deactivated
    texter (read under their lock, so one deactivated meanwhile is refused too; nothing
    changes either), AlreadySent when `submission` (the
    one-time key of the form or API request that asked) was sent before, KeyReused when it
    was sent before for another request (`asked`, its fingerprint), outbound.OptedOut
    (nothing is sent) or outbound.SendFailed. The message is committed here, part by part;
    the caller commits the reply's bookkeeping (texts read, the idle clock). A refused
    submission that sent nothing is not remembered, so it may be tried again. It goes out
    from the number the texter last wrote to (outbound.thread_number), else
    TWILIO_PHONE_NUMBER. `text` may be shaped already, by outbound.plan (a caller that
    needs to know what it becomes, the API's "shortened", shapes it once).
    """
    shaped = text if isinstance(text, outbound.Shaped) else outbound.plan(user, text, by_staff=True)
    if not shaped.parts:
        raise NothingToSend()
    # Under the texter's row lock, read again: a page read while the conversation waited
    # must not take it from a staff member who took it over since.
    user = _locked(user)
    if not user.is_active:
        raise InactiveTexter()
    if submission is not None:
        claim(user, submission, asked)
    read = _unread(user)
    try:
        sender = outbound.thread_number(user)
        # A number's first message from us carries the carriers' notice, whoever writes it.
        notices.send_program_notice_once(user, sender=sender)
        messages = outbound.send(user, shaped, kind=kind, staff_user=staff, sender=sender)
    except (outbound.OptedOut, outbound.SendFailed, outbound.CountryNotAllowed) as refused:
        if submission is not None and not getattr(refused, "may_have_reached", False):
            # The caller commits what the refusal left (an error log, an opt-out): nothing
            # was sent, so the same submission may try again. The send committed its part
            # (and so ended the lock): a webhook of the texter may have written since.
            relock_bookkeeping(user)
            db.session.execute(
                sa.delete(SentSubmission).where(_sent(user.phone_number, submission))
            )
        raise
    # The send committed each part (with the claimed key) before Twilio saw it, which ended
    # the lock: take it again, so a takeover or a text held meanwhile is read, not lost.
    # Twilio's answer, stored on the last part, is committed first: every writer takes the
    # texter's row before their SMS rows (a deletion takes it, then anonymises their SMS),
    # and a send holding its SMS row while it waited for the texter's deadlocked with one.
    phone = user.phone_number  # read before the commit expires it: a deletion may follow
    if submission is not None:  # a statement: the texter may have been deleted meanwhile
        sid = messages[0].sid if messages else None
        answer = {"message_sid": sid, "messages": len(messages), "shortened": shaped.cut}
        db.session.execute(
            sa.update(SentSubmission).where(_sent(phone, submission)).values(**answer)
        )
    db.session.commit()
    user = lock_texter(phone)
    if user is not None:  # None: staff deleted the texter while Twilio had the message
        record_staff_reply(user, staff, read=read)
    return messages


def _unread(user: User) -> int:
    """The texts held for staff when they replied (read under the texter's lock)."""
    query = sa.select(Conversation.unread).where(Conversation.user_phone == user.phone_number)
    return db.session.scalar(query) or 0


def claim(user: User, submission: str, asked: str | None = None) -> SentSubmission:
    """Record the form's key under the texter's row lock webhooks take too, so two
    submissions of one form, even in two web processes, take turns and the second finds
    the first's key: it is committed with the first part of the message, before Twilio
    sees it (so a retry after a lost answer or a crash never texts twice), or rolled back
    when nothing was stored. Keys stay as long as their texter (sent_submissions): a
    retry after any number of other sends is still recognised; with what the request
    `asked` (a fingerprint), so is the key reused for another request (KeyReused). The
    API's task creation claims its key here too, and stores the task it made on the row."""
    relock_bookkeeping(user)
    row = SentSubmission
    answer = sa.select(row.message_sid, row.messages, row.shortened, row.task_id)
    sent = db.session.execute(
        answer.add_columns(row.fingerprint).where(_sent(user.phone_number, submission))
    ).first()
    if sent is not None:
        first = sent._asdict()
        used_for = first.pop("fingerprint")
        if asked is not None and used_for is not None and asked != used_for:
            raise KeyReused()
        raise AlreadySent(first)
    claimed = SentSubmission(user_phone=user.phone_number, key=submission, fingerprint=asked)
    db.session.add(claimed)
    db.session.flush()
    return claimed


def _sent(phone: str, submission: str) -> sa.ColumnElement[bool]:
    return (SentSubmission.user_phone == phone) & (SentSubmission.key == submission)


def was_sent(user: User, submission: str) -> bool:
    """Whether this form or API request's key has sent the texter a message."""
    query = sa.select(SentSubmission.key).where(_sent(user.phone_number, submission))
    return db.session.scalar(query) is not None


def mark_read(phone: str, seen: int | None = None) -> None:
    """Staff have read the texts held for them: the `seen` they were shown as unread (texts
    held since then stay unread), or all of them."""
    conversation = find(phone)
    if conversation is not None and conversation.unread:
        _read(conversation, seen)


def idle_cutoff(now: datetime | None = None) -> datetime:
    minutes = current_app.config["HANDOFF_IDLE_MINUTES"]
    return (now or utcnow()) - timedelta(minutes=minutes)


def release_idle(now: datetime | None = None) -> list[unseen.Owed]:
    """Hand back to the AI every conversation nobody from staff replied to for
    HANDOFF_IDLE_MINUTES, so no texter waits forever; what each texter released is owed
    (the caller tells each once, after the commit). Texts held that nobody from staff saw
    are the AI's, as on a staff member's release (unseen.py): nobody read them, so the
    newest is answered, the older its context."""
    stale = db.session.execute(
        sa.select(User, Conversation)
        .join(Conversation, Conversation.user_phone == User.phone_number)
        .where(User.conversation_state != AI, Conversation.staff_clock_at < idle_cutoff(now))
        .with_for_update(of=User, skip_locked=True, key_share=True)
    ).all()
    owed = []
    for user, conversation in stale:
        # Most have nothing unread, and cost no statement more.
        if conversation.unread > 0:
            owed.append(unseen.answer_unseen(user, conversation, why_nothing_reaches(user)))
        else:
            owed.append(unseen.Owed(user.phone_number))
        _back_to_ai(user, conversation)
    return owed


def waiting_count() -> int:
    """Conversations that wait for a staff member to take them (the admin's badge)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.conversation_state == WAITING)
    )


def _hand_back_holds_of_departing_staff(session, _context, _instances) -> None:
    """A staff member deleted or deactivated (by any writer) no longer holds anyone: their
    conversations wait for another staff member, with the texts they held still unread.
    Left as they were, each stayed "with staff" held by nobody, its texts held unanswered,
    until the idle release."""
    departing = [obj.id for obj in session.deleted if isinstance(obj, StaffUser)]
    departing += [
        obj.id
        for obj in session.dirty
        if isinstance(obj, StaffUser)
        and obj.id is not None
        and sa.inspect(obj).attrs.is_active.history.has_changes()
        and obj.is_active is False
    ]
    if not departing:
        return
    connection = session.connection()  # Core statements: no flush inside this flush
    held = sa.select(Conversation.user_phone).where(Conversation.held_by_id.in_(departing))
    connection.execute(
        sa.update(User)
        .where(User.phone_number.in_(held), User.conversation_state == STAFF)
        .values(conversation_state=WAITING)
    )
    connection.execute(
        sa.update(Conversation)
        .where(Conversation.held_by_id.in_(departing))
        .values(held_by_id=None)
    )


def init_app(_app) -> None:
    """Register the departing-staff and unread rules on every ORM session (once per
    process)."""
    listen_on_every_session(before_flush=_hand_back_holds_of_departing_staff)
    listen_on_every_session(before_flush=_unread_leaves_with_held_texts)
