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


def test_a_sent_message_is_fetched_with_its_price_as_twilio_serves_it():
    """Regression: the price job's GET of a message (costs.fetch_prices) got a 404 from
    the stand-in, so a benchmark or fault run counted every price lookup as a failure."""
    with StandIn() as stand_in, requests.Session() as session:
        messages = f"{stand_in.url}/2010-04-01/Accounts/AC1/Messages"
        form = {"To": "+15550001234", "From": "+15550009999", "Body": "hi"}
        sent = session.post(f"{messages}.json", data=form, timeout=10).json()
        fetched = session.get(f"{messages}/{sent['sid']}.json", timeout=10)
        unknown = session.get(f"{messages}/SM{'0' * 32}.json", timeout=10)
    assert fetched.status_code == 200
    message = fetched.json()
    assert message["sid"] == sent["sid"] and message["status"] == "delivered"
    assert message["price"] == "-0.00790" and message["price_unit"] == "USD"
    assert unknown.status_code == 404 and unknown.json()["code"] == 20404
