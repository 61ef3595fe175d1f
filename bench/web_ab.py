"""Web CPU per stored webhook of two (or more) checkouts of this project, side by side:
each gets its own scratch database (migrated by its own code) and, in turns, a fresh
gunicorn started from its own folder with gunicorn.conf.py, which receives warm-up webhooks
and then --messages signed webhooks over kept-alive connections. The turns alternate in
order (A B, B A, ...), so a host that speeds up or slows down meanwhile weighs on all alike.
No Celery worker runs: the jobs wait in Redis.

Run: python -m bench.web_ab /path/to/old/checkout /path/to/new/checkout
(each checkout needs its .venv or this one's packages; `git worktree add` makes one).
"""

from __future__ import annotations

import contextlib
import http.client
import statistics
import subprocess
import tempfile
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import harness

WARM_UP = 300


def parse_args():
    parser = harness.arguments(__doc__)
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--messages", type=int, default=3000, help="measured webhooks a turn")
    parser.add_argument("--web-concurrency", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--senders", type=int, default=8, help="client threads")
    return parser.parse_args()


class Sender:
    """Signed webhooks, each a new MessageSid, over one kept-alive connection per thread."""

    def __init__(self, port: int, threads: int) -> None:
        self.port, self.threads, self.sent = port, threads, 0

    def batch(self, count: int) -> list[tuple[bytes, dict]]:
        url = f"http://127.0.0.1:{self.port}/sms/inbound"
        items = []
        for _ in range(count):
            self.sent += 1
            form = harness.inbound_form(
                harness.phone(self.sent % 200), f"What is {self.sent} squared?"
            )
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": harness.signature(url, form),
            }
            items.append((urllib.parse.urlencode(form).encode(), headers))
        return items

    def send(self, items) -> None:
        local = threading.local()

        def post(item):
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            local.connection.request("POST", "/sms/inbound", body=item[0], headers=item[1])
            response = local.connection.getresponse()
            response.read()
            return response.status

        with ThreadPoolExecutor(self.threads) as pool:
            statuses = set(pool.map(post, items))
        if statuses != {200}:
            raise RuntimeError(f"webhooks answered {statuses}")


def one_turn(checkout: Path, env: dict, args, work: Path) -> float:
    """ms of gunicorn's CPU (master and workers) per measured webhook."""
    argv = [harness.executable("gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    with open(work / "web.log", "a") as log:
        web = subprocess.Popen(argv, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        harness.wait_until(lambda: harness.http_ok(env["PUBLIC_BASE_URL"] + "/healthz"), 30, "web")
        sender = Sender(int(env["PORT"]), args.senders)
        sender.send(sender.batch(WARM_UP))
        measured = sender.batch(args.messages)
        before = harness.cpu_seconds(web.pid)
        sender.send(measured)
        return 1000 * (harness.cpu_seconds(web.pid) - before) / args.messages
    finally:
        web.terminate()
        web.wait()


def main() -> None:
    args = parse_args()
    print(harness.machine())
    work = Path(tempfile.mkdtemp(prefix="bench-web-ab-"))
    redis_port = harness.free_port()
    redis = harness.start_redis(redis_port, work)
    results: dict[Path, list[float]] = {checkout: [] for checkout in args.checkouts}
    try:
        with contextlib.ExitStack() as databases:
            envs = {}
            for number, checkout in enumerate(args.checkouts):
                url = databases.enter_context(harness.scratch_database(args.database, "webab"))
                port = harness.free_port()
                envs[checkout] = harness.stack_env(
                    url,
                    f"redis://127.0.0.1:{redis_port}/{number}",
                    port,
                    LLM_BACKEND="offline",
                    SMS_BACKEND="console",
                    WEB_CONCURRENCY=args.web_concurrency,
                    PYTHONPATH=str(checkout),
                )
                subprocess.run(
                    [harness.executable("flask"), "--app", "wsgi", "db", "upgrade"],
                    cwd=checkout, env=envs[checkout], check=True, capture_output=True,
                )  # fmt: skip
            for turn in range(args.rounds):
                order = args.checkouts if turn % 2 == 0 else args.checkouts[::-1]
                for checkout in order:
                    results[checkout].append(one_turn(checkout, envs[checkout], args, work))
                    print(
                        f"round {turn + 1}: {checkout} {results[checkout][-1]:.2f} ms", flush=True
                    )
    finally:
        redis.stop()
    for checkout, values in results.items():
        rounds = ", ".join(f"{value:.2f}" for value in values)
        print(f"{checkout}: median {statistics.median(values):.2f} ms a webhook ({rounds})")
    print(f"host speed after: {harness.host_speed():.0f} ms")


if __name__ == "__main__":
    main()
