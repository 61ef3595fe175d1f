"""The conversation page's composer: the reply form, its refusals told on the next page, and
what a typed reply becomes once shaped for the texter's channel (the measure)."""

from __future__ import annotations

from flask import get_flashed_messages, redirect, session, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length

from ... import outbound
from ...models import User
from ..base import one_char_line_breaks
from ..forms import NulRefused, new_submission_key

#: The longest reply staff may send, as outbound.reply_length counts it for the texter's
#: channel: Twilio's Body limit, one WhatsApp message's whole length. The box takes more (a
#: maxlength cut a longer paste without a word, and the rest was sent as if whole): the
#: measure and the form say so.
MAX_REPLY_CHARS = outbound.MAX_MESSAGE_CHARS


#: What the page says once a reply went out (or had gone out): its script then forgets the
#: copy it kept of the reply while it was typed (conversation.js).
SENT = "Sent."
ALREADY_SENT = "Already sent: this form was submitted before, so it was not sent again."


def reply_went_out() -> bool:
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


def measured(user: User, written: str) -> dict:
    """What the composer's text becomes: the SMS parts, their segments and encoding, as
    outbound.send will shape and count them for this texter (on WhatsApp one message,
    UTF-8, not the segments and GSM-7 or UCS-2 of an SMS)."""
    typed = one_char_line_breaks(written) or ""
    text = typed[:MAX_REPLY_CHARS]
    shaped = outbound.plan(user, text, by_staff=True)
    parts = shaped.parts
    refused = outbound.reply_too_long(user, typed) is not None
    return {
        "characters": outbound.reply_length(user, typed),
        "too_long": refused,
        "most": MAX_REPLY_CHARS,
        "parts": len(parts),
        "segments": sum(outbound.segments_for(user, part) for part in parts),
        "encoding": shaped.encoding if parts else None,
        "shortened": shaped.cut,
        "sent_as": None if refused else _changed(text, parts),
    }


#: The errors of a reply the form refused, kept in the session for the page shown next.
_REFUSED = "refused_reply"


def refused(user: User, form: ComposeForm):
    """A reply the form refuses (empty, too long, out of date) is told on the conversation,
    a GET, its errors on the box: the page answering the POST was posted again by Reload
    and was "ERR_CACHE_MISS" on Back. The tab puts back what was typed (drafts.js); the
    session keeps only the errors (a 1,600-character reply would not fit in its cookie)."""
    errors = {field.name: list(field.errors) for field in (form.message, form.submission)}
    session[_REFUSED] = {"id": user.phone_number, **errors}
    return redirect(url_for(".conversation_view", id=user.phone_number))


def with_refusal(form: ComposeForm, user: User) -> ComposeForm:
    """The composer with the errors of the reply just refused for this texter, once."""
    refused = session.pop(_REFUSED) if _REFUSED in session else None  # no cookie otherwise
    if refused and refused.get("id") == user.phone_number:
        form.message.errors = refused.get("message") or []
        form.submission.errors = refused.get("submission") or []
    return form


def _changed(typed: str, parts: list[str]) -> str | None:
    """The reply as the texter will read it, when shaping changed what was typed: an SMS
    drops emoji and writes letters GSM-7 lacks without their accents ("Zoë" is "Zoe"), and
    staff who saw only "1 segment · GSM-7" took their emoji for sent. None when unchanged."""
    goes = "\n".join(parts)
    return goes if parts and goes != typed.strip() else None
