"""Run the real stack on this machine: a scratch PostgreSQL database, a private redis-server,
gunicorn, Celery workers and beat as child processes, and Twilio-signed inbound webhooks.

The benchmarks and the fault tests (tests/faults/) share it. Every server binds 127.0.0.1 on
a free port; every process writes its log under one work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from twilio.request_validator import RequestValidator

PROJECT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "b" * 32
OUR_NUMBER = "+15005550006"


#: The PostgreSQL server the benchmarks create their scratch databases on.
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def arguments(doc: str, database_help: str = "") -> argparse.ArgumentParser:
    """A benchmark's command line, with the `--database` option every one of them takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--database",
        default=POSTGRES_SERVER,
        help=database_help or "PostgreSQL server; a scratch database is created on it",
    )
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def executable(name: str) -> str:
    """A console script next to this Python (the virtualenv's), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


class Process:
    """A child process with its output in a log file; stopped politely or killed."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path) -> None:
        self.name = name
        self.log_path = _unused_log_path(log_dir, name)
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            argv, cwd=PROJECT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the kernel's OOM killer strikes."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(port: int, log_dir: Path) -> Process:
    """A private, memory-only redis-server; never the machine's shared one."""
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(log_dir)]
    process = Process(f"redis-{port}", argv, dict(os.environ), log_dir)
    wait_until(lambda: redis_answers(port), 10, f"redis-server on {port}")
    return process


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str = "bench") -> Iterator[str]:
    """A new, empty PostgreSQL database on `server_url`'s server, dropped afterwards."""
    url = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def stack_env(database_url: str, broker_url: str, web_port: int | None, **settings) -> dict:
    """Environment for every process of one stack: settings are config.py names."""
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_PHONE_NUMBER=OUR_NUMBER,
        RATELIMIT_ENABLED="false",
        LOG_FORMAT="json",
        # Plain http on loopback, no TLS proxy in front: nothing to redirect to.
        FORCE_HTTPS="false",
        TWILIO_MPS="0",  # the Twilio stand-in has no rate to respect; settings may set one
    )
    if web_port:
        env.update(PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}", PORT=str(web_port))
    env.update({key: str(value) for key, value in settings.items()})
    return env


def migrate(env: dict) -> None:
    done = subprocess.run(
        [executable("flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{done.stderr[-3000:]}")


def start_web(
    env: dict, log_dir: Path, app: str = "wsgi:app", name: str = "web", nice: int = 0
) -> Process:
    """gunicorn serving `app`, once it answers; at the CPU priority `nice` (nice(1) execs
    gunicorn, so the process keeps its pid) when asked."""
    argv = [executable("gunicorn"), "-c", "gunicorn.conf.py", app]
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    process = Process(name, argv, env, log_dir)
    wait_until(
        lambda: http_ok(f"http://127.0.0.1:{env['PORT']}/healthz") or _died(process), 30, "gunicorn"
    )
    _raise_if_died(process)
    return process


def _unused_log_path(log_dir: Path, name: str) -> Path:
    """worker.log, then worker-2.log, ...: each process its own log, so that waiting for a
    second worker's " ready." does not find the first one's."""
    path, n = log_dir / f"{name}.log", 1
    while path.exists():
        n += 1
        path = log_dir / f"{name}-{n}.log"
    return path


def start_worker(env: dict, log_dir: Path, name: str = "worker") -> Process:
    argv = [executable("celery"), "-A", "wsgi:celery_app", "worker", "--loglevel=INFO"]
    argv += ["-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"]
    process = Process(name, argv, env, log_dir)
    wait_until(lambda: " ready." in process.log() or _died(process), 30, "celery worker")
    _raise_if_died(process)
    return process


def start_beat(env: dict, log_dir: Path) -> Process:
    schedule = log_dir / f"beat-{uuid.uuid4().hex[:6]}"
    argv = [executable("celery"), "-A", "wsgi:celery_app", "beat", "--loglevel=INFO"]
    return Process("beat", argv + ["-s", str(schedule)], env, log_dir)


def _died(process: Process) -> bool:
    return process.popen.poll() is not None


def _raise_if_died(process: Process) -> None:
    if _died(process):
        raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")


def inbound_form(from_number: str, body: str, sid: str | None = None) -> dict[str, str]:
    """The fields Twilio posts for an incoming SMS."""
    return {
        "MessageSid": sid or "SM" + secrets.token_hex(16),
        "AccountSid": ACCOUNT_SID,
        "From": from_number,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def signature(url: str, form: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(url, form)


def phone(index: int) -> str:
    """Distinct, valid US numbers in the 555-01xx fictional range's area codes."""
    return f"+1202555{index % 10000:04d}"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> str:
    """What the figures were measured on."""
    cores = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    python = sys.version.split()[0]
    return (
        f"{cores} cores, {kib / 1024 / 1024:.0f} GiB RAM, Python {python}; load average {load};"
        f" host speed {host_speed():.0f} ms"
    )


def host_speed() -> float:
    """Milliseconds of CPU a fixed pure-Python loop takes here, best of five: the figure to
    compare runs by. This shared host's speed moves by 2x within hours, and every CPU figure
    of the benchmarks moves with it."""
    best = math.inf
    for _ in range(5):
        began = time.process_time()
        total = 0
        for number in range(1_000_000):
            total += number
        best = min(best, time.process_time() - began)
    return 1000 * best


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children still running (gunicorn's
    master and workers), from /proc; a load-independent measure of the work done."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def user_system_switches(pid: int) -> tuple[float, float, int]:
    """One process's user and system CPU seconds and its threads' context switches so far
    (voluntary: a thread waited for I/O, a lock or the GIL; involuntary: preempted), from
    /proc: where a worker's CPU per task goes besides Python itself."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    switches = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:  # the thread ended meanwhile
            continue
        switches += sum(int(line.split()[1]) for line in lines if "ctxt_switches" in line)
    return int(fields[11]) / ticks, int(fields[12]) / ticks, switches
