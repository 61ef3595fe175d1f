"""Sending SMS: Twilio through its official SDK, or the console outbox of the embedded mode.

Nothing else in the app imports twilio.rest; callers get a backend from get_sms_backend()
and see only SendResult and SmsError. Each worker thread keeps its Twilio client (and so its
connection) from one send to the next.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import click
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from config import LARGEST_USD

from ..current import app_config
from ..phones import mask
from . import pacing
from .per_thread import PerThread
from .twilio_http import KeptHttpClient, RedirectingHttpClient

log = logging.getLogger("sms_agent.sms")

#: Bulk notices first book a slot of this lane of the sending number (its pacing key's suffix).
BULK_LANE = ":bulk"

#: The query parameter of our StatusCallback URL that carries the id of the OutboundMessage
#: sent, so a callback that arrives before we stored the message's sid still finds it.
#: Twilio signs the URL it calls, query string included.
CALLBACK_REFERENCE = "message"

#: Twilio error 21610: the recipient replied STOP, so Twilio refuses to message them.
UNSUBSCRIBED_RECIPIENT = 21610

# Twilio's message statuses folded into ours (DeliveryStatus). Anything not listed is
# an inbound-only status (receiving, received) that never applies to what we send.
TWILIO_STATUS_MAP = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "partially_delivered": "undelivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


@dataclass(frozen=True)
class Price:
    """What Twilio charged for a message, as it reports it: a negative amount (a debit) in
    `unit`; None while Twilio has not priced it yet."""

    amount: Decimal | None
    unit: str | None
    status: str | None = None


class SmsError(Exception):
    """Sending failed. `retryable` says whether the same request may succeed later;
    `ambiguous` that Twilio got the request but its answer was lost, so it may have sent it."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        status: int | None,
        retryable: bool,
        ambiguous: bool = False,
    ):
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable
        self.ambiguous = ambiguous

    @property
    def unsubscribed(self) -> bool:
        return self.code == UNSUBSCRIBED_RECIPIENT


