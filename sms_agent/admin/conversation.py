"""A texter's conversation as their phone shows it: what they sent and what we sent back;
the Users view's conversation page, where staff take over, reply and hand back to the AI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import flash, get_flashed_messages, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length

from .. import handoff, inbox, jobs, outbound, threads, unseen
from ..extensions import db
from ..media.kinds import IMAGE
from ..models import Channel, OutboundMessage, Task, TaskMedia, User
from ..phones import whole_phone_number
from ..plural import counted
from ..security import refuses_nul_itself
from .access import is_admin_staff
from .base import one_char_line_breaks, shown
from .forms import NulRefused, new_submission_key


@dataclass(frozen=True)
class Attached:
    """A picture or voice note the texter sent: a thumbnail or the transcript for staff."""

    id: str
    kind: str
    content_type: str
    size: int | None
    status: str
    transcript: str | None
    error_message: str | None

    @classmethod
    def of(cls, media: TaskMedia) -> Attached:
        return cls(
            str(media.id),
            media.kind,
            media.content_type,
            media.size,
            media.status,
            media.transcript,
            media.error_message,
        )


@dataclass(frozen=True)
class Bubble:
    """One message in the thread; `inbound` is from the texter, otherwise from us."""

    inbound: bool
    body: str
    at: datetime
    status: str
    detail: str = ""
    #: What staff read for the status, when it says more than `status` ("refused: over quota").
    label: str = ""
    media: tuple[Attached, ...] = ()
    channel: str = Channel.SMS.value
    #: When the texter's text was answered or failed (Task.completed_at).
    finished_at: datetime | None = None


def _inbound(task: Task) -> Bubble:
    detail = task.category if task.status == "completed" else (task.error_message or "")
    return Bubble(
        True,
        task.sms_content,
        task.created_at,
        task.status,
        detail,
        label=task.status_label,
        media=tuple(Attached.of(media) for media in task.media),
        finished_at=task.completed_at,
    )


def _outbound(message: OutboundMessage) -> Bubble:
    if message.channel == Channel.WHATSAPP:
        detail = "WhatsApp"
    else:
        detail = f"{counted(message.segments, 'segment')}, {message.encoding}"
    if message.error_code:
        detail += f", error {message.error_code}"
    return Bubble(
        False, message.body, message.created_at, message.status, detail, channel=message.channel
    )


def thread_for(phone: str, limit: int = 50) -> list[Bubble]:
    """The last `limit` messages both ways, oldest first so the newest sits at the bottom.

    Replies are read from the outbox rather than Task.ai_response: the outbox holds what
    was actually sent (split, trimmed, or an apology), including texts with no task.
    """
    tasks = db.session.scalars(
        sa.select(Task)
        .options(selectinload(Task.media))  # one query for every task's media, no bytes
        .where(Task.user_phone == phone)
        .order_by(Task.created_at.desc())
        .limit(limit)
    )
    messages = db.session.scalars(
        sa.select(OutboundMessage)
        .where(OutboundMessage.to_number == phone)
        .order_by(OutboundMessage.created_at.desc())
        .limit(limit)
    )
    bubbles = [_inbound(task) for task in tasks] + [_outbound(m) for m in messages]
    # An inbound text and its reply can share a timestamp; the question goes first.
    bubbles.sort(key=lambda bubble: (bubble.at, not bubble.inbound))
    return bubbles[-limit:]


#: The messages the page shows, the newest; it says where older ones are.
SHOWN_MESSAGES = 100

#: The longest reply staff may send, as outbound.reply_length counts it for the texter's
#: channel: Twilio's Body limit, one WhatsApp message's whole length. The box takes more (a
#: maxlength cut a longer paste without a word, and the rest was sent as if whole): the
#: measure and the form say so.
MAX_REPLY_CHARS = outbound.MAX_MESSAGE_CHARS


#: What the page says once a reply went out (or had gone out): its script then forgets the
#: copy it kept of the reply while it was typed (conversation.js).
SENT = "Sent."
ALREADY_SENT = "Already sent: this form was submitted before, so it was not sent again."


def _reply_went_out() -> bool:
    return any(message in (SENT, ALREADY_SENT) for message in get_flashed_messages())


class ComposeForm(NulRefused, FlaskForm):
    message = TextAreaField(
        "Reply",
        filters=[one_char_line_breaks],
        validators=[InputRequired()],
        render_kw={"dir": "auto"},  # a reply in Hebrew or Arabic is typed right to left
    )
    #: A key made for each rendering of the form: the message is sent once per key however
    #: often the form is posted (a double click, a resend), see handoff.send_as_staff.
    submission = HiddenField(
        default=new_submission_key,
        validators=[
            InputRequired("This form is out of date: press Send again."),
            Length(max=64),
        ],
    )

    def __init__(self, *args, texter: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.texter = texter

    def validate_message(self, field) -> None:
        """As long as the texter's channel takes (outbound.reply_too_long)."""
        error = outbound.reply_too_long(self.texter, field.data or "")
        if error:
            raise ValidationError(error)


