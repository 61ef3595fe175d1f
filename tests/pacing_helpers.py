"""What the pacing tests share: a Twilio stand-in noting when each send reaches it, and
numbers of ours no other test has paced."""

from __future__ import annotations

import time
import uuid

from tests.standins import StandIn, twilio_message


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
