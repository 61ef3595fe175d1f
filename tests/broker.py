"""The in-memory broker the tests' app publishes to (CELERY_BROKER_URL=memory://)."""

from __future__ import annotations

from sms_agent.worker import BULK_QUEUE, DEFAULT_QUEUE


def drained(app, queues: tuple[str, ...] = (DEFAULT_QUEUE, BULK_QUEUE)) -> list:
    """Every message waiting in the app's queues, taken off them (kombu messages, acked)."""
    messages = []
    with app.extensions["celery"].connection_for_read() as connection:
        for name in queues:
            queue = connection.SimpleQueue(name)
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                message.ack()
                messages.append(message)
            queue.close()
    return messages


def app_on_broker(app, url: str):
    """Another app on the test's database, publishing to and consuming from `url` (the
    embedded SQLite broker, Redis, or one that is down)."""
    from config import TestingConfig
    from sms_agent import create_app

    return create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CELERY_BROKER_URL=url,
    )
