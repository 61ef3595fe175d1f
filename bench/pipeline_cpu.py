"""Where the CPU of target 4 goes: the webhook and the pipeline called in this one process,
with no gunicorn, Celery or other load around them, against the same scratch PostgreSQL,
private Redis and stand-ins (answering at once) as the end-to-end benchmark; then Celery
alone, a worker like the product's (threads, WORKER_CONCURRENCY, late acks, one job
prefetched per slot, kombu's Redis transport as vendors/redis_broker.py builds it) running
a job that does nothing.

What the e2e worker spends per task beyond the pipeline and Celery's own share is what 256
threads under one GIL and a webhook burst on the same two cores add.

Run: make bench-cpu  (or python -m bench.pipeline_cpu --help).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import harness
from bench.e2e import start_stand_in
from bench.stack_cpu import process_cpu

NOOP_APP = """
import os
from celery import Celery
app = Celery("noop")
app.conf.update(
    broker_url=os.environ["CELERY_BROKER_URL"],
    broker_transport="sms_agent.vendors.redis_broker:Transport",
    task_ignore_result=True, task_acks_late=True, worker_prefetch_multiplier=1,
    worker_pool="threads", worker_concurrency=int(os.environ["WORKER_CONCURRENCY"]),
)

@app.task(name="noop")
def noop(number):
    return number
"""


def parse_args() -> argparse.Namespace:
    parser = harness.arguments(__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="threads calling the pipeline")
    parser.add_argument("--concurrency", type=int, default=256, help="the Celery worker's")
    return parser.parse_args()


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process of this machine (backends, WAL writer...):
    run it alone, or other databases' work counts too."""
    pids = subprocess.run(["pgrep", "postgres"], capture_output=True, text=True).stdout.split()
    return sum(process_cpu(int(pid)) or 0.0 for pid in pids)


def measured(work, count: int) -> tuple[float, float, float]:
    """(this process's CPU ms, PostgreSQL's CPU ms, this process's context switches) per
    unit of `work()`."""
    cpu, pg = time.process_time(), postgres_cpu()
    switches = harness.user_system_switches(os.getpid())[2]
    work()
    switches = harness.user_system_switches(os.getpid())[2] - switches
    return (
        1000 * (time.process_time() - cpu) / count,
        1000 * (postgres_cpu() - pg) / count,
        switches / count,
    )


class CollectorTime:
    """The CPU Python's garbage collector takes from here on (it holds the GIL meanwhile, so
    the process's CPU during a collection is the collection's)."""

    def __init__(self) -> None:
        self.seconds, self._began = 0.0, 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            self.seconds += time.process_time() - self._began

    def stop(self) -> None:
        gc.callbacks.remove(self._observe)


