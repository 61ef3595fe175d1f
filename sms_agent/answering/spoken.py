"""A voice note that says nothing but an opt-out ("Stop.", "Stop texting me!"): an opt-out
made by a reasonable means, obeyed as a texted STOP is. The webhook routes a text by its
words, and a voice note's are known only once the worker has transcribed it."""

from __future__ import annotations

import logging

from .. import notices, outbound
from ..clean_text import is_blank
from ..extensions import db
from ..inbound import keywords
from ..media.read import MediaInput
from ..models import Task, User, lock_texter
from ..phones import mask
from .failures import finish_unsent

log = logging.getLogger("sms_agent.pipeline")


def says_stop(task: Task, media: MediaInput) -> bool:
    """The text was voice notes alone (no words typed, no picture), and all they said was
    an opt-out, as keywords.parse reads a texted one: "stop my dog barking" is a question."""
    if not is_blank(task.sms_content) or media.images or not media.transcripts:
        return False
    return keywords.parse(" ".join(media.transcripts)) is keywords.Keyword.STOP


def obey_stop(task: Task, user: User, media: MediaInput) -> str:
    """Opt the texter out (keeping the time of an earlier opt-out), end the task unanswered
    with its request given back, as a STOP is never counted, and confirm it: Twilio's
    opt-out handling never sees a voice note's words, so its confirmation is ours to send,
    as for a STOP on WhatsApp. A STOP or START the texter typed after the voice note (which
    is understood only now) is their latest word and stands: the voice note changes nothing."""
    said = " ".join(media.transcripts)
    user = lock_texter(user.phone_number)  # read again: a webhook may have changed it since
    if user.opt_changed_since(task.created_at):
        finish_unsent(task, "the texter said STOP in a voice note, then texted STOP or START")
        return "opt_change_later"
    newly = not user.is_opted_out
    user.opt_out()
    user.note_opt_change(task.message_sid, keywords.language(said))
    finish_unsent(task, "the texter said STOP in a voice note")  # commits the opt-out too
    log.info("%s opted out by a voice note", mask(user.phone_number))
    if newly:
        confirmation = outbound.OPT_OUT_CONFIRMATION
        notices.send_notice(user, confirmation, task=task, reply_to=task.message_sid)
        db.session.commit()
    return "opted_out"
