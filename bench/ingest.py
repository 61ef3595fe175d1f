"""Benchmark 1, webhook ingest: Twilio-signed inbound webhooks against gunicorn on
PostgreSQL + Redis, beside the same gunicorn answering empty TwiML from a bare Flask route.

Run: make bench-ingest  (or python -m bench.ingest --help). Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from bench import harness
from config import Config

LUA = Path(__file__).with_name("ingest.lua")


def parse_args() -> argparse.Namespace:
    parser = harness.arguments(__doc__)
    parser.add_argument("--duration", type=int, default=20, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--rate", type=int, default=100, help="requests/s of the paced run")
    parser.add_argument("--rate-seconds", type=int, default=20)
    parser.add_argument("--phones", type=int, default=1000)
    parser.add_argument(
        "--group-commit",
        action="store_true",
        help="also serve bench/group_commit.py: the bound of an ingest that batches its writes",
    )
    return parser.parse_args()


def signed_lines(base_url: str, count: int, phones: int, tag: str) -> list[tuple[str, str]]:
    """(signature, body) pairs, each a distinct MessageSid, as Twilio would sign them."""
    url = base_url + "/sms/inbound"
    lines = []
    for index in range(count):
        form = harness.inbound_form(harness.phone(index % phones), f"{tag} question {index}?")
        lines.append((harness.signature(url, form), urllib.parse.urlencode(form)))
    return lines


def write_tsv(path: Path, lines: list[tuple[str, str]]) -> Path:
    """The file bench/ingest.lua reads: one "signature<TAB>body" line per request."""
    path.write_text("".join(f"{signature}\t{body}\n" for signature, body in lines))
    return path


def run_wrk(base_url: str, data: Path, args) -> dict:
    argv = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    argv += ["--latency", "-s", str(LUA), base_url, "--", str(data), str(args.wrk_threads)]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "errors": int(m.group(1))
        if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output))
        else 0,
    }


def _latency(output: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def paced(base_url: str, lines: list[tuple[str, str]], rate: int) -> dict:
    """Open-loop load: one request every 1/rate s whatever the server does, so a slow answer
    cannot hide by slowing the client down (wrk's closed loop would)."""
    url = base_url + "/sms/inbound"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    async def one(session, signature, body):
        began = time.perf_counter()
        async with session.post(
            url, data=body, headers={**headers, "X-Twilio-Signature": signature}
        ) as response:
            await response.read()
            return response.status, (time.perf_counter() - began) * 1000

    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        start, pending = loop.time(), []
        for index, (signature, body) in enumerate(lines):
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            pending.append(asyncio.create_task(one(session, signature, body)))
        results = await asyncio.gather(*pending)
    latencies = [ms for _status, ms in results]
    return {
        "rps": rate,
        "p50_ms": harness.percentile(latencies, 50),
        "p99_ms": harness.percentile(latencies, 99),
        "requests": len(results),
        "errors": sum(status != 200 for status, _ms in results),
    }


def serve(env: dict, work: Path, app: str, measure, warm_lines: list) -> dict:
    """Run `measure` against a fresh gunicorn serving `app`, after a short unmeasured
    warm-up (each worker's first requests pay for lazy imports and first connections), and
    add the CPU the server spent per request (independent of what else the machine did)."""
    process = harness.start_web(env, work, app=app, name=app.split(":")[0])
    base_url = env["PUBLIC_BASE_URL"]
    try:
        asyncio.run(paced(base_url, warm_lines, rate=100))
        before = harness.cpu_seconds(process.popen.pid)
        figures = measure()
        spent = harness.cpu_seconds(process.popen.pid) - before
        return {**figures, "cpu_ms": spent / max(1, figures["requests"]) * 1000}
    finally:
        process.stop()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.scratch_database(args.database, prefix="bench_ingest") as database_url,
    ):
        work = Path(tmp)
        results = run(args, work, database_url)
    report(args, results)


def run(args, work: Path, database_url: str) -> dict:
    redis_port, port = harness.free_port(), harness.free_port()
    redis = harness.start_redis(redis_port, work)
    env = harness.stack_env(database_url, f"redis://127.0.0.1:{redis_port}/0", port)
    base_url = f"http://127.0.0.1:{port}"
    harness.migrate(env)
    count = 3000 * args.duration  # more than gunicorn can take in that time on this machine
    data = write_tsv(work / "requests.tsv", signed_lines(base_url, count, args.phones, "wrk"))
    paced_lines = signed_lines(base_url, args.rate * args.rate_seconds, args.phones, "paced")
    warm_lines = signed_lines(base_url, 5 * 200, args.phones, "warm-up")
    runs = [
        ("ceiling", "bench.ceiling:app", lambda: run_wrk(base_url, data, args)),
        ("ingest", "wsgi:app", lambda: run_wrk(base_url, data, args)),
        (
            "ceiling_paced",
            "bench.ceiling:app",
            lambda: asyncio.run(paced(base_url, paced_lines, args.rate)),
        ),
        ("ingest_paced", "wsgi:app", lambda: asyncio.run(paced(base_url, paced_lines, args.rate))),
    ]
    try:
        results = {
            name: serve(env, work, app, measure, warm_lines[index * 200 : (index + 1) * 200])
            for index, (name, app, measure) in enumerate(runs)
        }
        results["tasks_stored"] = _count_tasks(database_url)
        if args.group_commit:
            warm_left = warm_lines[len(runs) * 200 :]  # the runs above took 200 each
            results["group_commit"] = group_commit(args, env, work, warm_left)
        results["floor"] = floor(env)
    finally:
        redis.stop()
    return results


