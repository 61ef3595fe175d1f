"""Each of our numbers is paced on its own: replies go out from the number the texter
wrote to, in that number's slots."""

from __future__ import annotations

import threading
import time

import pytest

from config import TestingConfig
from sms_agent.vendors import pacing
from sms_agent.vendors.twilio import get_sms_backend
from tests.pacing_helpers import fresh_number, use_pacer
from tests.standins import StandIn, twilio_message


def _pacing_stores() -> list:
    url = TestingConfig.TEST_REDIS_URL
    return [
        pytest.param(None, id="in-process"),
        pytest.param(
            url, id="redis", marks=pytest.mark.skipif(not url, reason="TEST_REDIS_URL is not set")
        ),
    ]


@pytest.mark.parametrize("pacing_url", _pacing_stores())
def test_each_of_our_numbers_books_slots_of_its_own(app, pacing_url):
    """A burst answered from the number some texters wrote to holds back no message from
    another number, nor from the WhatsApp sender of the same number; each number's own
    slots still follow one another at TWILIO_MPS, in the order they were booked."""
    ours, other = fresh_number("+1500555"), fresh_number()
    app.config.update(
        SMS_BACKEND="twilio", TWILIO_MPS=2, PACING_REDIS_URL=pacing_url, TWILIO_PHONE_NUMBER=ours
    )
    backend = get_sms_backend()
    burst = [backend.book(1, "sms", ours) for _ in range(3)]
    from_other = backend.book(2, "sms", other)
    on_whatsapp = backend.book(1, "whatsapp", ours)
    next_of_ours = backend.book(1)  # no sender: TWILIO_PHONE_NUMBER's slots

    gaps = [round(slots.first - burst[0].first, 5) for slots in [*burst, next_of_ours]]
    assert gaps == [0.0, 0.5, 1.0, 1.5]
    assert from_other.wait == 0.0 and on_whatsapp.wait == 0.0
    assert [s.number for s in (from_other, on_whatsapp)] == [other, f"whatsapp:{ours}"]
    assert from_other.booking["number"] == other  # kept with a deferred task's booking


@pytest.mark.parametrize(("configured", "interval"), [(None, 1 / 80), (20.0, 0.05)])
def test_a_whatsapp_sender_is_paced_at_whatsapps_rate_not_the_long_codes(app, configured, interval):
    """Regression: WhatsApp answers were paced at TWILIO_MPS, the long code's 1 SMS a
    second, though a WhatsApp sender takes 80 messages a second: a burst of 100 WhatsApp
    questions had its last answer held back 100 seconds. WHATSAPP_MPS paces them."""
    ours = fresh_number("+1500555")
    app.config.update(SMS_BACKEND="twilio", TWILIO_MPS=1, TWILIO_PHONE_NUMBER=ours)
    if configured is not None:
        app.config["WHATSAPP_MPS"] = configured
    backend = get_sms_backend()
    on_whatsapp = backend.book(100, "whatsapp", ours)
    assert on_whatsapp.interval == pytest.approx(interval)
    assert backend.book(2, "sms", ours).interval == 1.0


class RecordingPacer(pacing.LocalPacer):
    """The in-process pacer on the wall clock, noting each booking: (number, slot, wait)."""

    def __init__(self) -> None:
        super().__init__()
        self.booked: list[tuple[str, float, float]] = []

    def reserve_slot(self, number: str, interval: float, count: int = 1) -> tuple[float, float]:
        slot, wait = super().reserve_slot(number, interval, count)
        self.booked.append((number, slot, wait))
        return slot, wait


def test_sends_from_two_of_our_numbers_each_go_out_at_the_rate(app, monkeypatch):
    """Two threads each send four messages from a number of ours: each number's go out
    one slot apart, and neither waits behind the other's."""
    pacer = use_pacer(monkeypatch, RecordingPacer())
    arrived: list[tuple[float, str]] = []

    def answer(_method, _path, body):
        arrived.append((time.monotonic(), body["From"]))
        return 201, twilio_message(body), {}

    ours, other = fresh_number("+1500555"), fresh_number()
    with StandIn(answer) as stand_in:
        app.config.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=stand_in.url,
            TWILIO_MPS=5,
            TWILIO_PHONE_NUMBER=ours,
        )

        def send(sender: str) -> None:
            with app.app_context():
                for number in range(4):
                    get_sms_backend().send(f"+1555123{number:04d}", "hi", sender=sender)

        with app.app_context():  # the SDK's first use imports its modules: not timed
            get_sms_backend().send("+15551230000", "warm-up", sender=fresh_number())
        arrived.clear()
        burst_started = time.monotonic()
        threads = [threading.Thread(target=send, args=(sender,)) for sender in (ours, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(arrived) == 8
    for sender in (ours, other):
        # A busy machine can only delay a send, never bring one before its slot.
        mine = [at - burst_started for at, sent_from in arrived if sent_from == sender]
        early = [(k, round(at, 3)) for k, at in enumerate(mine) if at < k * 0.2 - 0.01]
        assert len(mine) == 4 and not early, early
        # Neither waits behind the other's: each number's first send has the first slot, at
        # once, and each later one waits for its own number's previous send only (one pace
        # for both would give one of them the second slot, 0.2 s on). Read from the bookings,
        # not from when the sends arrived, which a loaded machine delays.
        booked = [(slot, wait) for number, slot, wait in pacer.booked if number == sender]
        waits = [wait for _slot, wait in sorted(booked)]
        assert len(waits) == 4 and waits[0] == 0.0 and max(waits) <= 0.2 + 1e-3, booked


def test_a_booking_kept_from_before_bookings_named_a_number_is_twilio_phone_numbers(app):
    """A deferred task or job of the previous release kept {first, interval, count}: it was
    booked on TWILIO_PHONE_NUMBER, and a message from there still goes out in it; one
    that now goes out from another number books a slot of that number instead."""
    from sms_agent import outbound
    from tests.factories import make_user

    ours, other = fresh_number("+1500555"), fresh_number()
    app.config.update(SMS_BACKEND="twilio", TWILIO_MPS=2, TWILIO_PHONE_NUMBER=ours)
    user = make_user()
    kept = {"first": pacing.pacer_for(None).now() + 0.1, "interval": 0.5, "count": 1}

    slots = outbound.book(user, 1, kept)
    assert (slots.first, slots.number) == (kept["first"], ours)
    moved = outbound.book(user, 1, kept, sender=other)
    assert moved.number == other and moved.first != kept["first"] and moved.wait == 0.0
