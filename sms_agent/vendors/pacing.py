"""Pacing sends per sending number at TWILIO_MPS messages per second.

Twilio queues what a number sends beyond its rate (1 message per second for a long code)
and fails what waits too long; pacing here keeps a burst of answers inside the rate instead.
A sender books the next free slots of its number (the first is the later of now and the
previous booking's last slot plus 1/MPS; the others follow one interval apart), so a burst
goes out in the order it booked, one slot apart, and a reply's parts go out together. The
model calls are not held back: a send whose slot is far off gives its worker back until
then (outbound/slots.py); only a short wait is slept.

Slots are shared by every worker process through Redis when PACING_REDIS_URL names one (a
Redis broker's URL by default): the booking is one Lua script on Redis's own clock, so it
is atomic and the hosts' clocks do not matter. Without Redis each process paces alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

log = logging.getLogger("sms_agent.pacing")

#: Book `count` consecutive slots: returns the first (Redis's clock) and how long the caller
#: waits for it, in seconds, as text.
_BOOK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local previous = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, previous + interval)
local last = slot + (count - 1) * interval
local expiry = math.ceil((last - now + interval) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', last), 'PX', expiry)
return {string.format('%.6f', slot), string.format('%.6f', slot - now)}
"""


class LocalPacer:
    """Slots kept in this process (the embedded mode, or no Redis configured), on the wall
    clock, so a booking stays meaningful to a job that runs it later in another process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def reserve(self, number: str, interval: float, count: int = 1) -> float:
        return self.reserve_slot(number, interval, count)[1]

    def reserve_slot(self, number: str, interval: float, count: int = 1) -> tuple[float, float]:
        with self._lock:
            now = self._clock()
            slot = max(now, self._last.get(number, float("-inf")) + interval)
            self._last[number] = slot + (count - 1) * interval
            return slot, slot - now

    def now(self) -> float:
        return self._clock()


#: Seconds a pacer whose Redis did not answer paces in its own process before asking
#: Redis again.
REDIS_RETRY_SECONDS = 5.0
#: Seconds to connect to the pacing Redis, and for each of its answers.
REDIS_TIMEOUT = 2.0


class RedisPacer:
    """Slots kept in Redis, shared by every process that paces the same number. While that
    Redis cannot be reached, each process paces alone (a warning says so) and asks Redis
    again every REDIS_RETRY_SECONDS: a send is never failed for want of a slot, and Twilio
    queues what several processes send beyond the rate meanwhile."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._script = self._client.register_script(_BOOK)
        self._clock = clock
        self._local = LocalPacer(clock)
        self._down_until = float("-inf")

    def reserve(self, number: str, interval: float, count: int = 1) -> float:
        return self.reserve_slot(number, interval, count)[1]

    def reserve_slot(self, number: str, interval: float, count: int = 1) -> tuple[float, float]:
        """The first of `count` slots booked (seconds on Redis's clock) and the wait until it."""
        if self._clock() >= self._down_until:
            try:
                return self._book_in_redis(number, interval, count)
            except redis.RedisError as exc:
                self._went_down(exc)
        return self._local.reserve_slot(number, interval, count)

    def _book_in_redis(self, number: str, interval: float, count: int) -> tuple[float, float]:
        keys = [f"sms_agent:pacing:{number}"]
        slot, wait = self._script(keys=keys, args=[interval, count])
        return float(slot), float(wait)

    def now(self) -> float:
        """Redis's clock (the wall clock of its host), else this host's wall clock."""
        if self._clock() >= self._down_until:
            try:
                seconds, micros = self._client.time()
                return seconds + micros / 1_000_000
            except redis.RedisError as exc:
                self._went_down(exc)
        return self._local.now()

    def _went_down(self, exc: redis.RedisError) -> None:
        self._down_until = self._clock() + REDIS_RETRY_SECONDS
        log.warning(
            "PACING_REDIS_URL unreachable, pacing in this process alone for %.0fs: %s: %s",
            REDIS_RETRY_SECONDS,
            type(exc).__name__,
            exc,
        )


_pacers: dict[str, LocalPacer | RedisPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(url: str | None) -> LocalPacer | RedisPacer:
    """One pacer per process and Redis URL (a Redis client is a connection pool)."""
    key = url or ""
    with _pacers_lock:
        if key not in _pacers:
            _pacers[key] = RedisPacer(url) if url else LocalPacer()
        return _pacers[key]


@dataclass
class Slots:
    """Consecutive slots of one sending number, booked together: one message each, in
    order. `first` is on the pacer's clock (kept with a deferred task, see `booking`);
    `wait` was the time to it when the slots were booked or looked up again. `number` is
    the pacing key they were booked on (None: not known), so that a message going out from
    another number does not take them."""

    first: float
    interval: float
    count: int
    wait: float
    number: str | None = None
    taken: int = 0
    _looked_up: float = field(default_factory=time.monotonic)

    @property
    def booking(self) -> dict:
        """What a later run needs to send in these slots (JSON)."""
        booking = {"first": self.first, "interval": self.interval, "count": self.count}
        return {**booking, "number": self.number} if self.number else booking

    def take(self) -> float | None:
        """Seconds until the next unused slot (0 or less: now); None when all are used."""
        if self.taken >= self.count:
            return None
        due = self._looked_up + self.wait + self.taken * self.interval
        self.taken += 1
        return due - time.monotonic()


def book(number: str, mps: float, url: str | None, count: int) -> Slots | None:
    """Book `count` consecutive slots of `number` at `mps` (None when pacing is off)."""
    if mps <= 0 or count < 1:
        return None
    interval = 1.0 / mps
    first, wait = pacer_for(url).reserve_slot(number, interval, count)
    return Slots(first=first, interval=interval, count=count, wait=wait, number=number)


def look_up(booking: dict, url: str | None, number: str | None = None) -> Slots:
    """Slots booked by an earlier run (`Slots.booking`), with the wait until them now.
    A booking made before bookings named their number was made on `number`."""
    first = float(booking["first"])
    wait = first - pacer_for(url).now()
    number = booking.get("number") or number
    return Slots(first, float(booking["interval"]), int(booking["count"]), wait, number)


def time_to_slot(number: str, mps: float, url: str | None, slots: Slots | None = None) -> float:
    """Take the next of `slots`, or else book `number`'s next slot at `mps` (0 turns pacing
    off); returns the seconds until it (0 for now). Slots booked on another number are not
    this number's to use (a message that goes out from a number other than the one its job
    booked for, as an old job's may): it books a slot of its own."""
    if slots is not None and slots.number not in (None, number):
        slots = None
    wait = slots.take() if slots is not None else None
    if wait is None:
        if mps <= 0:
            return 0.0
        wait = pacer_for(url).reserve(number, 1.0 / mps)
    return max(wait, 0.0)


def sleep_until(wait: float) -> None:
    """Sleep `wait` seconds for a slot (`time_to_slot`); nothing for none."""
    if wait > 0:
        time.sleep(wait)