def media_json(media: TaskMedia) -> dict:
    """A picture or voice note as the poll serves it: what _media.html shows, and the URL of
    a picture staff may see."""
    attached = Attached.of(media)
    picture = attached.kind == IMAGE and attached.status == "read"
    return {
        **vars(attached),
        "transcript": attached.transcript and shown(attached.transcript),
        "url": url_for("media.show", media_id=attached.id) if picture else None,
    }


def message_json(message: threads.Message) -> dict:
    """A message of the thread as the page's poll serves it (conversation.js draws it), its
    texts as the page shows them (admin.base.shown): a direction override seen, not obeyed."""
    fields = vars(message)
    return {
        **{key: fields[key] for key in fields.keys() - {"created_at", "media"}},
        "body": shown(message.body),
        "replying_to": message.replying_to and shown(message.replying_to),
        "created_at": message.created_at.isoformat(),
        "media": [media_json(media) for media in message.media],
    }


def _refusal(user: User) -> str | None:
    """What the page says above Send when a text to `user` would be refused (None: none
    would be), as drawn and as its poll updates it: a STOP may come while staff type."""
    why = handoff.why_staff_cannot_text(user)
    return f"Texts to them are refused: {why}." if why else None


def _shown_unread() -> int | None:
    """How many unread texts the page showed when staff read it (None: all are read)."""
    shown = request.form.get("unread", "")
    return int(shown) if shown.isascii() and shown.isdigit() and len(shown) <= 9 else None


def _created(user: User) -> str:
    """What tells a texter from the one who has their number after them (deleted, then
    added or texting anew): when they were made."""
    return user.created_at.isoformat()


def _no_such_texter():
    """The page's script asked about a texter deleted since (its poll then says so)."""
    return jsonify({"error": "No such user."}), 404


def _confirmed_holder() -> int | None:
    """The staff member whose hold the page's "anyway?" named (its hidden `holder`), None
    when nothing was asked."""
    shown = request.form.get("holder", "")
    return int(shown) if shown.isascii() and shown.isdigit() and len(shown) <= 9 else None