class TwilioBackend:
    name = "twilio"

    def __init__(self, config) -> None:
        self.client = _clients.get(
            config["TWILIO_ACCOUNT_SID"],
            config["TWILIO_AUTH_TOKEN"],
            config.get("TWILIO_API_BASE_URL"),
            config.get("TWILIO_TIMEOUT", 10.0),
        )
        self.from_number = config["TWILIO_PHONE_NUMBER"]
        self.whatsapp_number = config.get("TWILIO_WHATSAPP_NUMBER") or self.from_number
        public = config.get("PUBLIC_BASE_URL")
        self.status_callback = public.rstrip("/") + "/sms/status" if public else None
        self.mps = config.get("TWILIO_MPS", 0)
        self.whatsapp_mps = config.get("WHATSAPP_MPS", 0)
        self.pacing_url = config.get("PACING_REDIS_URL")

    def pacing_number(self, channel: str = "sms", sender: str | None = None) -> str:
        """Whose sending slots a message from `sender` (else our number for the channel)
        takes: each of our numbers sends at TWILIO_MPS of its own. A WhatsApp sender is
        paced under its WhatsApp address, apart from the SMS of the same number."""
        number = sender or self.sender_for(channel)
        return f"whatsapp:{number}" if channel == "whatsapp" else number

    def book(
        self, count: int, channel: str = "sms", sender: str | None = None
    ) -> pacing.Slots | None:
        """The next `count` slots of the number the messages go out from (None with pacing
        off), see pacing.py and `send`."""
        number = self.pacing_number(channel, sender)
        return pacing.book(number, self.rate_of(channel), self.pacing_url, count)

    def rate_of(self, channel: str) -> float:
        """Messages a second one of our numbers sends on `channel`: a long code's SMS 1
        (TWILIO_MPS), a WhatsApp sender 80 (WHATSAPP_MPS), at which its answers were held
        back when paced as SMS."""
        return self.whatsapp_mps if channel == "whatsapp" else self.mps

    def book_bulk(self, count: int, share: float) -> pacing.Slots | None:
        """`count` slots of the bulk lane of TWILIO_PHONE_NUMBER, which bulk notices go out
        from, running at `share` of its rate (None with pacing off); see outbound/slots.py,
        `spread`."""
        return pacing.book(self.from_number + BULK_LANE, self.mps * share, self.pacing_url, count)

    def look_up(
        self, booking: dict, channel: str = "sms", sender: str | None = None
    ) -> pacing.Slots | None:
        """Slots an earlier run booked (`Slots.booking`), with the wait until them now; None
        when they were booked on another number than the one the messages now go out from
        (the texter moved to the other channel meanwhile). A booking that names no number
        is older than per-number pacing and was booked on TWILIO_PHONE_NUMBER."""
        slots = pacing.look_up(booking, self.pacing_url, self.from_number)
        return slots if slots.number == self.pacing_number(channel, sender) else None

    def send(
        self,
        to: str,
        body: str,
        channel: str = "sms",
        slots: pacing.Slots | None = None,
        sender: str | None = None,
        reference: str | None = None,
        paced: bool = False,
    ) -> SendResult:
        """Send one message from `sender` (else our number for the channel), first waiting
        for the next of `slots`, or else for that number's next slot (pacing.py), unless
        the caller has waited for its slot (`paced`, see `time_to_slot`). On WhatsApp, both
        numbers carry Twilio's "whatsapp:" prefix. `reference` (our id of the message)
        rides along in the StatusCallback URL."""
        extra = {"status_callback": self.callback_url(reference)} if self.status_callback else {}
        if not paced:
            pacing.sleep_until(self.time_to_slot(channel, slots, sender))
        sender = sender or self.sender_for(channel)
        if channel == "whatsapp":
            to, sender = f"whatsapp:{to}", f"whatsapp:{sender}"
        try:
            message = self.client.messages.create(to=to, from_=sender, body=body, **extra)
            return SendResult(message.sid, TWILIO_STATUS_MAP.get(message.status, "queued"))
        except TwilioRestException as exc:
            raise _rest_error(exc) from exc
        except requests.ReadTimeout as exc:
            raise _lost_answer(f"no answer from Twilio: {exc}") from exc
        except (requests.RequestException, TwilioException) as exc:
            # Refused or failed to connect: Twilio never saw the request.
            raise SmsError(
                f"Twilio unreachable: {exc}", code=None, status=None, retryable=True
            ) from exc
        except UNREADABLE as exc:
            # A 2xx (errors raise above) whose body is no message: a proxy's page, JSON cut
            # short. Twilio took the message, and what it said of it is lost.
            raise _lost_answer(f"unreadable answer from Twilio: {exc!r}"[:300]) from exc

    def time_to_slot(
        self, channel: str = "sms", slots: pacing.Slots | None = None, sender: str | None = None
    ) -> float:
        """Take the slot a message from `sender` on `channel` goes out in (the next of
        `slots`, or else its number's next one); returns the seconds until it, for the caller
        to wait before it stores the message and sends it with `paced=True`."""
        number = self.pacing_number(channel, sender)
        return pacing.time_to_slot(number, self.rate_of(channel), self.pacing_url, slots)

    def callback_url(self, reference: str | None) -> str | None:
        """Where Twilio reports on a message: /sms/status, naming `reference` when given."""
        if reference is None or self.status_callback is None:
            return self.status_callback
        # urlencode's query of one pair, without its walk of a mapping.
        return f"{self.status_callback}?{CALLBACK_REFERENCE}={urllib.parse.quote_plus(reference)}"

    def sender_for(self, channel: str) -> str:
        """Our own number on `channel`: what a message goes out from unless told otherwise."""
        return self.whatsapp_number if channel == "whatsapp" else self.from_number

    def fetch_price(self, sid: str) -> Price:
        """Twilio's price of a sent message (GET .../Messages/{sid}.json); raises SmsError."""
        try:
            message = self.client.messages(sid).fetch()
            return Price(
                amount=_amount(message.price),
                unit=(message.price_unit or "").upper() or None,
                status=TWILIO_STATUS_MAP.get(message.status or ""),
            )
        except TwilioRestException as exc:
            raise _rest_error(exc) from exc
        except (requests.RequestException, TwilioException) as exc:
            raise SmsError(
                f"Twilio unreachable: {exc}", code=None, status=None, retryable=True
            ) from exc
        except UNREADABLE as exc:
            text = f"unreadable answer from Twilio: {exc!r}"[:300]
            raise SmsError(text, code=None, status=None, retryable=True) from exc


