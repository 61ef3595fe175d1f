"""A voice note that says nothing but an opt-out ("Stop.", "Stop texting me!"), or an MMS
whose text part does: an opt-out made by a reasonable means, obeyed as a texted STOP is.
The webhook routes a text by its words, and these are known only once the worker has
transcribed or fetched them."""

from __future__ import annotations

import logging

from .. import notices, outbound
from ..clean_text import is_blank
from ..extensions import db
from ..inbound import keywords
from ..media.kinds import AUDIO
from ..media.read import MediaInput, read_for_staff_before
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


def obey_stop(task: Task, media: MediaInput) -> str:
    """Opt the texter out (keeping the time of an earlier opt-out), end the task unanswered
    with its request given back, as a STOP is never counted, and confirm it: Twilio's
    opt-out handling never sees a voice note's words, so its confirmation is ours to send,
    as for a STOP on WhatsApp. A STOP or START the texter typed after the voice note (which
    is understood only now) is their latest word and stands: the voice note changes nothing."""
    user, newly = _opt_out(task, media)
    said_in = f"the texter said STOP in {_where(task)}"
    if newly is None:
        finish_unsent(task, f"{said_in}, then texted STOP or START")
        return "opt_change_later"
    finish_unsent(task, said_in)  # commits the opt-out too
    _confirm(task, user, newly)
    return "opted_out"


def _where(task: Task) -> str:
    """What the STOP came in, for staff: a voice note, or the text part of an MMS."""
    return "a voice note" if any(row.kind == AUDIO for row in task.media) else "a text part"


def obey_held_stop(task: Task) -> bool:
    """A voice note held for staff (transcribed for them) that says only STOP opts the
    texter out as a texted STOP does while staff hold the conversation: the opt-out is the
    texter's, whoever holds it. The text stays held for staff, who see what it said."""
    if not any(row.transcript for row in task.media):
        return False  # no voice note heard: nothing to read of the pictures either
    media = read_for_staff_before(task)
    if not says_stop(task, media):
        return False
    user, newly = _opt_out(task, media)
    db.session.commit()
    _confirm(task, user, newly)
    return newly is not None


def _opt_out(task: Task, media: MediaInput) -> tuple[User, bool | None]:
    """The texter, locked and opted out by the voice note, and whether that is new (None
    when a STOP or START typed after it stands). The caller commits."""
    said = " ".join(media.transcripts)
    user = lock_texter(task.user_phone)  # read again: a webhook may have changed it since
    if user.opt_changed_since(task.created_at):
        return user, None
    newly = not user.is_opted_out
    user.opt_out()
    user.note_opt_change(task.message_sid, keywords.language(said))
    return user, newly


def _confirm(task: Task, user: User, newly: bool | None) -> None:
    if newly is None:
        return
    log.info("%s opted out by %s", mask(user.phone_number), _where(task))
    if newly:
        confirmation = outbound.OPT_OUT_CONFIRMATION
        notices.send_notice(user, confirmation, task=task, reply_to=task.message_sid)
        db.session.commit()
