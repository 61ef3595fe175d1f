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
"""

from __future__ import annotations

from celery import Task
from celery.local import Proxy
from kombu.utils.uuid import uuid


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
        uuid(),
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
    with app.producer_pool.acquire(block=True) as producer:
        app.amqp.send_task_message(producer, job.name, message, queue=queue, declare=[])
