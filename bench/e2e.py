"""Benchmark 3, end to end: 1,000 signed inbound messages from 200 phones through gunicorn,
Redis and Celery workers to an OpenAI-compatible stand-in that answers after 500 ms, and
replies through a Twilio stand-in; completed replies per second against the ideal.

Run: make bench-e2e  (or python -m bench.e2e --help).
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

from bench import harness

QUESTIONS = [
    "What is {n} squared?",
    "Name a river in country number {n}.",
    "Give me a tip for learning Python, #{n}",
    "Explain recursion like I am {n}.",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server; a scratch database is created on it",
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.5, help="the model stand-in's latency")
    parser.add_argument("--concurrency", type=int, default=8, help="WORKER_CONCURRENCY")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--senders", type=int, default=20, help="webhooks in flight at once")
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


def wait_for_all(engine, expected: int, timeout: float) -> None:
    def settled():
        with engine.connect() as connection:
            unfinished = connection.execute(
                sa.text("SELECT count(*) FROM tasks WHERE status IN ('queued', 'processing')")
            ).scalar()
            total = connection.execute(sa.text("SELECT count(*) FROM tasks")).scalar()
        return total == expected and unfinished == 0

    harness.wait_until(settled, timeout, "every task to finish", interval=0.25)


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
        web = harness.start_web(env, work)
        processes.append(web)
        workers = [harness.start_worker(env, work, f"worker{n}") for n in range(args.workers)]
        processes += workers
        worker_cpu = sum(harness.cpu_seconds(worker.popen.pid) for worker in workers)
        began = time.monotonic()
        web_cpu = harness.cpu_seconds(web.popen.pid)
        sender_cpu = time.process_time()
        statuses = send_all(f"http://127.0.0.1:{port}", args)
        ingest_seconds = time.monotonic() - began
        sender_cpu = time.process_time() - sender_cpu
        web_cpu = harness.cpu_seconds(web.popen.pid) - web_cpu
        wait_for_all(engine, statuses.count(200), timeout=args.messages * 2)
        worker_cpu = sum(harness.cpu_seconds(worker.popen.pid) for worker in workers) - worker_cpu
        result = figures(engine)
        result["worker_cpu_ms"] = 1000 * worker_cpu / max(result["completed"], 1)
        result["non_200"] = len(statuses) - statuses.count(200)
        result["ingest_seconds"] = ingest_seconds
        result["web_cpu_ms"] = 1000 * web_cpu / len(statuses)
        result["sender_cpu_ms"] = 1000 * sender_cpu / len(statuses)
        result["calls"] = requests.get(stand_in_url + "/calls", timeout=5).json()
    finally:
        for process in reversed(processes):
            process.stop()
        engine.dispose()
    return result


def report(args, result: dict) -> None:
    slots = args.workers * args.concurrency
    ideal = slots / args.delay
    replies = result["replies"]
    print(f"machine: {harness.machine()}")
    print(
        f"{args.messages} messages from {args.phones} phones; model stand-in {args.delay}s; "
        f"{args.workers} worker process(es) x {args.concurrency} threads"
    )
    print(
        f"webhooks: {args.messages - result['non_200']} x 200, {result['non_200']} other, "
        f"sent in {result['ingest_seconds']:.1f}s; CPU per webhook: web "
        f"{result['web_cpu_ms']:.1f} ms, this sender {result['sender_cpu_ms']:.1f} ms"
    )
    print(f"completed: {result['completed']}/{result['tasks']} in {result['span']:.1f}s")
    print(
        f"throughput: {result['throughput']:.1f} replies/s; ideal {ideal:.1f} "
        f"({slots} slots / {args.delay}s) -> {result['throughput'] / ideal:.0%} (target >= 90%)"
    )
    print(
        f"  while webhooks arrived: {result['burst_throughput']:.1f} replies/s; after: "
        f"{result['after_throughput']:.1f} replies/s"
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
    print(f"worker CPU per task: {result['worker_cpu_ms']:.1f} ms (Celery, pipeline and SDKs)")


def main() -> None:
    args = parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.scratch_database(args.database, prefix="bench_e2e") as database_url,
    ):
        result = run(args, Path(tmp), database_url)
    report(args, result)


if __name__ == "__main__":
    main()
