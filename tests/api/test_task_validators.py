"""A task's validators, its ETag and its `updated_at` (which If-Unmodified-Since is checked
against), change exactly when what a client reads of it changes: not when only the worker's
own clock moves, and whenever its cost does."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.http import http_date

from sms_agent.answering.claim import claim
from sms_agent.extensions import db
from sms_agent.models import Task, types, utcnow
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
