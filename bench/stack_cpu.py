"""The CPU a whole stack used during a run, process by process, from /proc.

What the machine's CPU allows is the number of cores divided by the CPU one message costs
on every process it passes through: web, worker, PostgreSQL, Redis, the vendor stand-ins and
the load generator itself, which all share these cores. PostgreSQL serves each connection
from a backend process of its own, which can come and go during a run (the pools' overflow),
so they are sampled while the run lasts.
"""

from __future__ import annotations

import os
import threading
import time

import sqlalchemy as sa

from bench import harness

BACKENDS = """
    SELECT pid, application_name FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()"""


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process; None once it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostgresBackends:
    """CPU of the backends serving one database (this sampler's own excepted), and the most
    connections each client application (libpq's PGAPPNAME) had open at once. A backend
    that exits between two samples loses at most its last interval; backends already
    running at the start count from then."""

    def __init__(self, engine: sa.Engine, interval: float = 0.5) -> None:
        self.engine = engine
        self.interval = interval
        self.first: dict[int, float] = {}
        self.latest: dict[int, float] = {}
        self.peak_connections: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PostgresBackends:
        self._sample(starting=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop sampling; the CPU seconds the backends used since the start."""
        self._stop.set()
        self._thread.join()
        self._sample()
        return sum(self.latest[pid] - self.first[pid] for pid in self.latest)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, starting: bool = False) -> None:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text(BACKENDS)).all()
        for name in {name for _, name in rows}:
            now = sum(other == name for _, other in rows)
            self.peak_connections[name] = max(self.peak_connections.get(name, 0), now)
        for pid, _ in rows:
            cpu = process_cpu(pid)
            if cpu is None:
                continue
            self.first.setdefault(pid, cpu if starting else 0.0)
            self.latest[pid] = cpu


def machine_busy() -> float:
    """CPU seconds all cores have spent on anything but idling since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class StackCpu:
    """CPU seconds per part of the stack between `start` and `stop`: each named process with
    its children, PostgreSQL's backends, and this process (the load generator); and what the
    rest of the machine used meanwhile (`others`), for a shared machine."""

    def __init__(self, processes: dict[str, list[int]], engine: sa.Engine) -> None:
        self.processes = processes
        self.postgres = PostgresBackends(engine)
        self.spent: dict[str, float] = {}
        self.others = 0.0

    def _now(self) -> dict[str, float]:
        return {
            name: sum(harness.cpu_seconds(pid) for pid in pids)
            for name, pids in self.processes.items()
        }

    def start(self) -> StackCpu:
        self._began, self._own = self._now(), time.process_time()
        self._machine = machine_busy()
        self.postgres.start()
        return self

    def stop(self) -> dict[str, float]:
        ended = self._now()
        self.spent = {name: ended[name] - self._began[name] for name in ended}
        self.spent["PostgreSQL"] = self.postgres.stop()
        self.spent["this benchmark"] = time.process_time() - self._own
        self.others = max(0.0, machine_busy() - self._machine - sum(self.spent.values()))
        return self.spent
