"""The least a stored webhook can cost, whatever the app around it does.

Run by `bench.ingest` with the stack's environment, it times the two things every webhook
must do on this stack: publish the job through Celery, and one database transaction shaped
like the webhook's (the pool's pre-ping, read the texter, insert the task, commit) over a
bare psycopg connection, with no Flask, ORM, signature or routing around them. It prints
the CPU each costs, in this process and in PostgreSQL's backend, as one JSON object.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import psycopg
import sqlalchemy as sa

from bench import harness

ROUNDS = 3000
WARM_UP = 200


def publish_ms(app) -> float:
    from sms_agent import jobs

    with app.app_context():
        for _ in range(WARM_UP):
            jobs.answer_task.apply_async(args=[str(uuid.uuid4())])
        began = time.process_time()
        for _ in range(ROUNDS):
            jobs.answer_task.apply_async(args=[str(uuid.uuid4())])
        return 1000 * (time.process_time() - began) / ROUNDS


def transaction_ms(database_url: str) -> tuple[float, float]:
    """(client, server) CPU ms of one webhook-shaped transaction, on a scratch table with
    the tasks table's keys (a uuid primary key and a unique MessageSid)."""
    url = sa.make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TABLE bench_floor (id uuid PRIMARY KEY, message_sid text UNIQUE, body text)"
        )
        connection.commit()
        backend = connection.info.backend_pid

        def one() -> None:
            connection.execute("SELECT 1")  # the pool's pre-ping
            connection.execute(
                "SELECT phone_number, tier, service_state FROM users WHERE phone_number = %s",
                (harness.phone(7),),
            )
            connection.execute(
                "INSERT INTO bench_floor VALUES (%s, %s, %s)",
                (uuid.uuid4(), "SM" + uuid.uuid4().hex, "What is DNS?"),
            )
            connection.commit()

        for _ in range(WARM_UP):
            one()
        client, server = time.process_time(), harness.cpu_seconds(backend)
        for _ in range(ROUNDS):
            one()
        client = 1000 * (time.process_time() - client) / ROUNDS
        server = 1000 * (harness.cpu_seconds(backend) - server) / ROUNDS
        connection.execute("DROP TABLE bench_floor")
        connection.commit()
    return client, server


def main() -> None:
    from wsgi import app

    client, server = transaction_ms(os.environ["DATABASE_URL"])
    figures = {"publish_ms": publish_ms(app), "db_client_ms": client, "db_server_ms": server}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
