"""What the pacing tests share: a Twilio stand-in noting when each send reaches it, numbers
of ours no other test has paced, and pacers whose slots a test can read exactly."""

from __future__ import annotations

import time
import uuid

from sms_agent.vendors import pacing
from tests.standins import StandIn, twilio_message


class FakeClock:
    """A pacer's clock that stands still at 1000.0 until a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def arrivals() -> tuple[StandIn, list[float]]:
    """A Twilio stand-in, and the list of when (time.monotonic) each send reached it."""
    arrived: list[float] = []

    def answer(_method, _path, body):
        arrived.append(time.monotonic())
        return 201, twilio_message(body), {}

    return StandIn(answer), arrived


def fresh_number(prefix: str = "+1500556") -> str:
    """A number of ours no other test has paced (Redis outlives a test)."""
    return f"{prefix}{uuid.uuid4().int % 10**4:04d}"


def use_pacer(monkeypatch, pacer: pacing.LocalPacer) -> pacing.LocalPacer:
    """Pace this test's sends with `pacer` (a fresh one: no slot another test booked), in
    place of the process's own in-process pacer (PACING_REDIS_URL unset)."""
    monkeypatch.setitem(pacing._pacers, "", pacer)
    return pacer
