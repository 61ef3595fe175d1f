"""MORE: the next part of an answer that did not fit the texter's segments, once per MORE SMS.

A reply cut to the tier's segments ends with a marker asking the texter to reply MORE. The
rest waits on the task's metadata (`more`, text already shaped for the channel named in
`more_channel`, shaped again when MORE comes on another), beside what the texter has read
so far (`sent`, which later questions get as context). MORE continues the latest answer
with the same segment budget and marker until nothing is left. It is part of an
answer that was already counted, so it never counts against the quota.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import sqlalchemy as sa

from . import notices, outbound, quota
from .answering.history import CROSSED_RESET, told_after_reset
from .current import app_config
from .extensions import db
from .models import Channel, Task, TaskStatus, User, relock_bookkeeping, utcnow
from .outbound.language import language_for

log = logging.getLogger("sms_agent.more")

WHOLE = "That's the whole answer. Text a new question any time."
#: WHOLE in the language of the question answered, as its MORE marker was (language.py).
_WHOLE = {
    None: WHOLE,
    "fr": "C'est toute la réponse. Envoyez une autre question quand vous voulez.",
    "es": "Esa es toda la respuesta. Escribe otra pregunta cuando quieras.",
}
NOTHING = "There's no answer to continue yet. Text a question any time."
#: NOTHING in the texter's language, when known (User.help_language).
_NOTHING = {
    None: NOTHING,
    "fr": "Il n'y a pas encore de réponse à continuer. Envoyez une question quand vous voulez.",
    "es": "No hay ninguna respuesta que continuar. Escribe una pregunta cuando quieras.",
}


def latest_answer(user: User) -> Task | None:
    """The texter's latest answer, unless RESET forgot it ("Your next message starts
    fresh": MORE has nothing to continue then), but for one that crossed the RESET
    (history.told_after_reset): that one MORE continues."""
    query = (
        sa.select(Task)
        .where(
            Task.user_phone == user.phone_number,
            Task.status == TaskStatus.COMPLETED.value,
            Task.ai_response.is_not(None),
        )
        .order_by(Task.created_at.desc())
        .limit(1)
    )
    if user.context_reset_at is not None:
        reset = user.context_reset_at
        query = query.where(told_after_reset(reset, reset - CROSSED_RESET))
    return db.session.scalars(query).first()


def asks_about(user: User, text: str) -> bool:
    """Whether `text` is one word (please and thanks aside) that the texter's latest
    answer, read whole, ended by asking about ("Which should I explain: the start or the
    end?", "Did you try a reset?", "Want more?"): then it answers that question, and goes
    to the model rather than being the command (START from a subscribed texter, RESET,
    USAGE, MORE with nothing left to send). An answer cut for MORE has its rest to send
    first; "how many texts do I have left?" is always USAGE."""
    said = set(_WORD.findall(text.casefold())) - _COURTESIES
    if len(said) != 1:
        return False
    task = latest_answer(user)
    meta = (task.metadata_ or {}) if task else {}
    if task is None or meta.get("more"):
        return False
    last = _SENTENCES.split((meta.get("sent") or task.ai_response).strip())[-1]
    if not last.endswith("?"):
        return False
    return said <= set(_WORD.findall(last.casefold()))


def has_rest(user: User) -> bool:
    """Whether the texter's latest answer has a part left for MORE: "continue" or "go on"
    then asks for it (keywords.GO_ON_WORDS). Read only for such a text."""
    task = latest_answer(user)
    return bool(task is not None and (task.metadata_ or {}).get("more"))


#: Where a sentence or line ends, for the last one of an answer.
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n")
_WORD = re.compile(r"[^\W_]+")
_COURTESIES = {"please", "pls", "plz", "thanks", "thank", "you"}


def whole_answer(question: str | None, known: str | None = None, can_ask: bool = True) -> str:
    """What MORE gets once an answer to `question` was sent whole, in its language, else
    in the texter's `known` one (User.help_language) when it says too little ("merci");
    without its invitation to text a question when the texter cannot ask one now."""
    return _inviting(_WHOLE[language_for(question, known)], can_ask)


def _inviting(notice: str, can_ask: bool) -> str:
    """`notice` (WHOLE or NOTHING, in any language), or only its first sentence when the
    texter has no request left this month: its second invites a question that would get
    nothing, the quota's notice having gone out once already."""
    return notice if can_ask else notice.split(". ", 1)[0] + "."


Next = tuple[Task | None, str | outbound.Shaped]


class AnswerUnderWay(Exception):
    """MORE came while the texter's next answer is still being made (a slow model, a MORE
    sent right after the question): it waits for that answer and then continues it, where
    it said "no answer to continue yet", at times after the answer and its "(Reply MORE)"."""


#: Seconds between looks at whether the answer a MORE waits for has gone out.
WAIT_SECONDS = 3.0


def _answer_under_way(user: User, latest: Task | None) -> bool:
    """Whether a text of the texter's newer than their `latest` answer is still being
    answered (queued, at the model or waiting for its sending slot), and recently enough
    that it is no stranded one the sweeper has yet to find (STALE_TASK_SECONDS). Asked only
    when MORE has nothing to send, so a MORE with a rest to send costs no statement more."""
    recent = utcnow() - timedelta(seconds=app_config()["STALE_TASK_SECONDS"])
    query = sa.select(Task.id).where(
        Task.user_phone == user.phone_number,
        Task.status.in_((TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value)),
        Task.created_at > (recent if latest is None else max(recent, latest.created_at)),
    )
    return db.session.scalar(query.limit(1)) is not None


def _take_next_part(user: User, reply_to: str | None) -> Next | None:
    """Under the texter's lock: record that `reply_to` got its reply and take the next part
    off the stored rest, in one commit before anything is sent. A retried MORE (same sid)
    then finds its sid and sends nothing, and two MOREs at once get consecutive parts; a
    send that fails afterwards loses that part (at most once, as every notice)."""
    relock_bookkeeping(user)
    if reply_to and not user.remember_sid("noticed_sids", reply_to):
        db.session.rollback()
        return None
    if reply_to:
        user.note_more_taken(reply_to)  # its price counts once sent, no longer its estimate
    task = latest_answer(user)
    meta = (task.metadata_ or {}) if task else {}
    if not meta.get("more") and _answer_under_way(user, task):
        db.session.rollback()  # the MORE is neither answered nor taken yet
        raise AnswerUnderWay
    if not meta.get("more"):
        db.session.commit()
        can_ask = quota.has_room(user)
        if task is None:
            return None, _inviting(_NOTHING[user.help_language], can_ask)
        return task, whole_answer(task.sms_content, user.help_language, can_ask)
    kept_for = meta.get("more_channel") or Channel.SMS.value  # rests kept before it was noted
    shaped = outbound.plan(
        user, meta["more"], question=task.sms_content, more=True, kept_for=kept_for
    )
    sent = f"{meta.get('sent') or ''} {shaped.sent}".strip()
    task.metadata_ = {
        **meta,
        "sent": sent,
        "more": shaped.rest,
        "more_channel": outbound.channel_of(user),
    }
    db.session.commit()
    return task, shaped


def release(user: User, reply_to: str | None) -> None:
    """A MORE (`reply_to`) whose job is dropped, its texter made inactive since it was
    queued: no part will be sent for it, so it stops counting against the spend caps as a
    part still to be sent (User.more_parts_pending), which for up to a day refused the
    texter made active again. The caller commits."""
    if reply_to:
        relock_bookkeeping(user)
        user.note_more_taken(reply_to)


def send_more(
    user: User,
    reply_to: str | None = None,
    slots: outbound.Slots | None = None,
    sender: str | None = None,
) -> bool:
    """Send the next part of the texter's latest answer, or a one-line notice that there is
    nothing more; False when nothing was sent (a retried MORE, opted out, a number outside
    ALLOWED_COUNTRIES, whose ErrorLog the caller commits, Twilio refused).
    The caller commits what the send recorded; `slots` are the sending slots it booked,
    `sender` the number of ours the MORE was written to (else the answer's, outbound.send)."""
    taken = _take_next_part(user, reply_to)
    if taken is None:
        log.info("MORE %s already answered", reply_to)
        return False
    task, body = taken
    kind = "more" if isinstance(body, outbound.Shaped) else "more_done"
    # A number whose first text is MORE has had nothing from us yet: the carriers' program
    # notice comes first, as before any notice.
    notices.send_program_notice_once(user, slots=slots, sender=sender)
    try:
        part_of = task if kind == "more" else None
        outbound.send(user, body, kind=kind, task=part_of, slots=slots, sender=sender)
    except (outbound.OptedOut, outbound.CountryNotAllowed, outbound.SendFailed):
        return False
    return True
