"""Pacing sends per sending number at TWILIO_MPS messages per second.

Twilio queues what a number sends beyond its rate (1 message per second for a long code)
and fails what waits too long; pacing here keeps a burst of answers inside the rate instead.
Each send reserves the next free slot of its number (the later of now and the previous slot
plus 1/MPS) and sleeps until then, so a burst goes out in the order it asked, one slot
apart. The model calls are not held back: only the send waits, after its answer is made
and committed.

Slots are shared by every worker process through Redis when PACING_REDIS_URL names one (a
Redis broker's URL by default): the reservation is one Lua script on Redis's own clock, so
it is atomic and the hosts' clocks do not matter. Without Redis each process paces alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

#: Reserve the next slot: returns the slot (Redis's clock) and how long the caller waits for
#: it, in seconds, as text.
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local previous = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, previous + interval)
local expiry = math.ceil((slot - now + interval) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot), 'PX', expiry)
return {string.format('%.6f', slot), string.format('%.6f', slot - now)}
"""


class LocalPacer:
    """Slots kept in this process (the embedded mode, or no Redis configured)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def reserve(self, number: str, interval: float) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._last.get(number, float("-inf")) + interval)
            self._last[number] = slot
            return slot - now


class RedisPacer:
    """Slots kept in Redis, shared by every process that paces the same number."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2.0)
        self._script = self._client.register_script(_RESERVE)

    def reserve(self, number: str, interval: float) -> float:
        return self.reserve_slot(number, interval)[1]

    def reserve_slot(self, number: str, interval: float) -> tuple[float, float]:
        """The slot reserved (seconds on Redis's clock) and the wait until it."""
        slot, wait = self._script(keys=[f"sms_agent:pacing:{number}"], args=[interval])
        return float(slot), float(wait)


_pacers: dict[str, LocalPacer | RedisPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(url: str | None) -> LocalPacer | RedisPacer:
    """One pacer per process and Redis URL (a Redis client is a connection pool)."""
    key = url or ""
    with _pacers_lock:
        if key not in _pacers:
            _pacers[key] = RedisPacer(url) if url else LocalPacer()
        return _pacers[key]


def wait_for_slot(
    number: str,
    mps: float,
    url: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep until `number` may send again at `mps` (0 turns pacing off); returns the wait."""
    if mps <= 0:
        return 0.0
    wait = pacer_for(url).reserve(number, 1.0 / mps)
    if wait > 0:
        sleep(wait)
    return wait