class ConversationPages:
    """A texter's conversation in the admin (mixed into the Users view): the thread both
    ways, kept fresh by the page's poll; Take over / Return to AI; a composer that sends
    through outbound.send as the staff member. Read-only staff see all of it and may post
    nothing (StaffAccess answers their POSTs with 403)."""

    def _texter(self) -> User | None:
        """The texter the address names, their number written any way: typed or pasted by
        hand, a bare "+" reads as a space, and "No texter" was said of one who was there.
        None also when the page acting was opened for a texter deleted since, whose
        number is someone else's now (its `created` is not theirs): a reply written to
        the first must not reach the second."""
        written = request.values.get("id", "")
        user = db.session.get(User, written)
        number = whole_phone_number(written) if user is None else None
        user = db.session.get(User, number) if number else user
        opened_for = request.args.get("created")
        if user is not None and opened_for is not None and opened_for != _created(user):
            return None
        return user

    def _page(self, user: User, status: int = 200, **extra):
        form = extra.pop("form", None) or ComposeForm(texter=user)
        # The form shown is a new submission, even when it shows one that was just posted.
        form.submission.data = new_submission_key()
        # One more than shown: whether there are older messages to point staff to.
        messages = threads.recent(user.phone_number, SHOWN_MESSAGES + 1)
        context = {
            "user": user,
            "entry": inbox.entry_for(user),
            "messages": messages[-SHOWN_MESSAGES:],
            "older_messages": len(messages) > SHOWN_MESSAGES,
            "shown_messages": SHOWN_MESSAGES,
            "most_reply_chars": MAX_REPLY_CHARS,
            "whatsapp": outbound.is_whatsapp(user),
            "can_act": is_admin_staff(),
            "cannot_text": _refusal(user),
            "form": form,
            "confirm_holder": None,
            "confirm_holder_id": None,
            "confirm_action": None,
            "reply_sent": _reply_went_out(),
            "this_texter": {"id": user.phone_number, "created": _created(user)},
            **extra,
        }
        return self.render("admin/conversation.html", **context), status

    def _back(self, user: User):
        return redirect(url_for(".conversation_view", id=user.phone_number))

    def _gone(self):
        """Back to the users list, saying why: the texter was deleted (by another staff
        member, the API) while the page was open, or the link names nobody; nothing was
        done."""
        phone = request.values.get("id", "")
        if request.args.get("created") and (now := db.session.get(User, phone)) is not None:
            flash(
                f"Nothing was done: the texter this page was opened for was deleted, and "
                f"{phone} is someone else's number now. This is their conversation.",
                "error",
            )
            return self._back(now)
        flash(
            f"No texter {phone}: deleted, perhaps while the page was open; nothing was done.",
            "error",
        )
        return redirect(url_for(".index_view"))

    @expose("/conversation/")
    def conversation_view(self):
        """The texter's thread as their phone shows it: oldest at the top. Opening it reads
        nothing away (a browser may prefetch a link): the page posts "read" once on screen."""
        user = self._texter()
        if user is None:
            return self._gone()
        return self._page(user, **self._question(user))

    @expose("/conversation/read/", methods=("POST",))
    def conversation_read(self):
        """An admin staff member has the thread on screen (conversation.js posts this while
        the tab is visible), or pressed Mark read: what was held for staff is read."""
        user = self._texter()
        scripted = request.accept_mimetypes.best == "application/json"
        if user is None:
            return _no_such_texter() if scripted else self._gone()
        handoff.mark_read(user.phone_number, _shown_unread())
        db.session.commit()
        return jsonify({"unread": 0}) if scripted else self._back(user)

    @expose("/conversation/messages/")
    def conversation_messages(self):
        """The thread and its state as JSON, for the page's poll (which reads nothing away:
        a tab left open in the background is not staff reading)."""
        user = self._texter()
        if user is None:
            return _no_such_texter()
        entry = inbox.entry_for(user)
        return jsonify(
            {
                "state": entry.state,
                "held_by": entry.held_by,
                "unread": entry.unread,
                "opted_out": entry.opted_out,
                "cannot_text": _refusal(user),
                "messages": [
                    message_json(m) for m in threads.recent(user.phone_number, SHOWN_MESSAGES)
                ],
            }
        )

    def _ask_first(self, user: User, held: handoff.HeldByOther, action: str):
        """To the page asking "anyway?" (a GET: Back after the answer shows a page, not the
        browser's "Confirm Form Resubmission"); when the question answered named a holder
        who has since changed, the page says so and asks about the new one."""
        if _confirmed_holder() is not None:
            flash(
                f"Not done: {held.holder} took this conversation over since you were asked.",
                "warning",
            )
        return redirect(url_for(".conversation_view", id=user.phone_number, ask=action))

    def _question(self, user: User) -> dict:
        """The "anyway?" the page asks when its address says `ask` (takeover or release)
        and another staff member holds the conversation: it names them and carries their
        id, so the answer overrides them and nobody who takes the conversation meanwhile."""
        action = request.args.get("ask")
        if action not in ("takeover", "release") or not is_admin_staff():
            return {}
        holder = handoff.other_holder(user, current_user)
        if holder is None:
            return {}
        return {
            "confirm_holder": holder.username,
            "confirm_holder_id": holder.id,
            "confirm_action": action,
        }

    @expose("/conversation/takeover/", methods=("POST",))
    def conversation_takeover(self):
        user = self._texter()
        if user is None:
            return self._gone()
        try:
            handoff.take_over(user, current_user, confirmed_holder_id=_confirmed_holder())
        except handoff.HeldByOther as exc:
            db.session.rollback()
            return self._ask_first(user, exc, "takeover")
        db.session.commit()
        flash("You hold this conversation now: the AI stays out of it until you return it.")
        return self._back(user)

    @expose("/conversation/release/", methods=("POST",))
    def conversation_release(self):
        user = self._texter()
        if user is None:
            return self._gone()
        try:
            owed = handoff.release(
                user, current_user, confirmed_holder_id=_confirmed_holder(), seen=_shown_unread()
            )
        except handoff.HeldByOther as exc:
            db.session.rollback()
            return self._ask_first(user, exc, "release")
        db.session.commit()
        owed.enqueue()
        flash(_returned(owed, user))
        return self._back(user)

    @expose("/conversation/send/", methods=("POST",))
    @refuses_nul_itself
    def conversation_send(self):
        user = self._texter()
        if user is None:
            return self._gone()
        form = ComposeForm(texter=user)
        if not form.validate_on_submit():
            return self._page(user, 400, form=form)
        try:
            with jobs.sids_stored_later():
                handoff.send_as_staff(
                    user, form.message.data, current_user, submission=form.submission.data
                )
        except handoff.NothingToSend as exc:
            db.session.rollback()
            form.message.errors.append(str(exc))
            return self._page(user, 400, form=form)
        except handoff.AlreadySent:
            db.session.rollback()
            flash(ALREADY_SENT)
            return self._back(user)
        except handoff.InactiveTexter as exc:
            db.session.rollback()
            return self._not_sent(user, f"{exc}. Make them active on their Edit tab first")
        except outbound.OutsideWindow as exc:
            db.session.rollback()
            return self._not_sent(user, str(exc))
        except outbound.OptedOut:
            db.session.commit()  # keeps an opt-out Twilio may have just reported
            return self._not_sent(user, handoff.OPTED_OUT_REASON)
        except outbound.CountryNotAllowed as exc:
            db.session.commit()  # keeps the error log for staff
            return self._not_sent(user, exc.explained)
        except outbound.SendFailed as exc:
            db.session.commit()  # keeps the failed message for the thread
            return self._not_sent(user, f"the SMS provider refused the message ({exc})")
        db.session.commit()
        flash(SENT, "success")
        return self._back(user)

    def _not_sent(self, user: User, why: str):
        """A reply refused at Send (a STOP between two polls, Twilio's refusal) is told on
        the conversation, a GET: the answer to the POST was a page that Reload posted again
        and Back reached as "Confirm Form Resubmission". The reply typed is back in the box
        (drafts.js keeps it until a page says it went out)."""
        flash(f"Not sent: {why}.", "error")
        return self._back(user)

    @expose("/conversation/measure/", methods=("POST",))
    def conversation_measure(self):
        """What the composer's text becomes: the SMS parts, their segments and encoding,
        as outbound.send will shape and count them for this texter (on WhatsApp one
        message, UTF-8, not the segments and GSM-7 or UCS-2 of an SMS)."""
        user = self._texter()
        if user is None:
            return _no_such_texter()
        typed = one_char_line_breaks(request.form.get("message", "")) or ""
        text = typed[:MAX_REPLY_CHARS]
        shaped = outbound.plan(user, text, by_staff=True)
        parts = shaped.parts
        refused = outbound.reply_too_long(user, typed) is not None
        return jsonify(
            {
                "characters": outbound.reply_length(user, typed),
                "too_long": refused,
                "most": MAX_REPLY_CHARS,
                "parts": len(parts),
                "segments": sum(outbound.segments_for(user, part) for part in parts),
                "encoding": shaped.encoding if parts else None,
                "shortened": shaped.cut,
                "sent_as": None if refused else _changed(text, parts),
            }
        )


