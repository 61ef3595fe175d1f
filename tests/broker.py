"""The in-memory broker the tests' app publishes to (CELERY_BROKER_URL=memory://)."""

from __future__ import annotations


def drained(app) -> list:
    """Every message waiting in the app's queue, taken off it (kombu messages, acked)."""
    messages = []
    with app.extensions["celery"].connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            message.ack()
            messages.append(message)
        queue.close()
    return messages
