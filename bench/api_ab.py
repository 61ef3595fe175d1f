"""The heavy API endpoints of two (or more) checkouts of this project side by side, served
the way issue 17 measured the design document's Django build: SQLite, gunicorn with 2
workers, 1,000 users / 100,000 tasks / 1,000 errors from each checkout's own `flask demo
seed`. The Django build is not in this repository; the issue gives its figures as ratios to
this project's first version (9e5346d), so running that version here beside this one turns
the ratios into figures on this machine (`--django` prints them).

Each checkout gets its own SQLite file (migrated and seeded by its own code), a staff token
from its own `flask token create`, and in alternating turns a fresh gunicorn started from
its folder. A turn times each endpoint: --requests one after another over one kept-alive
connection (p50), then --clients connections at once for --seconds (requests/s).

Run: git worktree add /tmp/first-version 9e5346d && ln -s $PWD/.venv /tmp/first-version/
     python -m bench.api_ab /tmp/first-version . --django
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench import harness

ENDPOINTS = ["/api/tasks/analytics/", "/api/analytics/", "/api/users/?page=1", "/api/tasks/?page=1"]

#: What issue 17 measured, the Django build against this project's first version (9e5346d),
#: same machine, SQLite, gunicorn 2 workers: `tasks/analytics/` 251-282x faster here, the
#: tasks list 26.5-27x the Django build's requests/s, the users list 22-33 ms against 60-66
#: ms (2.0-2.7x). Each: the endpoint, its figure (0: p50 ms, 1: requests/s), the Django
#: build's as a multiple of the first version's, and the issue's target (x the Django build).
DJANGO_BUILD = [
    ("/api/tasks/analytics/", 0, (251, 282), 1000),
    ("/api/tasks/?page=1", 1, (1 / 27, 1 / 26.5), 30),
    ("/api/users/?page=1", 0, (2.0, 2.7), 10),
]
DJANGO_USERS_MS = (60, 66)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=60, help="sequential timed requests")
    parser.add_argument("--clients", type=int, default=4, help="connections for requests/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the rate run")
    parser.add_argument(
        "--django", action="store_true", help="first checkout is 9e5346d: derive Django's"
    )
    return parser.parse_args()


def flask(checkout: Path, env: dict, *argv: str) -> str:
    done = subprocess.run(
        [harness.executable("flask"), "--app", "wsgi", *argv],
        cwd=checkout, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(argv)} in {checkout}:\n{done.stderr[-2000:]}")
    return done.stdout


def prepare(checkout: Path, work: Path, number: int, tasks: int) -> tuple[dict, str]:
    """A migrated and seeded SQLite file for `checkout`, and a staff token's key."""
    port = harness.free_port()
    env = dict(os.environ)
    env.update(
        APP_ENV="development",
        DATABASE_URL=f"sqlite:///{work / f'api_{number}.sqlite'}",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        RATELIMIT_ENABLED="false",
        LOG_LEVEL="warning",
        PYTHONPATH=str(checkout),
    )
    flask(checkout, env, "db", "upgrade")
    began = time.perf_counter()
    flask(
        checkout, env, "demo", "seed", "--users", "1000", "--tasks", str(tasks), "--errors", "1000"
    )
    print(f"{checkout}: seeded {tasks:,} tasks in {time.perf_counter() - began:.1f} s", flush=True)
    flask(
        checkout,
        env,
        "staff",
        "create",
        "--username",
        "bench",
        "--password",
        "bench-password",
        "--admin",
    )
    key = flask(checkout, env, "token", "create", "bench").strip().splitlines()[-1].split()[-1]
    return env, key


def timed_get(connection: http.client.HTTPConnection, path: str, key: str) -> float:
    began = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return (time.perf_counter() - began) * 1000


def measure(port: int, path: str, key: str, args) -> tuple[float, float]:
    """(p50 ms one request at a time, requests/s with --clients at once)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(5):
        timed_get(connection, path, key)
    p50 = statistics.median(timed_get(connection, path, key) for _ in range(args.requests))
    connection.close()
    counts = [0] * args.clients
    deadline = time.perf_counter() + args.seconds

    def client(index: int) -> None:
        own = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < deadline:
            timed_get(own, path, key)
            counts[index] += 1
        own.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return p50, sum(counts) / args.seconds


def one_turn(checkout: Path, env: dict, key: str, args, work: Path) -> dict:
    argv = [harness.executable("gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    argv += ["--access-logfile", "/dev/null"]
    with open(work / "web.log", "a") as log:
        web = subprocess.Popen(argv, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    port = int(env["PORT"])
    try:
        harness.wait_until(lambda: harness.http_ok(f"http://127.0.0.1:{port}/healthz"), 30, "web")
        return {path: measure(port, path, key, args) for path in ENDPOINTS}
    finally:
        web.terminate()
        web.wait()


def django_figures(first: dict, last: dict) -> None:
    """Issue 17's targets against the Django build, its figures derived from the first
    version's measured here (the issue's ratios)."""
    for path, figure, multiples, target in DJANGO_BUILD:
        low, high = (first[path][figure] * multiple for multiple in multiples)
        now, unit = last[path][figure], ("ms", "requests/s")[figure]
        better = (low / now, high / now) if figure == 0 else (now / high, now / low)
        print(
            f"Django {path}: {low:,.1f}-{high:,.1f} {unit} (the first version's x"
            f" {multiples[0]:.3g}-{multiples[1]:.3g}); this one {now:,.1f} {unit}:"
            f" {better[0]:,.1f}-{better[1]:,.1f}x (target >= {target:,}x)"
        )
    users, (low, high) = "/api/users/?page=1", DJANGO_USERS_MS
    print(
        f"  {users} against the issue's own {low}-{high} ms, measured when the first version"
        f" took 22-33 ms (here {first[users][0]:.1f} ms): {low / last[users][0]:.1f}-"
        f"{high / last[users][0]:.1f}x"
    )


def main() -> None:
    args = parse_args()
    print(harness.machine())
    work = Path(tempfile.mkdtemp(prefix="bench-api-ab-"))
    checkouts = [checkout.resolve() for checkout in args.checkouts]
    prepared = {
        checkout: prepare(checkout, work, number, args.tasks)
        for number, checkout in enumerate(checkouts)
    }
    # The seeded files (160 MB each) are still being written back to disk for a while after
    # seeding, which slowed the first turns' reads by up to 40%: flush them first.
    os.sync()
    turns: dict[Path, list[dict]] = {checkout: [] for checkout in checkouts}
    for turn in range(args.rounds):
        for checkout in checkouts if turn % 2 == 0 else checkouts[::-1]:
            env, key = prepared[checkout]
            turns[checkout].append(one_turn(checkout, env, key, args, work))
            print(f"round {turn + 1}: {checkout} done", flush=True)
    medians = {}
    for checkout in checkouts:
        print(f"{checkout}:")
        medians[checkout] = {}
        for path in ENDPOINTS:
            p50 = statistics.median(turn[path][0] for turn in turns[checkout])
            rate = statistics.median(turn[path][1] for turn in turns[checkout])
            medians[checkout][path] = (p50, rate)
            print(
                f"  {path:24s} p50 {p50:8.1f} ms  {rate:7.1f} requests/s ({args.clients} at once)"
            )
    if args.django:
        django_figures(medians[checkouts[0]], medians[checkouts[-1]])
    print(f"host speed after: {harness.host_speed():.0f} ms; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
