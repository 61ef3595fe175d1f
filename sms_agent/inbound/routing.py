"""Where an SMS goes: a keyword or command, a refusal (inactive, opted out, empty, a tapback
reaction), or a task for the model, which admission (limits.py) may still refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app

from .. import handoff, more, threads
from ..clean_text import is_blank
from ..models import Channel, HandoffSource, User, utcnow
from . import keywords
from .keywords import Keyword
from .media import Attachment, readable
from .message_types import REACTION, TEXT, is_a_reaction
from .reactions import is_about, quoted_text


@dataclass
class Received:
    """What the caller does after committing: enqueue `task_id`, or send notice `notice`
    (from `our_number`, the one the texter wrote to, when known); `held_media`: a text held
    for staff whose pictures the worker fetches for them."""

    outcome: str
    phone: str | None = None
    notice: str | None = None
    sid: str | None = None
    task_id: str | None = None
    held_media: str | None = None
    our_number: str | None = None


def route(
    user: User,
    body: str,
    media: list[Attachment],
    twilio_keyword: Keyword | None = None,
    message_type: str = "",
) -> Received:
    """`twilio_keyword`: what Twilio's Advanced Opt-Out matched (OptOutType), which wins over
    our reading of the words: Twilio obeys its own keyword list, and so must we.
    `message_type`: Twilio's MessageType on WhatsApp (message_types.message_type)."""
    word = keywords.word_of(body)  # folded once, read as a keyword and as "go on"
    keyword = twilio_keyword or keywords.keyword_in(word, opted_out=user.is_opted_out)
    if keyword is Keyword.START and readable(media):
        by_twilio = bool(twilio_keyword) or twilio_confirms(keyword, body, user.channel)
        return _opt_in_with_a_picture(user, body, media, answered_by_twilio=by_twilio)
    if twilio_keyword is not None:
        return _keyword(user, twilio_keyword, answered_by_twilio=True)
    if keyword is not None and readable(media) and keyword not in _KEYWORDS_WITH_A_PICTURE:
        keyword = None  # a caption: "help" under a photo of homework asks about the photo
    if keyword in _ANSWERS and not user.is_opted_out and more.asks_about(user, body):
        keyword = None  # "Start" to "the start or the end?": an answer, not the command
    if (
        keyword is None
        and not media
        and not user.is_opted_out
        and word in keywords.GO_ON_WORDS
        and more.has_rest(user)
    ):
        keyword = Keyword.MORE  # "continue" under "(Reply MORE)": the rest, not a question
    if keyword is not None:
        confirmed = twilio_confirms(keyword, body, user.channel)
        return _keyword(user, keyword, media, twilio_confirms=confirmed)
    return _message(user, body, media, message_type, thanks=keywords.says_thanks(word, body))


def _opt_in_with_a_picture(
    user: User, body: str, media: list[Attachment], answered_by_twilio: bool
) -> Received:
    """START or YES under a picture or voice note: an opted-out texter is opted back in (and
    gets the confirmation, unless Twilio sent it), and the picture is answered, "Yes" its
    caption, as it would be from anyone subscribed."""
    confirm = user.is_opted_out and user.is_active and not answered_by_twilio
    user.opted_out_at = None
    received = _message(user, body, media)
    if confirm:
        received.notice = "opt_in"  # before a note on a file we do not read
    return received


def _message(
    user: User, body: str, media: list[Attachment], message_type: str = "", thanks: bool = False
) -> Received:
    """A text that is no keyword: refused, or a task for the model. `thanks`: the text is a
    thank-you alone (keywords.says_thanks)."""
    phone = user.phone_number
    if not user.is_active:
        return Received("inactive", phone)
    if user.is_opted_out:
        return Received("opted_out", phone)
    if handoff.is_held(user):
        # Waiting for or with staff: stored for them, not for the model (nor the quota).
        return Received("held", phone)
    if not media and (thanks or message_type == REACTION or _is_reaction(phone, body)):
        # "Liked “What is 2+2?”", or what Twilio names a WhatsApp reaction (its emoji in the
        # Body or not), or a thank-you alone: stored, but nothing to answer, ask or count.
        return Received("reaction", phone)
    if not media and is_blank(body) and user.channel == Channel.WHATSAPP:
        # WhatsApp sends no empty text: Twilio passes a reaction (a 👍 on our answer) on
        # as a message with no Body. Stored as a tapback is, it gets no how-to. Any other
        # kind (a poll, an edit: "unsupported") said something we cannot read; a text
        # of only invisible characters is an empty text, as on SMS.
        if is_a_reaction(message_type):
            return Received("reaction", phone)
        if message_type != TEXT:
            return Received("unsupported", phone, notice="unsupported")
    if is_blank(body) and not readable(media):
        # Nobody is left without an answer: a file we cannot read alone, or nothing at all,
        # gets a how-to.
        return Received("media" if media else "empty", phone, notice="media" if media else "empty")
    # Pictures and voice notes are read by the worker; a video or a file is not, and the
    # worker's note says so just before the answer (answering/pipeline.py): sent from here,
    # it promised an answer that a picture failing to load or the quota then withheld.
    return Received("task", phone)


