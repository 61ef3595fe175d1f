"""A task's validators, its ETag and its `updated_at` (which If-Unmodified-Since is checked
against), change exactly when what a client reads of it changes: not when only the worker's
own clock moves, and whenever its cost does."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from werkzeug.http import http_date

from sms_agent.answering.claim import claim
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task, types, utcnow
from sms_agent.ops.sweeper import claim_stranded
from tests.factories import make_task


@contextlib.contextmanager
def clock_at(monkeypatch, moment: datetime):
    """The product's clock (utcnow) stopped at `moment` meanwhile."""
    with monkeypatch.context() as patched:
        patched.setattr(types, "clock", lambda: moment)
        yield


def _made_an_hour_ago(monkeypatch, **fields) -> Task:
    with clock_at(monkeypatch, utcnow() - timedelta(hours=1)):
        return make_task(**fields)


def _taken_up_again(task: Task) -> None:
    """What the service does with a task stranded by a lost job or a dead worker: the sweeper
    restarts a queued one's clock and enqueues it again; a worker re-claims a processing one."""
    if task.status == "queued":
        assert claim_stranded() == [task.id]
        db.session.commit()
    else:
        assert claim(task.id) is not None
    db.session.expire_all()


@pytest.mark.parametrize("status", ["queued", "processing"])
def test_a_stranded_task_taken_up_again_is_as_the_client_read_it(
    client, admin_headers, monkeypatch, status
):
    """Regression: `updated_at` was also the worker's lease, so the sweeper re-enqueueing a
    queued task, or a worker re-claiming one whose worker had died, moved it: a client's
    write on the task as it had read it got a 412 (If-Match, If-Unmodified-Since) and its
    cached copy a new ETag, although nothing it reads of the task had changed."""
    task = _made_an_hour_ago(monkeypatch, status=status)
    url = f"/api/tasks/{task.id}/"
    read = client.get(url, headers=admin_headers)
    read_at = http_date(datetime.now(UTC))

    with clock_at(monkeypatch, utcnow() + timedelta(minutes=5)):
        _taken_up_again(task)

    again = client.get(url, headers={**admin_headers, "If-None-Match": read.headers["ETag"]})
    assert again.status_code == 304
    since = {**admin_headers, "If-Unmodified-Since": read_at}
    matched = {**admin_headers, "If-Match": read.headers["ETag"]}
    patched = client.patch(url, json={"category": "coding"}, headers=since)
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.get_json()["updated_at"] != read.get_json()["updated_at"]
    assert client.delete(url, headers=matched).status_code == 412  # the PATCH changed it


def _sms(task: Task) -> None:
    db.session.add(
        OutboundMessage(task_id=task.id, to_number=task.user_phone, body="Paris.", price_usd=1)
    )


def _model_call(task: Task) -> None:
    db.session.add(
        ModelCall(task_id=task.id, user_phone=task.user_phone, model="m", cost_usd=Decimal(2))
    )


def _twilio_price(task: Task) -> None:
    """Twilio's price replacing our estimate of an SMS sent an hour ago."""
    message = db.session.query(OutboundMessage).filter_by(task_id=task.id).one()
    message.price_usd = Decimal("1.5")


@pytest.mark.parametrize("cost", [_sms, _model_call, _twilio_price])
def test_a_tasks_cost_changing_moves_its_validators(client, admin_headers, monkeypatch, cost):
    """Regression: the ledgers' triggers change a task's `cost_usd`, which its
    representation shows, but left its `updated_at` as it was: a client's write sent with
    If-Unmodified-Since the time of its read went ahead on a cost it never saw, and a list
    ordered by updated_at missed the change."""
    task = _made_an_hour_ago(monkeypatch)
    if cost is _twilio_price:
        with clock_at(monkeypatch, task.created_at):
            _sms(task)
            db.session.commit()
    url = f"/api/tasks/{task.id}/"
    read = client.get(url, headers=admin_headers)
    read_at = http_date(datetime.now(UTC) - timedelta(minutes=30))

    cost(task)
    db.session.commit()

    now = client.get(url, headers=admin_headers)
    assert now.get_json()["cost_usd"] != read.get_json()["cost_usd"]
    assert now.get_json()["updated_at"] > read.get_json()["updated_at"]
    assert now.headers["ETag"] != read.headers["ETag"]
    since = {**admin_headers, "If-Unmodified-Since": read_at}
    response = client.patch(url, json={"category": "coding"}, headers=since)
    assert response.status_code == 412, response.get_data(as_text=True)
    assert response.get_json()["details"] == {"reason": "changed"}
