"""Instructions per webhook and per task, counted by valgrind's callgrind: the same figure
whatever else the machine is doing, so two versions of the code can be compared on a
shared or throttled host, where CPU time moves by 20% from one run to the next.

The webhook (Flask test client) and the pipeline (`pipeline.answer`, one thread) run in a
child Python under `valgrind --tool=callgrind --instr-atstart=no`, against a scratch
PostgreSQL database, a private redis-server and the stand-ins (answering at once), which
all run outside valgrind. Warm-up requests and tasks run uninstrumented; the child then
turns counting on with `callgrind_control -i on` for the measured ones only. Counts are of
user-space instructions in the Python process (not the kernel's, not PostgreSQL's): they
say which code does more work, not how many milliseconds it takes.

Run: make bench-instructions  (needs valgrind: apt-get install -y valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import harness
from bench.e2e import start_stand_in

WARM_UP = 60


def parse_args():
    parser = harness.arguments(__doc__)
    parser.add_argument("--webhooks", type=int, default=200, help="measured webhooks")
    parser.add_argument("--tasks", type=int, default=100, help="measured tasks")
    parser.add_argument("--child", choices=["webhook", "task"], help=argparse.SUPPRESS)
    return parser.parse_args()


def counting(on: bool) -> None:
    """Turn callgrind's counting on or off for this process."""
    flag = "on" if on else "off"
    subprocess.run(
        ["callgrind_control", "-i", flag, str(os.getpid())], check=True, capture_output=True
    )


def child(kind: str, count: int) -> None:
    """Runs under valgrind: build the app, warm up, count `count` webhooks or tasks."""
    from sms_agent import create_app

    console, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115 (the app's log)
    app = create_app()
    sys.stderr = console
    client = app.test_client()
    url = os.environ["PUBLIC_BASE_URL"] + "/sms/inbound"
    forms = [
        harness.inbound_form(harness.phone(n % 50), f"What is {n} squared?")
        for n in range(count + WARM_UP)
    ]
    signed = [(form, {"X-Twilio-Signature": harness.signature(url, form)}) for form in forms]

    def post(batch):
        for form, headers in batch:
            # At the public address, as Twilio posts: the app answers only for its own hosts.
            assert client.post(url, data=form, headers=headers).status_code == 200

    from sms_agent.ops.collector import tune_collector

    if kind == "webhook":
        tune_collector(app.config)  # as a web process does once it is ready
        post(signed[:WARM_UP])
        counting(True)
        post(signed[WARM_UP:])
        counting(False)
        return

    from sms_agent.answering import pipeline
    from sms_agent.extensions import db
    from sms_agent.models import Task

    post(signed)
    with app.app_context():
        ids = [str(i) for i in db.session.scalars(db.select(Task.id).order_by(Task.created_at))]

    def answer(batch):
        for task_id in batch:
            with app.app_context():
                assert pipeline.answer(task_id) == "answered"

    tune_collector(app.config)  # as a worker does once it is ready
    answer(ids[:WARM_UP])
    counting(True)
    answer(ids[WARM_UP:])
    counting(False)


def instructions(kind: str, count: int, env: dict, work: Path) -> float:
    """Instructions per webhook or task, from one valgrind run of a child."""
    child_argv = ["bench.instructions", "--child", kind, f"--{kind}s", str(count)]
    return counted(child_argv, count, env, work, f"the {kind} run")


def counted(module_argv: list[str], count: int, env: dict, work: Path, what: str) -> float:
    """Instructions per unit of `count` counted by `python -m <module_argv>` under callgrind
    (the child turns counting on and off itself, with `counting`)."""
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={work}/callgrind.%p",
        sys.executable,
        "-m",
        *module_argv,
    ]
    done = subprocess.run(argv, cwd=harness.PROJECT, env=env, capture_output=True, text=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not collected:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return int(collected.group(1)) / count


def main() -> None:
    args = parse_args()
    if args.child:
        child(args.child, args.webhooks if args.child == "webhook" else args.tasks)
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed: apt-get install -y valgrind")
    print(harness.machine())
    work = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    redis_port = harness.free_port()
    processes = [harness.start_redis(redis_port, work)]
    try:
        stand_in, stand_in_url = start_stand_in(work, 0.0)
        processes.append(stand_in)
        figures = {}
        for kind, count in (("webhook", args.webhooks), ("task", args.tasks)):
            with harness.scratch_database(args.database, "benchinstr") as database_url:
                env = harness.stack_env(
                    database_url,
                    f"redis://127.0.0.1:{redis_port}/0",
                    harness.free_port(),
                    LLM_BACKEND="openai",
                    OPENAI_BASE_URL=stand_in_url + "/v1",
                    OPENAI_API_KEY="sk-bench",
                    SMS_BACKEND="twilio",
                    TWILIO_API_BASE_URL=stand_in_url,
                    PYTHONPATH=str(harness.PROJECT),
                )
                harness.migrate(env)
                figures[kind] = instructions(kind, count, env, work)
    finally:
        for process in reversed(processes):
            process.stop()
    print(f"webhook (Flask test client): {figures['webhook'] / 1e6:.2f} M instructions")
    print(f"task (pipeline.answer): {figures['task'] / 1e6:.2f} M instructions")


if __name__ == "__main__":
    main()