def _returned(owed: unseen.Owed, user: User) -> str:
    """What Return to AI did: staff who read only "the next text" took the one they never
    saw for left unanswered, and answered it themselves too; and to a texter nothing may
    reach (they opted out), the AI answers nothing at all."""
    if owed.withheld is not None:
        return (
            f"Returned to the AI. Nothing is sent to them: {owed.withheld}, so the text"
            " they sent after you last looked stays unanswered."
        )
    if (why := handoff.why_nothing_reaches(user)) is not None:
        return f"Returned to the AI. Nothing is sent to them: {why}."
    if owed.answer is not None:
        return "Returned to the AI: it is answering the text they sent after you last looked."
    if owed.notice is not None:
        return (
            "Returned to the AI. The text they sent after you last looked is over a limit"
            " (quota, spend cap or sending rate): they are sent its notice, not an answer."
        )
    return "Returned to the AI: it answers this texter's next text."


def _changed(typed: str, parts: list[str]) -> str | None:
    """The reply as the texter will read it, when shaping changed what was typed: an SMS
    drops emoji and writes letters GSM-7 lacks without their accents ("Zoë" is "Zoe"), and
    staff who saw only "1 segment · GSM-7" took their emoji for sent. None when unchanged."""
    goes = "\n".join(parts)
    return goes if parts and goes != typed.strip() else None
