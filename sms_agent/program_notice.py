"""The carriers' program notice (name, rates, HELP, STOP): its words, and whether a texter
is due it, once on each channel before the first thing we send there. Apart from notices.py,
which sends it, so the spend caps (limits.py), which count it before a first answer, and the
notices, which say what the caps decide, do not import each other."""

from __future__ import annotations

import logging

from flask import current_app

from .models import User
from .notice_wording import PROGRAM, in_language
from .outbound.channels import channel_of
from .outbound.gsm import segment_count

log = logging.getLogger("sms_agent.notices")

#: Where service_state records that the texter got the program notice: once per channel,
#: {"sms": when, "whatsapp": when}. A bare time, from before the channels were told apart,
#: stands for every channel.
SENT = "program_notice_sent"


def default(service_name: str, language: str | None = None) -> str:
    return in_language(PROGRAM, language).format(service=service_name)


def configured(config) -> str:
    return config["PROGRAM_NOTICE"] or default(config["SERVICE_NAME"])


def text(_user: User, language: str | None = None) -> str:
    """PROGRAM_NOTICE as written, else the default one in the texter's language."""
    config = current_app.config
    return config["PROGRAM_NOTICE"] or default(config["SERVICE_NAME"], language)


def due(user: User) -> bool:
    """Whether the next thing sent to `user` is preceded by the program notice (as far as
    the loaded row says; sending it checks again under the lock). It is due once on each
    channel: a texter who met us on WhatsApp still gets the carriers' notice with their
    first SMS answer."""
    return not user.is_opted_out and not sent_on_its_channel(user)


def sent_on_its_channel(user: User) -> bool:
    record = user.service_state.get(SENT)
    if not isinstance(record, dict):
        return bool(record)
    return channel_of(user) in record


def warn_of_one_carriers_frown_on(config) -> None:
    """Name, as the app starts, a program notice longer than one SMS or without the HELP
    and STOP words carriers require in it: every new texter is sent it, so a PROGRAM_NOTICE
    of 170 characters doubled the cost of every first contact, with nothing said."""
    notice = configured(config)
    segments = segment_count(notice)
    if segments > 1:
        log.warning(
            "the program notice (PROGRAM_NOTICE, or the default with SERVICE_NAME) is %d SMS "
            "segments: every new texter is sent all of them; keep it to one (160 GSM-7 "
            "characters, 70 with any other character)",
            segments,
        )
    missing = [word for word in ("HELP", "STOP") if word not in notice.upper()]
    if missing:
        log.warning(
            "the program notice (PROGRAM_NOTICE) does not mention %s: carriers require it "
            "to say how to get help and how to opt out",
            " or ".join(missing),
        )