def group_commit(args, env: dict, work: Path, warm_lines: list) -> dict:
    """The batching bound (bench/group_commit.py), on MessageSids of its own: resending the
    ingest run's would measure the cheaper path of a duplicate."""
    base_url = env["PUBLIC_BASE_URL"]
    lines = signed_lines(base_url, 3000 * args.duration, args.phones, "batched")
    data = write_tsv(work / "group-commit.tsv", lines)
    measure = lambda: run_wrk(base_url, data, args)  # noqa: E731
    return serve(env, work, "bench.group_commit:create_app()", measure, warm_lines)


def floor(env: dict) -> dict:
    """The least a stored webhook costs on this stack (bench/floor.py), in a process of
    its own because config.py reads the stack's environment when it is imported."""
    done = subprocess.run(
        [harness.executable("python"), "-m", "bench.floor"],
        cwd=harness.PROJECT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _count_tasks(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM tasks")).scalar()
    engine.dispose()
    return count


def report(args, results: dict) -> None:
    ceiling, ingest, paced_run = results["ceiling"], results["ingest"], results["ingest_paced"]
    print(f"machine: {harness.machine()}")
    print(
        f"gunicorn: {Config.WEB_CONCURRENCY} workers x {Config.WEB_THREADS} threads; "
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s"
    )
    print(
        f"{'run':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'non-200':>8}"
        f" {'server CPU ms/req':>18}"
    )
    for name, row in (
        ("ceiling (empty TwiML, bare Flask)", ceiling),
        ("ingest (signed, stored, enqueued)", ingest),
        (f"ceiling paced at {args.rate} req/s", results["ceiling_paced"]),
        (f"ingest paced at {args.rate} req/s", paced_run),
    ):
        print(
            f"{name:<34} {row['rps']:>9.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['requests']:>9} {row['errors']:>8} {row['cpu_ms']:>18.2f}"
        )
    ratio = ingest["rps"] / ceiling["rps"]
    print(f"ingest / ceiling: {ratio:.0%} (target >= 50%)")
    print(f"p99 at {args.rate} req/s: {paced_run['p99_ms']:.1f} ms (target < 100 ms)")
    print(f"tasks stored: {results['tasks_stored']}")
    report_floor(ceiling["rps"], results["floor"])
    if "group_commit" in results:
        report_group_commit(ceiling, results["group_commit"])


def report_floor(ceiling_rps: float, floor: dict) -> None:
    """Why the ratio is what it is: at the ceiling the machine is saturated, so each request
    costs the machine cores / rate of CPU (server, load generator and kernel together). A
    stored webhook costs at least that plus a publish and a database transaction."""
    cores = os.cpu_count() or 1
    per_request = 1000 * cores / ceiling_rps
    least = per_request + floor["publish_ms"] + floor["db_client_ms"] + floor["db_server_ms"]
    best = 1000 * cores / least
    print(
        f"floor of a stored webhook, with no Flask, ORM or app logic around it: Celery publish"
        f" {floor['publish_ms']:.2f} ms + database transaction {floor['db_client_ms']:.2f} ms"
        f" (client) + {floor['db_server_ms']:.2f} ms (PostgreSQL) of CPU"
    )
    print(
        f"on top of the ceiling's {per_request:.2f} ms of machine CPU per request: at most"
        f" {best:.0f} req/s = {best / ceiling_rps:.0%} of the ceiling for any ingest here"
    )


def report_group_commit(ceiling: dict, batched: dict) -> None:
    print(
        f"group commit bound (bench/group_commit.py: signature, number, shared transaction and"
        f" publish, nothing else): {batched['rps']:.1f} req/s, p99 {batched['p99_ms']:.2f} ms,"
        f" {batched['cpu_ms']:.2f} ms server CPU/req, {batched['errors']} non-200"
        f" = {batched['rps'] / ceiling['rps']:.0%} of the ceiling"
    )


if __name__ == "__main__":
    main()
