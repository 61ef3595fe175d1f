"""Celery bound to the Flask app: every job runs inside an app context (Flask's pattern)."""

from __future__ import annotations

import logging
import time
import warnings

from celery import Celery, Task
from celery.exceptions import CPendingDeprecationWarning
from celery.signals import beat_init, celeryd_after_setup, worker_init, worker_process_init
from flask import Flask
from kombu import Exchange, Queue

from config import INSTANCE_DIR

log = logging.getLogger("sms_agent.worker")

#: Answers, confirmations and every other job go to Celery's default queue; bulk notices
#: (notices.BULK) to a queue of their own. A worker consumes both (unless `-Q` names only
#: some), taking from each in turn on Redis and on the SQLite broker alike, so a thousand
#: queued notices hold back a STOP's confirmation by one job at most.
DEFAULT_QUEUE = "celery"
BULK_QUEUE = "bulk"
#: Seconds a job taken and not acknowledged stays with its worker before it is delivered
#: again (its worker died), on Redis and on the embedded SQLite broker alike.
VISIBILITY_TIMEOUT = 3600


def celery_init_app(app: Flask) -> Celery:
    from .vendors.publishing import keep_json_encoder

    class FlaskJob(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskJob)
    celery_app.flask_app = app
    celery_app.config_from_object(celery_settings(app.config))
    keep_json_encoder()
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


#: What Celery 5 warns at every reconnect to the broker while
#: worker_cancel_long_running_tasks_on_connection_loss is False, even when set so: that
#: Celery 6 will cancel the jobs running instead. The setting is chosen (celery_settings),
#: so each Redis restart logged a deprecation warning of a dozen lines for nothing.
_CANCEL_ON_CONNECTION_LOSS = r"\s*In Celery 5\.1 we introduced an optional breaking change"


@celeryd_after_setup.connect
def _quiet_the_chosen_setting(**_kwargs) -> None:
    """Once the worker's logging is set up, which shows every Celery deprecation warning
    ('always'), before it first connects to the broker."""
    warnings.filterwarnings("ignore", _CANCEL_ON_CONNECTION_LOSS, CPendingDeprecationWarning)


#: Seconds between looks at a database that is not ready, and between the lines saying so.
DATABASE_POLL_SECONDS = 2.0
DATABASE_REPEAT_SECONDS = 60.0


@worker_init.connect
def _tune_the_worker(sender, **_kwargs) -> None:
    """The worker is built and about to take jobs (a threads pool runs them in this process)."""
    use_worker_timeouts(sender.app)
    _tune(sender.app)
    flask_app = getattr(sender.app, "flask_app", None)
    if flask_app is not None:
        wait_for_the_database(flask_app)


def wait_for_the_database(flask_app: Flask, poll: float = DATABASE_POLL_SECONDS) -> None:
    """A worker takes no job before the database answers and is migrated to this code's
    schema. Started before `flask db upgrade` (a deploy's new workers come up before its
    release step, or `celery worker` run by hand on a fresh database), it took jobs, and
    each failed on a missing table or column: replies were retried, then given up. The
    jobs wait in the broker meanwhile, and the log says why every minute."""
    import sqlalchemy as sa

    from .ops.health import database_not_ready

    # Looked at on connections of their own, closed after each look: none is left in the
    # app's pool for a prefork pool's children to share, nor taken from under its session.
    options = flask_app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    engine = sa.create_engine(
        flask_app.config["SQLALCHEMY_DATABASE_URI"],
        poolclass=sa.pool.NullPool,
        connect_args=options.get("connect_args", {}),
    )
    said_at = None
    try:
        with flask_app.app_context():
            while problem := database_not_ready(engine):
                now = time.monotonic()
                if said_at is None or now - said_at >= DATABASE_REPEAT_SECONDS:
                    log.warning("the worker takes no jobs yet: %s", problem)
                    said_at = now
                time.sleep(poll)
    finally:
        engine.dispose()
    if said_at is not None:
        log.warning("the database is ready: the worker takes jobs")


@beat_init.connect
def _tune_beat(sender, **_kwargs) -> None:
    use_worker_timeouts(sender.app)


def use_worker_timeouts(celery_app: Celery) -> None:
    """The worker's and beat's own broker connections wait WORKER_BROKER_TIMEOUT, not the
    webhook's BROKER_PUBLISH_TIMEOUT: nobody waits on them, and a Redis slow for a moment
    (a snapshot's fork) otherwise timed out every command of theirs: taking jobs, acks, and
    publishes, so a deferred notice was lost. Set before they connect."""
    flask_app = getattr(celery_app, "flask_app", None)
    if flask_app is None:
        return
    timeout = flask_app.config["WORKER_BROKER_TIMEOUT"]
    conf = celery_app.conf
    conf.broker_connection_timeout = timeout
    if "socket_timeout" in conf.broker_transport_options:  # Redis; the SQLite broker has none
        conf.broker_transport_options = {
            **conf.broker_transport_options,
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
        }


@worker_process_init.connect
def _tune_each_child(**_kwargs) -> None:
    """A prefork pool's child is ready to take jobs."""
    from celery import current_app

    _tune(current_app)


