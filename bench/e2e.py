"""Benchmark 3, end to end: 1,000 signed inbound messages from 200 phones through gunicorn,
Redis and Celery workers to an OpenAI-compatible stand-in that answers after 500 ms, and
replies through a Twilio stand-in; completed replies per second against the ideal.

The ideal is the lower of two bounds: the worker slots divided by the model's latency (each
slot answers at most one message per model call), and what the machine's CPU allows (its
cores divided by the CPU one message cost on every process of the stack, measured in the
same run; see stack_cpu.py).

Run: make bench-e2e  (or python -m bench.e2e --help).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

from bench import harness
from bench.stack_cpu import StackCpu

QUESTIONS = [
    "What is {n} squared?",
    "Name a river in country number {n}.",
    "Give me a tip for learning Python, #{n}",
    "Explain recursion like I am {n}.",
]


def parse_args() -> argparse.Namespace:
    parser = harness.arguments(__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.5, help="the model stand-in's latency")
    parser.add_argument("--concurrency", type=int, default=8, help="WORKER_CONCURRENCY")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--senders", type=int, default=20, help="webhooks in flight at once")
    parser.add_argument(
        "--web-nice",
        type=int,
        default=0,
        help="run gunicorn at this nice(1) priority (an experiment: the worker first)",
    )
    return parser.parse_args()


def start_stand_in(work: Path, delay: float) -> tuple[harness.Process, str]:
    port = harness.free_port()
    argv = [sys.executable, "-m", "bench.standins", "--port", str(port), "--delay", str(delay)]
    process = harness.Process("stand-in", argv, harness.stack_env("", "", None), work)
    url = f"http://127.0.0.1:{port}"
    harness.wait_until(lambda: harness.http_ok(url + "/calls"), 10, "the stand-in")
    return process, url


def send_all(base_url: str, args) -> list[int]:
    """Each webhook signed and encoded before the clock starts, then sent over one kept-alive
    http.client connection per sender: the load generator shares the machine's two cores
    with the stack, so it should spend as little of them as it can (`requests` spent about
    2 ms of CPU per webhook, a third of what the web process spends storing it)."""
    rng = random.Random(3)
    forms = [
        harness.inbound_form(
            harness.phone(index % args.phones), rng.choice(QUESTIONS).format(n=index)
        )
        for index in range(args.messages)
    ]
    url = base_url + "/sms/inbound"
    signed = [
        (
            urllib.parse.urlencode(form).encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": harness.signature(url, form),
            },
        )
        for form in forms
    ]
    address = urllib.parse.urlsplit(base_url)
    connections = threading.local()  # one kept-alive connection per sender, as a client would

    def post(item):
        if not hasattr(connections, "current"):
            connections.current = http.client.HTTPConnection(
                address.hostname, address.port, timeout=30
            )
        body, headers = item
        connections.current.request("POST", "/sms/inbound", body=body, headers=headers)
        response = connections.current.getresponse()
        response.read()
        return response.status

    with ThreadPoolExecutor(args.senders) as pool:
        return list(pool.map(post, signed))


REPLIES_PER_TASK = """
    SELECT count(m.id) FROM tasks t
    LEFT JOIN outbound_messages m ON m.task_id = t.id AND m.kind = 'reply' AND m.sid IS NOT NULL
    GROUP BY t.id"""
TASK_TIMES = """
    SELECT created_at, completed_at, processing_time, status,
           CAST(metadata ->> 'llm_seconds' AS float) AS llm_seconds
    FROM tasks"""


def figures(engine) -> dict:
    """Throughput from the first webhook stored to the last reply sent; the queue wait of a
    task is the time before its processing began (completed minus processing time)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(TASK_TIMES)).all()
        replies = connection.execute(sa.text(REPLIES_PER_TASK)).scalars().all()
    done = [row for row in rows if row.status == "completed"]
    first_stored, last_stored = min(r.created_at for r in rows), max(r.created_at for r in rows)
    last_done = max(r.completed_at for r in done)
    span = (last_done - first_stored).total_seconds()
    during_burst = sum(r.completed_at <= last_stored for r in done)
    waits = [
        (r.completed_at - r.created_at).total_seconds() - (r.processing_time or 0) for r in done
    ]
    return {
        "timeline": timeline(rows, first_stored),
        "tasks": len(rows),
        "completed": len(done),
        "span": span,
        "throughput": len(done) / span,
        "burst_throughput": during_burst / (last_stored - first_stored).total_seconds(),
        "after_throughput": (len(done) - during_burst) / (last_done - last_stored).total_seconds(),
        "replies": replies,
        "processing_ms": 1000 * statistics.fmean(r.processing_time for r in done),
        "model_ms": 1000 * statistics.fmean(r.llm_seconds for r in done),
        "wait_p50": harness.percentile(waits, 50),
        "wait_p99": harness.percentile(waits, 99),
    }