def pipeline_figures(args, env: dict, work: Path) -> dict:
    os.environ.update(env)
    from sms_agent import create_app
    from sms_agent.answering import pipeline
    from sms_agent.extensions import db
    from sms_agent.models import Task
    from sms_agent.ops.collector import tune_collector

    # The app's log lines (one per webhook at INFO, as in production) go to a file.
    console, sys.stderr = sys.stderr, open(work / "app.log", "a")  # noqa: SIM115
    app = create_app()  # its log handler keeps the stream it was given
    sys.stderr = console
    client = app.test_client()
    url = env["PUBLIC_BASE_URL"] + "/sms/inbound"
    warm = 50
    forms = [
        harness.inbound_form(harness.phone(n % 200), f"What is {n} squared?")
        for n in range(args.messages + warm)
    ]
    signed = [(form, {"X-Twilio-Signature": harness.signature(url, form)}) for form in forms]

    def post(batch):
        for form, headers in batch:
            # At the public address, as Twilio posts: the app answers only for its own hosts.
            assert client.post(url, data=form, headers=headers).status_code == 200

    post(signed[:warm])
    webhook = measured(lambda: post(signed[warm:]), args.messages)
    with app.app_context():
        ids = [str(i) for i in db.session.scalars(db.select(Task.id).order_by(Task.created_at))]

    def answer(batch):
        for task_id in batch:
            with app.app_context():
                assert pipeline.answer(task_id) == "answered"

    switched = []  # each thread's context switches, read as it ends (its /proc entry goes)

    def answer_counting_switches(batch):
        answer(batch)
        lines = Path("/proc/thread-self/status").read_text().splitlines()
        switched.append(sum(int(line.split()[1]) for line in lines if "ctxt_switches" in line))

    def answer_in_threads():
        rest = ids[warm:]
        threads = [
            threading.Thread(target=answer_counting_switches, args=(rest[n :: args.threads],))
            for n in range(args.threads)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    answer(ids[:warm])
    tune_collector(app.config)  # as a worker does once it is ready (GC_GEN0_THRESHOLD)
    collections = CollectorTime()
    task_cpu, task_pg, _ = measured(answer_in_threads, args.messages)
    task = task_cpu, task_pg, sum(switched) / args.messages
    collections.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return {"webhook": webhook, "task": task, "gc_ms": 1000 * collections.seconds / args.messages}


def celery_noop_ms(args, broker_url: str, work: Path) -> tuple[float, float]:
    """The worker's CPU ms and its threads' context switches per job that does nothing,
    published after the worker is ready."""
    (work / "noop.py").write_text(NOOP_APP)
    env = dict(
        os.environ,
        CELERY_BROKER_URL=broker_url,
        WORKER_CONCURRENCY=str(args.concurrency),
        PYTHONPATH=f"{work}:{harness.PROJECT}",
    )
    argv = [harness.executable("celery"), "-A", "noop", "worker", "--loglevel=INFO"]
    worker = harness.Process(
        "noop-worker", argv + ["--without-gossip", "--without-mingle"], env, work
    )
    try:
        harness.wait_until(lambda: " ready." in worker.log(), 30, "the no-op worker")
        sys.path.insert(0, str(work))
        os.environ["CELERY_BROKER_URL"], os.environ["WORKER_CONCURRENCY"] = broker_url, "1"
        import noop
        import redis

        broker = redis.Redis.from_url(broker_url)
        before = harness.cpu_seconds(worker.popen.pid)
        switches = harness.user_system_switches(worker.popen.pid)[2]
        for number in range(args.messages):
            noop.noop.delay(number)
        harness.wait_until(
            lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0, 120, "no-op jobs"
        )
        switches = harness.user_system_switches(worker.popen.pid)[2] - switches
        cpu = harness.cpu_seconds(worker.popen.pid) - before
        return 1000 * cpu / args.messages, switches / args.messages
    finally:
        worker.stop()


def main() -> None:
    args = parse_args()
    print(harness.machine())
    work = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    redis_port = harness.free_port()
    processes = [harness.start_redis(redis_port, work)]
    try:
        stand_in, stand_in_url = start_stand_in(work, 0.0)
        processes.append(stand_in)
        broker_url = f"redis://127.0.0.1:{redis_port}/0"
        with harness.scratch_database(args.database, "benchcpu") as database_url:
            env = harness.stack_env(
                database_url,
                broker_url,
                harness.free_port(),
                LLM_BACKEND="openai",
                OPENAI_BASE_URL=stand_in_url + "/v1",
                OPENAI_API_KEY="sk-bench",
                SMS_BACKEND="twilio",
                TWILIO_API_BASE_URL=stand_in_url,
                WORKER_CONCURRENCY=args.concurrency,
            )
            harness.migrate(env)
            figures = pipeline_figures(args, env, work)
        noop_ms, noop_switches = celery_noop_ms(args, f"redis://127.0.0.1:{redis_port}/1", work)
    finally:
        for process in reversed(processes):
            process.stop()
    (web, web_pg, web_switches), (task, task_pg, task_switches) = (
        figures["webhook"],
        figures["task"],
    )
    print(f"{args.messages} webhooks, then {args.messages} tasks in {args.threads} thread(s)")
    print(
        f"webhook (Flask test client): {web:.2f} ms CPU; PostgreSQL {web_pg:.2f} ms; "
        f"{web_switches:.0f} context switches"
    )
    print(
        f"task (pipeline.answer): {task:.2f} ms CPU; PostgreSQL {task_pg:.2f} ms; "
        f"{task_switches:.0f} context switches"
    )
    print(f"  of which the garbage collector: {figures['gc_ms']:.2f} ms")
    print(
        f"Celery alone, a job that does nothing: {noop_ms:.2f} ms of the worker's CPU a job; "
        f"{noop_switches:.0f} context switches of its threads"
    )
    print(f"host speed after: {harness.host_speed():.0f} ms")


if __name__ == "__main__":
    main()