def _amount(raw) -> Decimal | None:
    """Twilio reports prices as strings such as "-0.00750"; anything unreadable is None, and
    so is an amount no money column holds (LARGEST_USD): no SMS costs that much, and kept,
    it shut every cap of its texter (SQLite) or failed every commit of the price job
    (PostgreSQL), so no later message was priced."""
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value) > LARGEST_USD:
        log.warning("unreadable Twilio price %r", raw)
        return None
    return value


def _build_client(account_sid: str, token: str, base_url: str | None, timeout: float) -> Client:
    if base_url:
        http = RedirectingHttpClient(base_url, timeout=timeout)
    else:
        http = KeptHttpClient(timeout=timeout)
    return Client(account_sid, token, http_client=http)


_clients = PerThread(_build_client, close=lambda client: client.http_client.session.close())


def forget_clients() -> None:
    """Close this thread's kept client, so the next send builds one from the current config."""
    _clients.forget()


#: What the SDK raises reading a 2xx body that is not a Twilio resource: JSON that does not
#: parse (ValueError), or JSON that is no object or holds odd values.
UNREADABLE = (ValueError, AttributeError, TypeError)


def _lost_answer(text: str) -> SmsError:
    """Twilio got the request but its answer is lost, so it may have sent the message: the
    part is not sent again (outbound/send.py), at most once beating a duplicate."""
    return SmsError(text, code=None, status=None, retryable=True, ambiguous=True)


#: What Twilio's edge answers when the service behind it did not answer in time: that
#: service may have taken the message, so it is sent at most once, as a lost answer is.
GATEWAY_ERRORS = frozenset({502, 504})


def _rest_error(exc: TwilioRestException) -> SmsError:
    """Twilio's 429 and 5xx are worth another try; its 4xx (bad number, 21610...) are not."""
    retryable = exc.status == 429 or exc.status >= 500
    text = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
    ambiguous = exc.status in GATEWAY_ERRORS
    return SmsError(
        text, code=exc.code, status=exc.status, retryable=retryable, ambiguous=ambiguous
    )


#: Set by the simulator, which prints replies itself, so the console backend stays quiet.
quiet_console: contextvars.ContextVar[bool] = contextvars.ContextVar("quiet_console", default=False)


class OutboxBackend:
    """The embedded default: each SMS is printed as the phone would show it and kept in the
    outbox table by the caller, so local runs and tests can read what was sent."""

    name = "console"

    def __init__(self, config) -> None:
        self.from_number = config["TWILIO_PHONE_NUMBER"]
        self.whatsapp_number = config.get("TWILIO_WHATSAPP_NUMBER") or self.from_number

    def book(self, _count: int, _channel: str = "sms", _sender: str | None = None) -> None:
        """Nothing to pace: the outbox sends at once."""
        return None

    def book_bulk(self, _count: int, _share: float) -> None:
        return None

    def look_up(self, _booking: dict, _channel: str = "sms", _sender: str | None = None) -> None:
        return None

    def time_to_slot(self, _channel: str = "sms", _slots=None, _sender: str | None = None) -> float:
        return 0.0

    sender_for = TwilioBackend.sender_for

    def send(
        self,
        to: str,
        body: str,
        channel: str = "sms",
        slots=None,
        sender: str | None = None,
        reference=None,
        paced: bool = False,
    ) -> SendResult:
        sid = "SM" + secrets.token_hex(16)
        if not quiet_console.get():
            sender = sender or self.sender_for(channel)
            if channel == "whatsapp":
                head = f"WhatsApp from {sender} to {to}"
            else:
                head = f"SMS from {sender} to {to}"
            click.echo(f"\n--- {head} ---\n{body}\n---")
        log.info("console SMS %s to %s (%d chars)", sid, mask(to), len(body))
        return SendResult(sid=sid, status="sent")

    def fetch_price(self, _sid: str) -> Price:
        """Nothing was billed: the outbox keeps the estimate it was stored with."""
        return Price(amount=None, unit=None)


BACKENDS = {"twilio": TwilioBackend, "console": OutboxBackend}


def get_sms_backend() -> TwilioBackend | OutboxBackend:
    """The backend SMS_BACKEND names; unknown names stop with a clear error."""
    config = app_config()
    name = config["SMS_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"SMS_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
    return BACKENDS[name](config)
