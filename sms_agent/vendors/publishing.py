"""Publishing a job: the message Celery's `apply_async` sends, built and sent through the
same Celery calls (`create_task_message`, `send_task_message`), without the rest of its
way there.

`apply_async` and `send_task` are a sixth of a webhook's instructions, and the message is
under half of that: the rest is looking up a dozen settings through Celery's layered
config, merging routes and execution options our jobs never set, and building an
`AsyncResult` nobody reads. Here the job goes to the queue named (or the default one) with
the task's own name, arguments, countdown and retry count, the parent and root ids of the
job publishing it (in a worker), and Celery's retry policy for the publish. Not carried
over, as no job of ours uses them: `task_routes`, per-task routing or priority options, links,
shadow names, and the child's record in the publishing job's result (`add_to_parent`;
results are ignored). Run eagerly, a job still goes through `apply_async`.

The producer comes from `KeptProducers`, not Celery's producer pool: that pool hands its
connection back after every publish and binds the producer to one again at the next (a
sixth of a publish's instructions).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref

from celery import Celery, Task
from celery.local import Proxy
from kombu import Producer
from kombu.serialization import registry
from kombu.utils import json as kombu_json

#: kombu's JSON encoder, one kept for every message: kombu.utils.json.dumps builds one for
#: each, from no options, which writes the same text.
KOMBU_JSON = kombu_json.JSONEncoder()


def keep_json_encoder() -> None:
    """Messages' bodies written by KOMBU_JSON: kombu's "json" serializer, the same text
    (and read back by kombu's own loads), without building an encoder for each body, a
    third of what serializing a job's arguments took. Called as Celery is set up."""
    registry.register(
        "json",
        KOMBU_JSON.encode,
        kombu_json.loads,
        content_type="application/json",
        content_encoding="utf-8",
    )


def random_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` writes one: the job's id
    and its message's delivery tag (vendors/redis_broker.py). kombu's `uuid()` builds a
    `uuid.UUID` to print it, a twentieth of a publish's instructions for the two."""
    raw = int.from_bytes(os.urandom(16)) & _CLEAR_VERSION | _VERSION_4
    text = f"{raw:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


#: RFC 4122's version 4 and variant bits, as uuid.UUID(version=4) sets them.
_CLEAR_VERSION = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)


def publish(
    job: Task,
    args: tuple,
    kwargs: dict | None,
    *,
    countdown: float | None,
    retries: int,
    queue: str | None,
    argsrepr: str,
    kwargsrepr: str,
) -> None:
    """Send `job` to the broker, as `job.apply_async` would (Celery's exceptions and kombu's
    are raised as its are); the queue is never declared (jobs._shown_arguments)."""
    if isinstance(job, Proxy):  # a @shared_task, which looks the task up at every attribute
        job = job._get_current_object()
    app = job.app
    if app.conf.task_always_eager:
        job.apply_async(
            args=args,
            kwargs=kwargs,
            countdown=countdown,
            retries=retries,
            queue=queue,
            argsrepr=argsrepr,
            kwargsrepr=kwargsrepr,
            declare=[],
        )
        return
    job.__header__(*args, **(kwargs or {}))  # wrong arguments raise here, as in apply_async
    parent = app.current_worker_task
    parent_id = root_id = None
    if parent:
        parent_id = parent.request.id
        root_id = parent.request.root_id or parent_id
    message = app.amqp.create_task_message(
        random_uuid(),
        job.name,
        args,
        kwargs,
        countdown,
        retries=retries,
        reply_to=app.thread_oid,
        root_id=root_id,
        parent_id=parent_id,
        ignore_result=job.ignore_result,
        argsrepr=argsrepr,
        kwargsrepr=kwargsrepr,
    )
    kept = _kept_producers(app)
    producer = kept.take(app)
    try:
        app.amqp.send_task_message(producer, job.name, message, queue=queue, declare=[])
    except BaseException:
        kept.discard(producer)
        raise
    kept.put_back(producer)


class KeptProducers:
    """Producers that keep their own broker connection (made as Celery makes its pool's,
    `connection_for_write`) from one publish to the next, where Celery's pool hands the
    connection back after each and binds the producer to one again at the next. As with
    Celery's pool, at most `broker_pool_limit` exist at once (a publish waits for one of
    them; with no limit, each publish has a producer and connection of its own, closed
    after), and each is used by one thread at a time. A producer whose publish raised (the
    broker away past the retry policy) is closed, not kept: the next publish connects
    afresh. A forked child never uses its parent's."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._idle: list[Producer] = []
        self._slots = threading.BoundedSemaphore(self._limit) if self._limit else None

    def take(self, app: Celery) -> Producer:
        if self._pid != os.getpid():
            self._start()  # the parent's sockets are not ours
        if self._slots:
            self._slots.acquire()
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return app.amqp.Producer(app.connection_for_write())
        except BaseException:
            self._free_slot()
            raise

    def put_back(self, producer: Producer) -> None:
        if self._slots:
            self._idle.append(producer)
        else:
            _close(producer)
        self._free_slot()

    def discard(self, producer: Producer) -> None:
        _close(producer)
        self._free_slot()

    def _free_slot(self) -> None:
        if self._slots:
            self._slots.release()


def _close(producer: Producer) -> None:
    with contextlib.suppress(Exception):  # a broker gone away may fail the goodbye too
        producer.connection.close()


_kept: weakref.WeakKeyDictionary[Celery, KeptProducers] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def _kept_producers(app: Celery) -> KeptProducers:
    kept = _kept.get(app)
    if kept is None:
        with _kept_lock:
            kept = _kept.setdefault(app, KeptProducers(app.conf.broker_pool_limit))
    return kept
