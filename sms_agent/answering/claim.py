"""Claiming a task for one worker, and keeping its rows across the pipeline's commits.

The pipeline's claim (`begin_claim`) is committed by the job's first commit, with its first
reads (the texter, the conversation so far) before the model call: one transaction where
there were two, a BEGIN and a COMMIT fewer on every job. Until then the claimed row stays
locked, so a second worker's claim of the same task waits for that commit and then finds
it taken. Holding the claim that long costs nobody else: on PostgreSQL the rollup triggers
its UPDATE fires run at commit (models/at_commit.py), so the day's buckets, which every
webhook and claim write, are locked only while PostgreSQL commits, never through the reads
or a busy worker's waits for its GIL; SQLite has one writer at a time, and the reads take
it a fraction of a millisecond. `claim` commits at once, for callers with nothing to read.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from ..current import app_config
from ..extensions import Base, db
from ..models import Task, TaskStatus, User, utcnow
from ..models.cache_keys import hashed_once
from ..ops import metrics

log = logging.getLogger("sms_agent.pipeline")


def _claim(with_texter: bool = False) -> sa.Update:
    """Queued, or processing but stale (its worker died): built once, with bind parameters.

    A Core UPDATE of the table, whose returned row `_loaded` makes the Task: SQLAlchemy keys
    and compiles it once. The ORM's own UPDATE of the entity is annotated afresh on every
    execution, so each claim paid for a new cache key (about 0.1 ms of a job's CPU).

    `with_texter` (PostgreSQL): the task's texter comes back with it, joined by the UPDATE
    (`UPDATE ... FROM users`), so the job's first read (`texter_of`) finds it in the session:
    a statement fewer per job, about 3% of its instructions. Only the task's row is locked,
    as before; the texter's is read as the separate SELECT read it, in the same transaction.
    SQLite's RETURNING names only the table it updates, so there the texter is read apart."""
    tasks = Task.__table__
    stale, now = (sa.bindparam(name, type_=tasks.c.lease_at.type) for name in ("stale", "now"))
    queued = tasks.c.status == TaskStatus.QUEUED.value
    claimable = sa.or_(
        queued,
        sa.and_(tasks.c.status == TaskStatus.PROCESSING.value, tasks.c.lease_at < stale),
    )
    # A claim taken over from a dead worker changes nothing a client reads: the lease only.
    changed = sa.case((queued, now), else_=tasks.c.updated_at)
    update = (
        sa.update(tasks)
        .where(tasks.c.id == sa.bindparam("key"), claimable)
        .values(status=TaskStatus.PROCESSING.value, lease_at=now, updated_at=changed)
        .returning(*tasks.c)  # the claimed row comes back with the UPDATE: no second query
    )
    if with_texter:
        users = User.__table__
        update = update.where(users.c.phone_number == tasks.c.user_phone).returning(*users.c)
    return update


_CLAIM = hashed_once(_claim())
_CLAIM_WITH_TEXTER = hashed_once(_claim(with_texter=True))


def claim(task_id) -> Task | None:
    """Move a task to processing, committed, or None when it is done or another worker
    holds it."""
    task = begin_claim(task_id)
    db.session.commit()
    return task


def begin_claim(task_id) -> Task | None:
    """Move a task to processing, for the caller's next commit to carry (see above), or None
    when it is done or another worker holds it.

    A task left in processing for STALE_TASK_SECONDS belonged to a worker that died, so it
    may be claimed again."""
    try:
        key = uuid.UUID(str(task_id))
    except ValueError:
        log.error("job for a malformed task id %r dropped", task_id)
        return None
    now = utcnow()
    stale = now - timedelta(seconds=app_config()["STALE_TASK_SECONDS"])
    session = db.session()
    params = {"key": key, "stale": stale, "now": now}
    with_texter = db.engine.dialect.name == "postgresql"
    if session.autoflush:
        session.flush()  # as a query does first; nothing is pending on a job's session
    row = session.execute(_CLAIM_WITH_TEXTER if with_texter else _CLAIM, params).first()
    if row is None:
        db.session.rollback()  # the UPDATE wrote nothing; the transaction ends here
        log.info("task %s not claimed (done, held by another worker, or unknown)", key)
        return None
    columns = len(Task.__table__.columns)
    task = _loaded(session, Task, row[:columns])
    if with_texter:
        # Held by the task as its loaded `user`: the session keeps rows only while
        # something refers to them, and texter_of looks the texter up there.
        set_committed_value(task, "user", _loaded(session, User, row[columns:]))
    metrics.observe_queue_wait(task)
    return task


def _loaded(session: Session, cls: type[Base], values: Sequence) -> Base:
    """The row `values` (`cls`'s table's columns, in order) as a persistent object of
    `session`, as a query with populate_existing loads it: a row the session already holds
    takes the values, else a new object holds them, unmodified. The ORM's loading of the
    claim's returned row built a reader for each of the 41 columns of the two tables on
    every claim (about 0.6 M instructions, 4% of a job); the values are the same, read by
    the same column types."""
    keys, primary_key = _layout(cls)
    held = session.identity_map.get(session.identity_key(cls, [values[i] for i in primary_key]))
    if held is not None:
        for key, value in zip(keys, values, strict=True):
            set_committed_value(held, key, value)
        return held
    row = cls()
    instance_dict(row).update(zip(keys, values, strict=True))
    make_transient_to_detached(row)  # its key from the values; nothing left unloaded
    session.add(row)
    return row


@functools.cache
def _layout(cls: type[Base]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(the attribute of each of `cls`'s table's columns, where its primary key is)."""
    mapper = sa.inspect(cls)
    columns = list(mapper.local_table.columns)
    keys = tuple(mapper.get_property_by_column(column).key for column in columns)
    return keys, tuple(columns.index(column) for column in mapper.primary_key)


def renew_claim(task: Task) -> None:
    """Restart the claimed task's stale clock, for the caller's next commit to carry: a run
    that spent long reading its pictures and voice notes (a download and a transcription
    each) would otherwise look abandoned while it waits for the model, and the sweeper
    handed it to a second run, which asked the model again and texted a second answer."""
    task.lease_at = utcnow()


@contextlib.contextmanager
def kept_across_commits():
    """Keep loaded rows after each commit instead of reading them all again.

    A claimed task belongs to this worker, so reloading it, its parts and its texter after
    every commit only costs round trips (a third of a job's CPU). What others may change
    meanwhile is handled on purpose: the texter's opt-out is read again before each send,
    and the activity counters are SQL increments."""
    session = db.session()
    expiring = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expiring
        session.expire_all()  # whoever uses the session next reads fresh rows again
