"""The Try it page: staff text the service as any number through the real pipeline.

The message is signed as Twilio signs it and posted to our own /sms/inbound view
(sms_agent.simulator), so it meets the same checks, quotas and worker as a real SMS.

It writes only as a test number (sms_agent.simulated_senders): one nobody texted from
before, whose texter Try it makes itself, and with Twilio one that reaches nobody or is
listed in TEST_PHONE_NUMBERS.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, flash, get_flashed_messages, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileSize
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from ..extensions import db
from ..inbound.form import longest_body
from ..inbound.media import UnservedChannel, split_channel
from ..media.kinds import FILE_TYPES, file_type
from ..models import Channel, Task, TaskStatus, utcnow
from ..phones import InvalidPhoneNumber, normalise_phone, whole_phone_number
from ..security import refuses_nul_itself
from ..simulated_senders import EXAMPLE_NUMBER, NotATestNumber, claim_test_number
from ..simulator import SimulationRejected, gets_nothing_back, simulate_inbound, why_unanswered
from .access import StaffAccess
from .base import one_char_line_breaks
from .conversation.phone_thread import Bubble, thread_for
from .forms import NulRefused, new_submission_key

DEFAULT_NUMBER = EXAMPLE_NUMBER

#: A text still being answered: its reply (or its failure) is on the way.
UNFINISHED = (TaskStatus.QUEUED, TaskStatus.PROCESSING)

#: How long the page looks again after a text failed or was refused: an apology or a
#: notice may follow (the worker sends it after the outcome is committed), but the page
#: cannot know that one will: a text that was not sent, or a refused one whose window had
#: its notice already, gets nothing more. `flask sms simulate` waits REFUSED_NOTICE_WAIT.
FOLLOW_UP_GRACE = timedelta(seconds=30)


#: How long the page waits for a reply before it says why none came (no worker running,
#: a broker down, a slow model) and stops looking.
STALLED_AFTER = timedelta(minutes=2)


#: How the page begins saying that a message went but gets nothing back.
NOT_ANSWERED = "Not answered: "


#: What the page lets staff attach: the pictures and voice notes the service reads.
ATTACHABLE = list(FILE_TYPES)


class TryItForm(NulRefused, FlaskForm):
    from_number = StringField("From number", validators=[InputRequired(), Length(max=32)])
    channel = SelectField(
        "Channel",
        choices=[SelectChoice("sms", "SMS"), SelectChoice("whatsapp", "WhatsApp")],
        default="sms",
    )
    message = TextAreaField(
        "Message",
        filters=[one_char_line_breaks],
        validators=[Optional()],
        # No maxlength: the browser cut a longer paste without a word, and the cut text was
        # sent as if whole; validate_message says it is too long, the text kept.
        render_kw={"dir": "auto"},
    )
    #: One SMS per rendering of the form, however often it is posted (sid_of).
    submission = HiddenField(default=new_submission_key, validators=[Optional(), Length(max=64)])
    attachment = FileField(
        "Picture or voice note",
        # By extension too: a browser's picker takes a .webm for a video and hid it.
        render_kw={"accept": ",".join(["image/*", "audio/*", *(f".{e}" for e in ATTACHABLE)])},
        validators=[
            Optional(),
            FileAllowed(
                ATTACHABLE,
                "A picture (JPEG, PNG, GIF, WebP) or a voice note (Ogg, WebM, MP3, M4A, AAC, "
                "WAV, FLAC, AMR, 3GP).",
            ),
        ],
    )

    def __init__(self, *args, max_bytes: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if max_bytes:
            # A new list: the field's own is shared by every form made from the class, so
            # appending to it would add one more check (and error) on every page view.
            too_large = f"Larger than MEDIA_MAX_BYTES ({max_bytes} bytes)."
            self.attachment.validators = [
                *self.attachment.validators,
                FileSize(max_bytes, message=too_large),
            ]

    def validate_message(self, field) -> None:
        """As long as the channel allows: one SMS's 1,600 characters, WhatsApp's 4,096."""
        try:
            channel = self.sender()[1]
        except UnservedChannel:
            channel = self.channel.data  # the number's own error, when it is sent
        longest = longest_body(channel)
        if len(field.data or "") > longest:
            raise ValidationError(f"Field cannot be longer than {longest} characters.")

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not (self.message.data or "").strip() and not self.attachment.data:
            self.message.errors.append("Write a message or attach a picture or voice note.")
            return False
        return True

    def sender(self) -> tuple[str, str]:
        """The number and the channel: the one picked, unless the number says its own as
        Twilio writes a WhatsApp sender ("whatsapp:+1..."), as `flask sms simulate --from`
        reads it. A number pasted so, with SMS left picked, was texted by SMS. Any other
        prefix (messenger:...) raises UnservedChannel."""
        number, prefixed = split_channel(self.from_number.data or "")
        return number, prefixed if prefixed != Channel.SMS else self.channel.data

    def attachments(self) -> list[tuple[bytes, str]]:
        upload = self.attachment.data
        if not upload:
            return []
        return [(upload.read(), file_type(upload.filename))]


class TryItView(StaffAccess, BaseView):
    """Admin only: it sends real SMS replies when Twilio is configured."""

    admin_only = True

    @expose("/", methods=("GET", "POST"))
    @refuses_nul_itself
    def index(self):
        phone = _phone_asked()
        form = TryItForm(
            from_number=phone or DEFAULT_NUMBER,
            max_bytes=current_app.config["MEDIA_MAX_BYTES"],
        )
        if form.validate_on_submit():
            return self._send(form)
        status = 400 if request.method == "POST" else 200
        return self._page(form, phone), status

    @expose("/thread/")
    def thread(self):
        """Just the thread, for the page's poll while a reply is on its way."""
        phone = _phone_asked()
        thread = thread_for(phone)
        return self.render("admin/_thread.html", thread=thread, **poll_state(thread, phone))

    def _send(self, form: TryItForm):
        sent = utcnow()
        try:
            number, channel = form.sender()
            phone = normalise_phone(number)
            media = form.attachments()
            claim_test_number(phone, current_user.username)
            silent_before = gets_nothing_back(phone)
            task = simulate_inbound(
                phone,
                form.message.data or "",
                channel=channel,
                media=media,
                sid=sid_of(form.submission.data, bool(media)),
            )
        except NotATestNumber as exc:
            form.from_number.errors.append(str(exc))
            return self._page(form, ""), 400
        except (InvalidPhoneNumber, UnservedChannel, SimulationRejected) as exc:
            flash(f"Not sent: {exc}", "error")
            return self._page(form, ""), 400
        silent = gets_nothing_back(phone, since=sent) if task is None and silent_before else None
        if silent:
            # Opted out or inactive before and after the text (so not a START, nor a STOP
            # to confirm): nothing was stored and nothing comes back, so the page waits for
            # no reply.
            flash(f"{NOT_ANSWERED}{silent}.", "warning")
            return redirect(url_for(".index", phone=phone))
        return redirect(url_for(".index", phone=phone, sent=sent.isoformat()))

    def _page(self, form: TryItForm, phone: str) -> str:
        thread = thread_for(phone) if phone else []
        return self.render(
            "admin/tryit.html",
            form=form,
            phone=phone,
            thread=thread,
            message_sent=_message_went_out(),
            **poll_state(thread, phone),
        )


