"""The stand-ins the benchmarks and the fault tests count sends with."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.standins import StandIn


def test_every_twilio_send_is_recorded_with_its_own_status_when_many_arrive_at_once():
    """Each send's status was set on the last call recorded, which under concurrent sends
    could be another's: a call was left without one (a fault test's KeyError in CI)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often, as on a loaded host
    try:
        recorded, answers = _many_sends_at_once()
    finally:
        sys.setswitchinterval(interval)
    assert recorded == sorted(answers)
    assert answers.count(500) == 20 and answers.count(201) == 380


def _many_sends_at_once() -> tuple[list, list]:
    with StandIn() as stand_in, requests.Session() as session:
        stand_in.script("twilio", *([500] * 20))
        url = f"{stand_in.url}/2010-04-01/Accounts/AC1/Messages.json"

        def send(number: int) -> int:
            form = {"To": f"+1555000{number:04d}", "From": "+15550009999", "Body": "hi"}
            return session.post(url, data=form, timeout=10).status_code

        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(send, range(400)))
    return sorted(call.get("status") or 0 for call in stand_in.calls["twilio"]), answers
