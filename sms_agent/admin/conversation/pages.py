"""The Users view's conversation page, where staff take over, reply and hand back to the AI:
its views, each a thin door to handoff.py."""

from __future__ import annotations

from flask import flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

from ... import handoff, inbox, jobs, outbound, threads, unseen
from ...extensions import db
from ...models import User
from ...phones import whole_phone_number
from ...security import refuses_nul_itself
from ..access import is_admin_staff
from ..base import MAX_INTEGER, plain_integer, shown
from .composer import (
    ALREADY_SENT,
    MAX_REPLY_CHARS,
    SENT,
    ComposeForm,
    measured,
    refused,
    reply_went_out,
    with_refusal,
)
from .poll import SHOWN_MESSAGES, refusal, state_json, why


def _posted_count(name: str) -> int | None:
    """A count or an id the page's form posted in its hidden field `name`, in digits 0-9
    alone (None: none, or not one)."""
    posted = plain_integer(request.form.get(name))
    return posted if posted is not None and 0 <= posted <= MAX_INTEGER else None


def _shown_unread() -> int | None:
    """How many unread texts the page showed when staff read it (None: all are read)."""
    return _posted_count("unread")


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
    return _posted_count("holder")


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

    def _page(self, user: User, **extra):
        form = with_refusal(ComposeForm(texter=user), user)
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
            "cannot_text": refusal(user),
            "why": why(user),
            "form": form,
            "confirm_holder": None,
            "confirm_holder_id": None,
            "confirm_action": None,
            "reply_sent": reply_went_out(),
            "this_texter": {"id": user.phone_number, "created": _created(user)},
            **extra,
        }
        return self.render("admin/conversation.html", **context)

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
                f"{shown(phone)} is someone else's number now. This is their conversation.",
                "error",
            )
            return self._back(now)
        flash(
            f"No texter {shown(phone)}: deleted, perhaps while the page was open; nothing was"
            " done.",
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
        return jsonify(state_json(user))

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
            return refused(user, form)
        try:
            with jobs.sids_stored_later():
                handoff.send_as_staff(
                    user, form.message.data, current_user, submission=form.submission.data
                )
        except handoff.NothingToSend as exc:
            db.session.rollback()
            form.message.errors.append(str(exc))
            return refused(user, form)
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
        return jsonify(measured(user, request.form.get("message", "")))


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