def timeline(rows, origin, step: float = 5.0) -> list[tuple[float, int, int, int]]:
    """Per `step` seconds from the first webhook stored: tasks stored, tasks whose processing
    began (completed minus processing time) and tasks completed; where a run loses time
    shows here (slots idle while webhooks arrive, or a slow tail)."""

    def bucket(moment) -> int:
        return int((moment - origin).total_seconds() // step)

    done = [row for row in rows if row.status == "completed"]
    stored = [bucket(row.created_at) for row in rows]
    began = [bucket(row.completed_at - timedelta(seconds=row.processing_time or 0)) for row in done]
    finished = [bucket(row.completed_at) for row in done]
    last = max(stored + began + finished)
    return [(n * step, stored.count(n), began.count(n), finished.count(n)) for n in range(last + 1)]


def statuses(engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT status, count(*) FROM tasks GROUP BY status"))
        return dict(rows.all())


def wait_for_all(engine, expected: int, stall: float = 120) -> None:
    """Until every task is finished; a run where none finishes for `stall` seconds fails
    (a task stranded by a lost job would otherwise wait for a sweeper the run has not)."""
    unfinished, last_change = None, time.monotonic()
    while True:
        counts = statuses(engine)
        left = expected - counts.get("completed", 0) - counts.get("failed", 0)
        if left == 0 and sum(counts.values()) == expected:
            return
        if left != unfinished:
            unfinished, last_change = left, time.monotonic()
        elif time.monotonic() - last_change > stall:
            raise TimeoutError(f"no task finished for {stall}s; tasks by status: {counts}")
        time.sleep(0.25)


def run(args, work: Path, database_url: str) -> dict:
    redis_port, port = harness.free_port(), harness.free_port()
    processes = [harness.start_redis(redis_port, work)]
    stand_in, stand_in_url = start_stand_in(work, args.delay)
    processes.append(stand_in)
    env = harness.stack_env(
        database_url,
        f"redis://127.0.0.1:{redis_port}/0",
        port,
        LLM_BACKEND="openai",
        OPENAI_BASE_URL=stand_in_url + "/v1",
        OPENAI_API_KEY="sk-bench",
        SMS_BACKEND="twilio",
        TWILIO_API_BASE_URL=stand_in_url,
        WORKER_POOL="threads",
        WORKER_CONCURRENCY=args.concurrency,
    )
    harness.migrate(env)
    engine = sa.create_engine(database_url)
    try:
        # Each process names itself to PostgreSQL, so its connections can be counted apart.
        web = harness.start_web({**env, "PGAPPNAME": "web"}, work, nice=args.web_nice)
        processes.append(web)
        workers = [
            harness.start_worker({**env, "PGAPPNAME": "worker"}, work, f"worker{n}")
            for n in range(args.workers)
        ]
        processes += workers
        cpu = StackCpu(
            {
                "worker": [worker.popen.pid for worker in workers],
                "web": [web.popen.pid],
                "stand-ins": [stand_in.popen.pid],
                "Redis": [processes[0].popen.pid],
            },
            engine,
        ).start()
        began = time.monotonic()
        worker_split = [harness.user_system_switches(worker.popen.pid) for worker in workers]
        web_cpu = harness.cpu_seconds(web.popen.pid)
        sender_cpu = time.process_time()
        codes = send_all(f"http://127.0.0.1:{port}", args)
        ingest_seconds = time.monotonic() - began
        sender_cpu = time.process_time() - sender_cpu
        web_cpu = harness.cpu_seconds(web.popen.pid) - web_cpu
        wait_for_all(engine, codes.count(200))
        result = figures(engine)
        result["worker_split"] = [
            [
                end - start
                for start, end in zip(
                    before, harness.user_system_switches(worker.popen.pid), strict=True
                )
            ]
            for before, worker in zip(worker_split, workers, strict=True)
        ]
        result["cpu"] = cpu.stop()
        result["others_cpu"] = cpu.others
        result["cpu_seconds"] = time.monotonic() - began
        result["peak_connections"] = cpu.postgres.peak_connections
        result["statuses"] = statuses(engine)
        result["worker_cpu_ms"] = 1000 * result["cpu"]["worker"] / max(result["completed"], 1)
        result["non_200"] = len(codes) - codes.count(200)
        result["ingest_seconds"] = ingest_seconds
        result["web_cpu_ms"] = 1000 * web_cpu / len(codes)
        result["sender_cpu_ms"] = 1000 * sender_cpu / len(codes)
        result["calls"] = requests.get(stand_in_url + "/calls", timeout=5).json()
    finally:
        for process in reversed(processes):
            process.stop()
        engine.dispose()
    return result


def ideal_rate(args, result: dict) -> dict[str, float]:
    """The ideal replies/s and its bounds: the worker slots divided by the model's latency;
    the cores divided by the CPU one message cost on the whole stack; and the worker
    processes, each of which runs its Python on one core at a time (the GIL), divided by
    the worker CPU one message cost."""
    done = max(result["completed"], 1)
    bounds = {
        "slots": args.workers * args.concurrency / args.delay,
        "stack_ms": 1000 * sum(result["cpu"].values()) / done,
        "worker_ms": 1000 * result["cpu"]["worker"] / done,
    }
    bounds["cores"] = (os.cpu_count() or 1) * 1000 / bounds["stack_ms"]
    bounds["processes"] = args.workers * 1000 / bounds["worker_ms"]
    bounds["cpu"] = min(bounds["cores"], bounds["processes"])
    bounds["ideal"] = min(bounds["slots"], bounds["cpu"])
    return bounds


def report(args, result: dict) -> None:
    slots = args.workers * args.concurrency
    bounds = ideal_rate(args, result)
    ideal = bounds["ideal"]
    cores = os.cpu_count() or 1
    replies = result["replies"]
    print(f"machine: {harness.machine()} (before the run: {result['host_speed']:.0f} ms)")
    print(
        f"{args.messages} messages from {args.phones} phones; model stand-in {args.delay}s; "
        f"{args.workers} worker process(es) x {args.concurrency} threads"
        + (f"; gunicorn at nice {args.web_nice}" if args.web_nice else "")
    )
    print(
        f"webhooks: {args.messages - result['non_200']} x 200, {result['non_200']} other, "
        f"sent in {result['ingest_seconds']:.1f}s; CPU per webhook: web "
        f"{result['web_cpu_ms']:.1f} ms, this sender {result['sender_cpu_ms']:.1f} ms"
    )
    print(f"completed: {result['completed']}/{result['tasks']} in {result['span']:.1f}s")
    left = {k: result["statuses"].get(k, 0) for k in ("queued", "processing", "failed")}
    print(
        f"left queued: {left['queued']}, processing: {left['processing']}; failed: {left['failed']}"
    )
    print(
        f"ideal: {ideal:.1f} replies/s, the lower of {slots} slots / {args.delay}s = "
        f"{bounds['slots']:.1f} and what the CPU allows, {bounds['cpu']:.1f}: the lower of "
        f"{cores} cores / {bounds['stack_ms']:.1f} ms of the stack per message = "
        f"{bounds['cores']:.1f} and {args.workers} worker process(es) x 1 core (the GIL) / "
        f"{bounds['worker_ms']:.1f} ms of the worker per message = {bounds['processes']:.1f}"
    )
    print(
        f"throughput: {result['throughput']:.1f} replies/s -> "
        f"{result['throughput'] / ideal:.0%} of the ideal (target >= 90%)"
    )
    print(
        f"  while webhooks arrived: {result['burst_throughput']:.1f} replies/s; after: "
        f"{result['after_throughput']:.1f} replies/s"
    )
    per_message = ", ".join(
        f"{name} {1000 * seconds / max(result['completed'], 1):.1f}"
        for name, seconds in sorted(result["cpu"].items(), key=lambda item: -item[1])
    )
    connections = ", ".join(
        f"{name or 'other'} {count}" for name, count in sorted(result["peak_connections"].items())
    )
    busy = sum(result["cpu"].values()) / (cores * result["cpu_seconds"])
    others = result["others_cpu"] / result["cpu_seconds"]
    print(
        f"CPU ms per message: {per_message}; the stack kept the {cores} cores {busy:.0%} "
        f"busy, other processes of this machine used {others:.2f} cores meanwhile"
    )
    print(
        f"model calls in flight: at most {result['calls']['openai_peak_in_flight']} at once; "
        f"database connections at once, at most: {connections}"
    )
    exactly_one = sum(count == 1 for count in replies)
    print(
        f"replies per message: {exactly_one}/{len(replies)} exactly 1 "
        f"(min {min(replies)}, max {max(replies)}); stand-in: {result['calls']}"
    )
    print(f"queue wait: p50 {result['wait_p50']:.2f}s, p99 {result['wait_p99']:.2f}s")
    print(
        f"per task (mean): {result['processing_ms']:.0f} ms in the worker, of which the model "
        f"call {result['model_ms']:.0f} ms and the rest of the pipeline "
        f"{result['processing_ms'] - result['model_ms']:.0f} ms"
    )
    done = max(result["completed"], 1)
    user, system, switches = (sum(split[n] for split in result["worker_split"]) for n in range(3))
    print(
        f"worker CPU per task: {result['worker_cpu_ms']:.1f} ms (Celery, pipeline and SDKs): "
        f"user {1000 * user / done:.1f} ms, system {1000 * system / done:.1f} ms; "
        f"{switches / done:.0f} context switches of its threads a task"
    )
    print("timeline (seconds from the first webhook stored: stored, began, completed):")
    print("  " + "; ".join(f"{t:.0f}s {s} {b} {c}" for t, s, b, c in result["timeline"]))


def main() -> None:
    args = parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.scratch_database(args.database, prefix="bench_e2e") as database_url,
    ):
        host_speed = harness.host_speed()
        result = run(args, Path(tmp), database_url)
    report(args, {**result, "host_speed": host_speed})


if __name__ == "__main__":
    main()