#: Commands that may be a one-word answer to the model's question ("a reset or a reboot?"
#: "Reset"): our own, and START from a subscribed texter, to whom it changes nothing (one
#: who opted out is opted back in whatever we asked). Never the opt-out words nor HELP,
#: which carriers (and Twilio) answer whatever was asked, nor AGENT: a texter asked "Shall
#: I get you an agent?" wants one.
_ANSWERS = {Keyword.START, Keyword.MORE, Keyword.RESET, Keyword.USAGE}

#: Keywords that keep their meaning as the caption of a picture or voice note: an opt-out
#: is obeyed whatever comes with it, and a person asked for is shown the picture. An opt-in
#: is obeyed too, and the picture answered (_opt_in_with_a_picture). Any other ("help",
#: "more", "info" under a photo) asks about the picture.
_KEYWORDS_WITH_A_PICTURE = {Keyword.STOP, Keyword.AGENT}


def _keyword(
    user: User,
    keyword: Keyword,
    media: list[Attachment] = (),
    answered_by_twilio: bool = False,
    twilio_confirms: bool = False,
) -> Received:
    """STOP gets one confirmation when it opts the texter out, and START one (unless
    Twilio's Advanced Opt-Out sends it: for a carrier word, `twilio_confirms`, not for our
    phrasings); the others may get a notice. A keyword Twilio matched itself has had
    Twilio's answer: a second one from us would be billed and say the same."""
    phone = user.phone_number
    if keyword is Keyword.AGENT:
        return _ask_for_a_person(user, media)
    if keyword is Keyword.STOP:
        newly = not user.is_opted_out
        user.opt_out()
        confirmed = answered_by_twilio or twilio_confirms
        return Received("stop", phone, notice="opt_out" if newly and not confirmed else None)
    if keyword is Keyword.START:
        user.opted_out_at = None
    elif keyword is Keyword.RESET:
        user.context_reset_at = utcnow()
    notice = {
        Keyword.START: "opt_in",
        Keyword.HELP: "help",
        Keyword.RESET: "reset",
        Keyword.MORE: "more",  # the rest of the latest answer (more.py), never counted
    }.get(keyword, "usage")
    if keyword is Keyword.HELP and not current_app.config["HELP_REPLY_ENABLED"]:
        notice = None
    confirmed = keyword is Keyword.START and twilio_confirms
    if not user.is_active or user.is_opted_out or answered_by_twilio or confirmed:
        notice = None
    return Received(str(keyword), phone, notice=notice)


#: The words Twilio's opt-out handling answers itself, by the keyword they stand for.
_TWILIO_WORDS = {
    Keyword.STOP: keywords.is_carrier_opt_out,
    Keyword.START: keywords.is_carrier_opt_in,
}


def twilio_confirms(keyword: Keyword, body: str, channel: str) -> bool:
    """Whether Twilio's Advanced Opt-Out confirms this opt-out or opt-in itself: one of its
    own words (keywords.is_carrier_opt_out, is_carrier_opt_in), on SMS. Twilio's opt-out
    handling is SMS's alone: a STOP on WhatsApp is neither blocked nor answered by Twilio,
    so we confirm it."""
    is_twilios = _TWILIO_WORDS.get(keyword)
    return (
        is_twilios is not None
        and channel == Channel.SMS
        and current_app.config["TWILIO_ADVANCED_OPT_OUT"]
        and is_twilios(body)
    )


def _ask_for_a_person(user: User, media: list[Attachment]) -> Received:
    """AGENT, HUMAN, "talk to a person"...: staff are asked (and alerted after the commit),
    and the texter gets one acknowledgement. Nobody can reply to an opted-out or inactive
    texter, so nothing changes for them. Asked again while staff were asked already or
    have the conversation, it is a text for staff like any other (they see the texter
    asking again), not one more acknowledgement each time. A picture or voice note sent
    with the request is held for staff too, the first request's as well."""
    if not user.is_active or user.is_opted_out:
        return Received(str(Keyword.AGENT), user.phone_number)
    if handoff.is_held(user):
        return Received("held", user.phone_number)
    handoff.request_human(user, HandoffSource.KEYWORD)
    outcome = "held" if readable(media) else str(Keyword.AGENT)
    return Received(outcome, user.phone_number, notice="handoff")


#: How far back in a thread a reaction's quoted message is looked for.
REACTION_LOOKBACK = 50


def asks_nothing(phone: str, body: str, media: Sequence) -> bool:
    """Whether a text held for staff would have asked the model nothing, had the AI had the
    conversation when it came: one more request for a person, a tapback reaction or a text
    of nothing at all (with no attachment). The hand-back answers the newest held text that
    asks something (unseen.py), not these: answered, a request for a person asked for one
    again at once, and a "Liked ..." or a blank text got an answer meant for no question
    while the question before it got none."""
    if keywords.parse(body) is Keyword.AGENT:
        return True
    return not media and (is_blank(body) or _is_reaction(phone, body))


def _is_reaction(phone: str, body: str) -> bool:
    """A tapback sent as a text: shaped like one, and quoting a message of this thread. The
    thread is only read for the rare text shaped like one."""
    quoted = quoted_text(body)
    if quoted is None:
        return False
    return is_about(quoted, threads.recent_bodies(phone, REACTION_LOOKBACK))
