"""The embedded default: web and worker processes share one SQLite file without lock errors."""

import multiprocessing

import pytest
import sqlalchemy as sa

from config import TestingConfig


def _write_tasks(url: str, phone: str, count: int, errors) -> None:
    from sms_agent import create_app
    from sms_agent.extensions import db
    from sms_agent.models import Task

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
    try:
        with app.app_context():
            for n in range(count):
                db.session.add(Task(user_phone=phone, sms_content=f"message {n}"))
                db.session.commit()
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(repr(exc))


def test_two_processes_write_concurrently_without_database_is_locked(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    from sms_agent.extensions import db
    from tests.factories import make_user

    phone = make_user().phone_number
    errors = multiprocessing.get_context("spawn").Queue()
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_write_tasks, args=(database_url, phone, 40, errors))
        for _ in range(2)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert errors.empty(), errors.get()
    assert all(writer.exitcode == 0 for writer in writers)
    assert db.session.scalar(sa.text("SELECT count(*) FROM tasks")) == 80
