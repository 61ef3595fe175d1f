"""Instructions per API request, counted by valgrind's callgrind as bench/instructions.py
counts a webhook's: the same figure whatever else the machine is doing, so two versions of
the API compare on a shared host where the wall clock moves by 40% within hours.

The database is what issue 17 measured the lists on: a SQLite file seeded by `flask demo
seed` (1,000 users, 1,000 errors, --tasks tasks), read by an admin token. The requests go
through the whole Flask app in a child Python (test client, no network, no gunicorn) under
`valgrind --tool=callgrind --instr-atstart=no`; warm-up requests run uncounted.

Run: python -m bench.api_instructions  (needs valgrind: apt-get install -y valgrind).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import harness
from bench.instructions import counted, counting

PATHS = ["/api/users/?page=1", "/api/tasks/?page=1", "/api/users/?page_size=1", "/healthz"]
WARM_UP = 15


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks seeded")
    parser.add_argument("--requests", type=int, default=30, help="counted requests per path")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args()


def child(path: str, count: int) -> None:
    """Runs under valgrind: build the app, warm up, count `count` requests of `path`."""
    from sms_agent import create_app

    app = create_app()
    headers = {"Authorization": f"Bearer {os.environ['BENCH_API_KEY']}"}
    client = app.test_client()
    for _ in range(WARM_UP):
        assert client.get(path, headers=headers).status_code == 200, path
    counting(True)
    for _ in range(count):
        client.get(path, headers=headers)
    counting(False)


def flask(env: dict, *argv: str) -> str:
    done = subprocess.run(
        [harness.executable("flask"), "--app", "wsgi", *argv],
        cwd=harness.PROJECT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def seeded(work: Path, tasks: int) -> dict:
    """The environment of a migrated, seeded SQLite file, with an admin token's key."""
    env = dict(os.environ)
    env.update(
        APP_ENV="development",
        DATABASE_URL=f"sqlite:///{work / 'api.sqlite'}",
        RATELIMIT_ENABLED="false",
        LOG_LEVEL="warning",
        PYTHONPATH=str(harness.PROJECT),
    )
    flask(env, "db", "upgrade")
    seed = ["demo", "seed", "--users", "1000", "--errors", "1000", "--tasks", str(tasks)]
    print(flask(env, *seed).strip(), flush=True)
    flask(env, "staff", "create", "--username", "bench", "--password", "bench-password", "--admin")
    env["BENCH_API_KEY"] = flask(env, "token", "create", "bench").strip().split()[-1]
    return env


def main() -> None:
    args = parse_args()
    if args.child:
        child(args.child, args.requests)
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed: apt-get install -y valgrind")
    print(harness.machine())
    with tempfile.TemporaryDirectory(prefix="bench-api-instructions-") as folder:
        env = seeded(Path(folder), args.tasks)
        for path in args.paths.split(","):
            child_argv = ["bench.api_instructions", "--child", path]
            child_argv += ["--requests", str(args.requests)]
            figure = counted(child_argv, args.requests, env, Path(folder), f"the run of {path}")
            print(f"{path:<28} {figure / 1e6:6.2f} M instructions a request", flush=True)


if __name__ == "__main__":
    main()
