"""flask sms ...: text the service locally, through the real webhook, worker and outbox."""

from __future__ import annotations

import contextlib
import logging
import sys

import click

from .. import simulator
from ..inbound.media import UnservedChannel, split_channel
from ..media.kinds import file_type
from ..models import Channel, OutboundMessage, TaskStatus, utcnow
from ..phones import InvalidPhoneNumber, normalise_phone
from ..plural import counted
from ..simulated_senders import NotATestNumber, claim_test_number
from .group import ServiceGroup
from .values import Number

sms = ServiceGroup("sms", help="Text the service locally.")

#: Longest wait for a notice (HELP, USAGE...) when the message stored no task.
NOTICE_WAIT = 10.0
#: Wait for the quota notice after a refused text (only the first in a window gets one).
REFUSED_NOTICE_WAIT = 3.0


@sms.command("simulate")
@click.option(
    "--from", "from_number", required=True, help="The texter's number, e.g. +15551230000."
)
@click.option("--inline", is_flag=True, help="Answer in this process instead of the worker.")
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=Number(0),
    help="Seconds to wait for the worker's reply.",
)
@click.option("--verbose", is_flag=True, help="Also show the service's INFO log lines (on stderr).")
@click.option(
    "--media",
    "media_file",
    type=click.File("rb"),
    help="Attach a picture or voice note (its type from the file name); TEXT may be left out.",
)
@click.option(
    "--channel",
    type=click.Choice(["sms", "whatsapp"], case_sensitive=False),
    default="sms",
    show_default=True,
    help="Text as an SMS or as a WhatsApp message (From: whatsapp:+1...).",
)
@click.argument("text", required=False)
def simulate(
    from_number: str,
    inline: bool,
    timeout: float,
    verbose: bool,
    media_file,
    channel: str,
    text: str | None,
) -> None:
    """Send TEXT as an SMS from --from, signed like Twilio, and print the reply SMS.

    Without TEXT, read one message per line from stdin until end of input or "quit"
    (with --media, a picture or voice note alone is sent instead). The reply comes from the
    worker started by `make run`; --inline answers in this process instead, for when no
    worker is running. --media needs SMS_BACKEND=console: the file goes to the local media
    store, where the worker reads it as it would fetch it from Twilio. Exits 1, having said
    why, when a text got no SMS back. --from must be a test number, as on the admin's Try
    it: a real texter's number is refused (exit 2).
    """
    try:
        # "whatsapp:+1..." is how Twilio writes a WhatsApp sender: it says the channel too.
        number, prefixed = split_channel(from_number)
        phone = normalise_phone(number)
        claim_test_number(phone, "flask sms simulate")
    except (InvalidPhoneNumber, UnservedChannel, NotATestNumber) as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from exc
    if prefixed != Channel.SMS:
        channel = prefixed
    media = [_attachment(media_file)] if media_file else []
    if text is None and media:
        text = ""
    lines = [text] if text is not None else _stdin_lines()
    unanswered = 0
    with contextlib.nullcontext() if verbose else _only_warnings_logged():
        for number, line in enumerate(lines):
            attached = media if number == 0 else []
            unanswered += not _exchange(phone, line, inline, timeout, channel, attached)
    if unanswered:
        # Each was told why above; a script (a deploy's smoke test) sees it in the exit code.
        click.get_current_context().exit(1)


def _attachment(file) -> tuple[bytes, str]:
    """The file's bytes and its type by its name, as a phone would label it."""
    return file.read(), file_type(file.name)


@contextlib.contextmanager
def _only_warnings_logged():
    """The service's INFO lines (inbound, task answered...) would interleave with the
    conversation on the terminal; warnings and errors still show."""
    logger = logging.getLogger("sms_agent")
    level = logger.level
    logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _stdin_lines():
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            click.echo("you> ", nl=False)
        line = sys.stdin.readline()
        if not line or line.strip().lower() == "quit":
            return
        if line.strip():
            yield line.rstrip("\n")


def _exchange(
    phone: str, text: str, inline: bool, timeout: float, channel: str = "sms", media=()
) -> bool:
    """Send one text and show what came back; False, having said why, when no SMS did."""
    since = utcnow()
    try:
        with simulator.jobs_inline() if inline else contextlib.nullcontext():
            task = simulator.simulate_inbound(phone, text, channel=channel, media=media)
    except simulator.SimulationRejected as exc:
        raise click.ClickException(f"the webhook refused the message: {exc}") from exc
    silent = simulator.gets_nothing_back(phone, since, text)
    if silent:
        click.echo(f"(not answered: {silent})")
        return False
    if task is not None and task.status == TaskStatus.REFUSED:
        click.echo(f"({task.status_label}: not answered and not counted)")
        messages = simulator.wait_for_reply(phone, since, None, REFUSED_NOTICE_WAIT)
        for message in messages:
            _show(message)
        return bool(messages)
    wait = timeout if task is not None else min(timeout, NOTICE_WAIT)
    messages = simulator.wait_for_reply(phone, since, task, wait)
    if not messages:
        _no_reply(task, inline, wait)
    for message in messages:
        _show(message)
    _now_silent(phone)
    return bool(messages)


def _now_silent(phone: str) -> None:
    """A STOP just sent was answered (its confirmation is the one SMS an opted-out number
    gets); say what it changed, by the rule Try it uses (simulator.gets_nothing_back)."""
    silent = simulator.gets_nothing_back(phone)
    if silent:
        click.echo(f"({silent})")


def _no_reply(task, inline: bool, waited: float) -> None:
    # A task the worker failed unsent (a number outside ALLOWED_COUNTRIES, say) says why, as
    # Try it does. Otherwise a keyword's or a refused file's notice is sent by the worker
    # too, so "no worker" is the likely reason whether or not the message was a question.
    if task is not None and task.status == TaskStatus.FAILED:
        click.echo(f"(not answered: the task failed: {task.error_message or 'no reason given'})")
    elif inline:
        click.echo(
            "(no reply: nothing is sent for this message)"
            if task is None
            else f"(no reply; the task is {task.status})"
        )
    else:
        click.echo(f"(no reply within {waited:g}s: {_why_unanswered(task)})")


def _why_unanswered(task) -> str:
    """simulator.why_unanswered, with this command's ways to wait longer or not at all."""
    why = simulator.why_unanswered(task)
    if task is not None and task.status == TaskStatus.PROCESSING:
        return why + ", and --timeout waits longer"
    if why == simulator.NO_WORKER:
        return why + ", or pass --inline to answer in this process"
    return why


def _show(message: OutboundMessage) -> None:
    if message.channel == "whatsapp":
        click.echo(f"--- WhatsApp to {message.to_number} ({message.kind}, {message.status}) ---")
        click.echo(message.body)
        return
    numbering = f" part {message.part}/{message.parts}" if message.parts > 1 else ""
    click.echo(
        f"--- SMS to {message.to_number}{numbering} ({message.kind}, {message.encoding}, "
        f"{counted(message.segments, 'segment')}, {message.status}) ---"
    )
    click.echo(message.body)