def _phone_asked() -> str:
    """The number whose thread the address asks for (?phone=), written any way staff
    write one, as the Users search reads it; "" (no thread) for what is no number."""
    return whole_phone_number(request.args.get("phone", "")) or ""


def _message_went_out() -> bool:
    """The page says the last message went (its thread, or why nothing comes back): its
    script then forgets the copy it kept of the message while it was typed (drafts.js)."""
    if request.method == "GET" and "sent" in request.args:
        return True
    return any(message.startswith(NOT_ANSWERED) for message in get_flashed_messages())


def sid_of(submission: str | None, with_media: bool) -> str | None:
    """The MessageSid of a form submission's SMS: the same for each post of one submission
    (a double click on Send, a resent form), so the webhook takes the second for a retry of
    the first and answers it once. None without a submission (a new sid each time)."""
    if not submission:
        return None
    return ("MM" if with_media else "SM") + hashlib.sha256(submission.encode()).hexdigest()[:32]


def poll_state(thread: list[Bubble], phone: str) -> dict:
    """`waiting`: the page says a reply is on its way; `polling`: it keeps looking, also
    for a little while after a failure or a refusal, which shows at once, in case an
    apology or a notice (the quota's, say) follows; `stalled`: why no reply came within
    STALLED_AFTER (no worker running, say), when none did: the page says so and stops."""
    stalled = _stalled(thread, phone) if reply_pending(thread) else None
    waiting = reply_pending(thread) and not stalled
    return {
        "waiting": waiting,
        "polling": waiting or _may_get_a_follow_up(thread),
        "stalled": stalled,
    }


def _sent_at() -> datetime | None:
    """When the page's message was sent (its `sent`), None when it says nothing valid."""
    try:
        sent = datetime.fromisoformat(request.args.get("sent", ""))
    except ValueError:
        return None
    return sent if sent.tzinfo else sent.replace(tzinfo=UTC)


def _stalled(thread: list[Bubble], phone: str) -> str | None:
    """Why the reply the page waits for has not come, once it has waited STALLED_AFTER."""
    last = thread[-1] if thread else None
    since = last.at if last is not None and last.inbound else _sent_at()
    if since is None or utcnow() - since < STALLED_AFTER:
        return None
    latest = sa.select(Task).where(Task.user_phone == phone).order_by(Task.created_at.desc())
    task = db.session.scalar(latest.limit(1)) if last is not None and last.inbound else None
    return why_unanswered(task)


def reply_pending(thread: list[Bubble]) -> bool:
    """Still waiting: the texter's last text is still being answered, or nothing came back
    since the message was sent (keywords such as HELP leave no task, only our reply). A
    text that ended without a reply (refused, or failed unsent: a number outside
    ALLOWED_COUNTRIES, an opted-out texter) waits for nothing: the page shows its outcome
    (and looks a little longer for a notice, see poll_state)."""
    if thread and thread[-1].inbound:
        return thread[-1].status in UNFINISHED
    sent = _sent_at()
    return sent is not None and not any(
        not bubble.inbound and bubble.at >= sent for bubble in thread
    )


def _may_get_a_follow_up(thread: list[Bubble]) -> bool:
    """The texter's last text ended without a reply within FOLLOW_UP_GRACE: a failed one
    when it failed, a refused one when it came (it was refused as it was stored)."""
    last = thread[-1] if thread else None
    if last is None or not last.inbound:
        return False
    if last.status == TaskStatus.REFUSED:
        ended = last.at
    elif last.status == TaskStatus.FAILED:
        ended = last.finished_at
    else:
        return False
    return ended is not None and utcnow() - ended < FOLLOW_UP_GRACE
