"""Benchmark 2, the API at size: p50 latency, CPU and SQL statements per request of the
heavy endpoints, on SQLite and PostgreSQL seeded by `flask demo seed` with 100,000 and then
1,000,000 tasks.

Run: make bench-api  (or python -m bench.api --help). Requests go through the whole Flask
app in-process (WSGI, no network), with a token, so the figures are the app's own cost; the
CPU column is this process's CPU per request (the database server's is not in it, SQLite's
is), which depends less than the wall clock on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from urllib.parse import quote

import sqlalchemy as sa

from bench import harness
from config import DevelopmentConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.models import ApiToken, StaffUser, utcnow
from sms_agent.sample_data import demo_phone

#: "The last 24 hours": a bound inside a day, whose whole days the rollups answer.
LAST_DAY = quote((utcnow() - timedelta(hours=24)).isoformat(timespec="seconds"))
ENDPOINTS = [
    "/api/tasks/analytics/",
    "/api/tasks/analytics/?category=coding&status=completed",
    f"/api/tasks/analytics/?created_after={LAST_DAY}",
    f"/api/tasks/?created_after={LAST_DAY}&page=1",
    "/api/analytics/",
    "/api/users/?page=1",
    "/api/tasks/?page=1",
]
#: Staff opening the dashboard (the API's analytics, charts, spend, the newest errors) and
#: the Tasks page, and searching the admin's lists for one texter's number (logged in, no
#: token).
ADMIN_PAGES = [
    "/admin/",
    "/admin/task/",
    f"/admin/task/?search={quote(demo_phone(7))}",
    f"/admin/outboundmessage/?search={quote(demo_phone(7))}",
]


def parse_args() -> argparse.Namespace:
    parser = harness.arguments(
        __doc__, "PostgreSQL server; a scratch database is created on it per size"
    )
    parser.add_argument("--sizes", default="100000,1000000", help="task counts, comma-separated")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="sqlite and/or postgresql, comma-separated"
    )
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


@contextlib.contextmanager
def scratch(kind: str, server: str):
    """An empty database of `kind`, removed afterwards."""
    if kind == "postgresql":
        with harness.scratch_database(server, prefix="bench_api") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="bench_api_") as folder:
            yield f"sqlite:///{folder}/bench.sqlite"


def staff_key() -> str:
    staff = StaffUser(username="bench", is_admin=True, is_active=True)
    staff.set_password("bench-password")
    token, key = ApiToken.issue(staff_user=staff)
    db.session.add_all([staff, token])
    db.session.commit()
    return key


def measure(client, path: str, key: str | None, repeat: int) -> dict:
    """`key` None: the client's logged-in staff session instead of a token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    for _ in range(3):  # warm the caches and the connection pool
        assert client.get(path, headers=headers).status_code == 200, path
    sa.event.listen(db.engine, "before_cursor_execute", record)
    timings, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    sa.event.remove(db.engine, "before_cursor_execute", record)
    return {
        "p50_ms": statistics.median(timings),
        "cpu_ms": statistics.median(cpu),
        "queries": len(statements) / repeat,
    }


def run_size(args, kind: str, tasks: int) -> tuple[str, dict]:
    with scratch(kind, args.database) as database_url:
        seeded = seed(database_url, args.users, tasks, args.errors)
        app = create_app(
            DevelopmentConfig,
            SQLALCHEMY_DATABASE_URI=database_url,
            RATELIMIT_ENABLED=False,
            LOG_LEVEL="WARNING",
            WTF_CSRF_ENABLED=False,  # the staff login form, posted by this benchmark
        )
        with app.app_context():
            db.session.execute(sa.text("ANALYZE"))
            key = staff_key()
            client = app.test_client()
            figures = {path: measure(client, path, key, args.repeat) for path in ENDPOINTS}
            login = {"username": "bench", "password": "bench-password"}
            assert client.post("/admin/auth/login/", data=login).status_code == 302
            figures |= {path: measure(client, path, None, args.repeat) for path in ADMIN_PAGES}
            db.session.remove()
            db.engine.dispose()
    return seeded, figures


def main() -> None:
    args = parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    kinds = args.databases.split(",")
    results = {(kind, size): run_size(args, kind, size) for kind in kinds for size in sizes}
    print(f"machine: {harness.machine()}; {args.repeat} timed requests each")
    for (kind, size), (seeded, _figures) in results.items():
        print(f"{kind:>10} {size:>9,} tasks: {seeded}")
    for kind in kinds:
        print(f"\n{kind}")
        header = "".join(f" {f'{size:,} tasks':>30}" for size in sizes)
        print(f"{'endpoint':<56}{header}")
        print(f"{'':<56}" + "".join(f" {'p50 ms':>10}{'CPU ms':>10}{'queries':>10}" for _ in sizes))
        for path in ENDPOINTS + ADMIN_PAGES:
            cells = "".join(
                " {p50_ms:>10.1f}{cpu_ms:>10.1f}{queries:>10.0f}".format(
                    **results[(kind, size)][1][path]
                )
                for size in sizes
            )
            print(f"{path:<56}{cells}")
        if len(sizes) > 1:
            first, last = results[(kind, sizes[0])][1], results[(kind, sizes[-1])][1]
            ratios = ", ".join(
                f"{path} {last[path]['p50_ms'] / first[path]['p50_ms']:.2f}x"
                for path in ENDPOINTS + ADMIN_PAGES
            )
            print(f"p50 at {sizes[-1]:,} / at {sizes[0]:,}: {ratios}")
    constant = all(
        len({results[(kind, size)][1][path]["queries"] for size in sizes}) == 1
        for kind in kinds
        for path in ENDPOINTS + ADMIN_PAGES
    )
    print(f"query counts constant with size: {'yes' if constant else 'NO'}")


if __name__ == "__main__":
    main()