def _tune(celery_app: Celery) -> None:
    from .ops.collector import tune_collector

    flask_app = getattr(celery_app, "flask_app", None)
    if flask_app is not None:
        tune_collector(flask_app.config)


def celery_settings(config) -> dict:
    """Celery's settings derived from ours, so config.py stays the only source."""
    return {
        "broker_url": broker_url(config),
        "broker_transport": broker_transport(config),
        "task_ignore_result": True,
        "task_always_eager": config["CELERY_TASK_ALWAYS_EAGER"],
        "task_eager_propagates": True,
        # A job is acknowledged after it ran, so a killed worker's job is delivered again;
        # the jobs are idempotent, so redelivery cannot answer a texter twice.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": DEFAULT_QUEUE,
        "task_queues": [
            Queue(name, Exchange(name), routing_key=name) for name in (DEFAULT_QUEUE, BULK_QUEUE)
        ],
        "worker_pool": config["WORKER_POOL"],
        "worker_concurrency": config["WORKER_CONCURRENCY"],
        "broker_connection_retry_on_startup": True,
        # A job running when the broker's connection is lost finishes (Celery 5's default,
        # named so; see _CANCEL_ON_CONNECTION_LOSS): its acknowledgement is lost with the
        # channel, and its redelivery finds the task done. The threads pool could not cancel
        # it anyway, and a prefork job cut off mid-send would only leave more to redo.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_transport_options": broker_transport_options(config),
        # Publishing from a webhook must fail fast when the broker is down: the task is
        # already stored and the sweeper enqueues it again once the broker is back.
        "broker_connection_timeout": config["BROKER_PUBLISH_TIMEOUT"],
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.1,
            "interval_max": 0.1,
        },
        "worker_hijack_root_logger": False,
        "imports": ["sms_agent.jobs"],
        "beat_schedule": beat_schedule(config),
        "beat_schedule_filename": str(INSTANCE_DIR / "celerybeat-schedule"),
    }


#: The scheme prefix that names kombu's SQLAlchemy transport in a broker URL.
SQLA = "sqla+"


def broker_url(config) -> str:
    """CELERY_BROKER_URL, without the `sqla+` that would make kombu use its own SQLAlchemy
    transport instead of broker_transport's."""
    return config["CELERY_BROKER_URL"].removeprefix(SQLA)


def broker_transport(config) -> str | None:
    """A plain `redis://` broker publishes through one client per channel
    (vendors/redis_broker.py), and the embedded SQLite broker keeps a job until it is
    acknowledged (vendors/sqlite_broker.py); any other URL gets the transport its scheme
    names (`rediss://` needs kombu's own, which turns on TLS for that scheme)."""
    if config["CELERY_BROKER_URL"].startswith("redis://"):
        return "sms_agent.vendors.redis_broker:Transport"
    if config["CELERY_BROKER_URL"].startswith(SQLA):
        return "sms_agent.vendors.sqlite_broker:Transport"
    return None


def broker_transport_options(config) -> dict:
    """Redis takes socket and visibility options; kombu's SQLAlchemy transport (the embedded
    SQLite broker) passes every option to create_engine, which rejects unknown ones.

    Both socket timeouts: with only the connection's, a broker that took the connection and
    never answered (hung, or gone without closing it: a failover, a NAT's timeout) held a
    webhook's publish forever. The worker's BRPOP is read when the socket is readable, so
    the timeout does not cut it short."""
    if config["CELERY_BROKER_URL"].startswith(SQLA):
        return {}
    return {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "socket_connect_timeout": config["BROKER_PUBLISH_TIMEOUT"],
        "socket_timeout": config["BROKER_PUBLISH_TIMEOUT"],
    }


def beat_schedule(config) -> dict:
    """Periodic jobs; each expires after one interval, so beats piled up during a broker
    outage do not all run at once when it returns."""
    sweep_every = config["SWEEP_INTERVAL_SECONDS"]
    return {
        "sweep-stale-tasks": {
            "task": "sms_agent.jobs.sweep_stale_tasks",
            "schedule": sweep_every,
            "options": {"expires": sweep_every},
        },
        "roll-quota-windows": {
            "task": "sms_agent.jobs.roll_quota_windows",
            "schedule": 3600.0,
            "options": {"expires": 3600},
        },
        "release-idle-conversations": {
            "task": "sms_agent.jobs.release_idle_conversations",
            "schedule": 60.0,
            "options": {"expires": 60},
        },
        "forget-old-pictures": {
            "task": "sms_agent.jobs.forget_old_pictures",
            "schedule": 3600.0,
            "options": {"expires": 3600},
        },
        "forget-old-handled-messages": {
            "task": "sms_agent.jobs.forget_old_handled_messages",
            "schedule": 3600.0,
            "options": {"expires": 3600},
        },
        "fetch-sms-prices": {
            "task": "sms_agent.jobs.fetch_sms_prices",
            "schedule": config["PRICE_FETCH_INTERVAL_SECONDS"],
            "options": {"expires": config["PRICE_FETCH_INTERVAL_SECONDS"]},
        },
    }
