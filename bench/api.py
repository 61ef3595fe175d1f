"""Benchmark 2, the API at size: p50 latency and SQL statements per request of the heavy
endpoints, on PostgreSQL seeded by `flask demo seed` with 10,000 and then 100,000 tasks.

Run: make bench-api  (or python -m bench.api --help). Requests go through the whole Flask
app in-process (WSGI, no network), with a token, so the figures are the app's own cost.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import sqlalchemy as sa

from bench import harness
from config import DevelopmentConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.models import ApiToken, StaffUser

ENDPOINTS = ["/api/tasks/analytics/", "/api/analytics/", "/api/users/?page=1", "/api/tasks/?page=1"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server; a scratch database is created on it per size",
    )
    parser.add_argument("--sizes", default="10000,100000", help="task counts, comma-separated")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--errors", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per endpoint")
    return parser.parse_args()


def seed(database_url: str, users: int, tasks: int, errors: int) -> str:
    env = harness.stack_env(database_url, "memory://", None)
    harness.migrate(env)
    argv = [harness.executable("flask"), "--app", "wsgi", "demo", "seed"]
    argv += ["--users", str(users), "--tasks", str(tasks), "--errors", str(errors)]
    done = subprocess.run(argv, cwd=harness.PROJECT, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


def staff_key() -> str:
    staff = StaffUser(username="bench", is_admin=True)
    staff.set_password("bench-password")
    token, key = ApiToken.issue(staff_user=staff)
    db.session.add_all([staff, token])
    db.session.commit()
    return key


def measure(client, path: str, key: str, repeat: int) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    for _ in range(3):  # warm the caches and the connection pool
        assert client.get(path, headers=headers).status_code == 200, path
    sa.event.listen(db.engine, "before_cursor_execute", record)
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    sa.event.remove(db.engine, "before_cursor_execute", record)
    return {"p50_ms": statistics.median(timings), "queries": len(statements) / repeat}


def run_size(args, tasks: int) -> tuple[str, dict]:
    with harness.scratch_database(args.database, prefix="bench_api") as database_url:
        seeded = seed(database_url, args.users, tasks, args.errors)
        app = create_app(
            DevelopmentConfig,
            SQLALCHEMY_DATABASE_URI=database_url,
            RATELIMIT_ENABLED=False,
            LOG_LEVEL="WARNING",
        )
        with app.app_context():
            db.session.execute(sa.text("ANALYZE"))
            key = staff_key()
            client = app.test_client()
            figures = {path: measure(client, path, key, args.repeat) for path in ENDPOINTS}
            db.session.remove()
            db.engine.dispose()
    return seeded, figures


def main() -> None:
    args = parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results = {size: run_size(args, size) for size in sizes}
    print(f"machine: {harness.machine()}; PostgreSQL; {args.repeat} timed requests each")
    for size, (seeded, _figures) in results.items():
        print(f"{size:>7} tasks: {seeded}")
    header = "".join(f" {f'{size:,} tasks':>22}" for size in sizes)
    print(f"{'endpoint':<24}{header}")
    print(f"{'':<24}" + "".join(f" {'p50 ms':>11}{'queries':>11}" for _ in sizes))
    for path in ENDPOINTS:
        cells = "".join(
            f" {results[size][1][path]['p50_ms']:>11.1f}{results[size][1][path]['queries']:>11.0f}"
            for size in sizes
        )
        print(f"{path:<24}{cells}")
    counts = {path: {results[size][1][path]["queries"] for size in sizes} for path in ENDPOINTS}
    constant = all(len(values) == 1 for values in counts.values())
    print(f"query counts constant with size: {'yes' if constant else 'NO'}")


if __name__ == "__main__":
    main()
