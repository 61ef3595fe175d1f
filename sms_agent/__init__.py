"""SMS-to-AI Agent: text a phone number, get an AI answer back by SMS."""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config, SettingError, config_for, startup_refusal

from .extensions import db, login_manager, migrate
from .json_provider import OrjsonProvider


class SmsAgent(Flask):
    """Flask, remembering which of its functions are plain (not async) ones: Flask asks
    inspect.iscoroutinefunction about every hook and view it calls, on every request
    (fourteen times a webhook, 40,000 instructions), for an answer that never changes.
    Functions are held weakly: those made for one request (after_this_request's) go.
    Its JSON bodies are written by orjson (json_provider.py)."""

    json_provider_class = OrjsonProvider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        if self._plain_functions.get(func, False):
            return func
        made = super().ensure_sync(func)
        if made is func:
            with contextlib.suppress(TypeError):  # one that cannot be held weakly: asked anew
                self._plain_functions[func] = True
        return made


def create_app(config: type[Config] | None = None, **overrides: Any) -> Flask:
    """Build the app: config, extensions, model rules, surfaces, errors, commands, jobs."""
    app = SmsAgent(__name__, instance_relative_config=False)
    app.config.from_object(config or config_for())
    app.config.update(overrides)
    check_production_settings(app)

    register_logging(app)
    register_startup_warnings(app)
    register_proxy(app)
    register_extensions(app)
    register_session_rules(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_celery(app)
    return app


def check_production_settings(app: Flask) -> None:
    refusal = startup_refusal(app.config)
    if refusal:
        raise SettingError(refusal)


def register_logging(app: Flask) -> None:
    from .ops.logs import configure_logging

    configure_logging(app)


def register_startup_warnings(app: Flask) -> None:
    """Settings that work but cost money, break a carrier's rules or publish the server's
    secrets are named in the log once, as the app starts, rather than found on the bill."""
    from .costs.prices import warn_of_unpriced_models
    from .notices import warn_of_a_help_reply_longer_than_one_sms
    from .program_notice import warn_of_one_carriers_frown_on
    from .security import warn_of_any_host, warn_of_public_development_secrets

    warn_of_unpriced_models(app.config)
    warn_of_one_carriers_frown_on(app.config)
    warn_of_a_help_reply_longer_than_one_sms(app.config)
    warn_of_public_development_secrets(app)
    warn_of_any_host(app)


def register_proxy(app: Flask) -> None:
    """Behind N trusted proxies, take scheme and host from X-Forwarded-* so that the URL
    Twilio signed is the URL we verify."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (the models must be known before migrations run)
    from .extensions import drop_closed_connection, listen_on_every_connection, tune_sqlite

    _ensure_sqlite_folder(app)
    _pin_postgresql_to_utc(app)
    _describe_results_when_read(app)
    _size_the_pool(app)
    listen_on_every_connection(connect=tune_sqlite, checkout=drop_closed_connection)
    db.init_app(app)
    # Batch mode lets later migrations ALTER tables on SQLite, which lacks most ALTERs.
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    login_manager.init_app(app)
    from .extensions import csrf, limiter
    from .limits import redis_timeouts

    csrf.init_app(app)
    storage = app.config.get("RATELIMIT_STORAGE_URI") or ""
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", redis_timeouts(storage, app.config))
    limiter.init_app(app)
    # The Limiter is one per process, and Flask-Limiter keeps "the storage is down" across
    # init_app: an app built after another's storage failed (the test suite builds many)
    # counted in its in-memory fallback until a health check, then in its storage, each
    # seeing only part of the calls. A new app's storage is given its chance.
    limiter._storage_dead = False


def register_session_rules(app: Flask) -> None:
    """What must happen on every write, whoever writes: the tier-upgrade rule, departing
    staff's conversations handed back, a task's changes dated, metrics of committed rows,
    and alerts about committed critical errors."""
    from . import handoff, quota
    from .extensions import listen_on_every_session
    from .models.tasks import date_changes
    from .ops import alerts, metrics

    quota.init_app(app)
    listen_on_every_session(before_flush=date_changes)
    handoff.init_app(app)
    metrics.init_app(app)
    alerts.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import admin, api, security, webhook
    from .extensions import csrf
    from .ops import health

    # Twilio signs its webhooks and API clients send tokens; CSRF guards the admin's forms.
    csrf.exempt(webhook.bp)
    csrf.exempt(api.bp)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    admin.init_app(app)
    security.init_app(app)  # headers, cookies, HTTPS, NUL guard; after the admin's actions


def register_errorhandlers(app: Flask) -> None:
    from .api.errors import register_api_errors
    from .ops import unmigrated

    unmigrated.init_app(app)
    register_api_errors(app)


def register_commands(app: Flask) -> None:
    from .cli import register_cli

    register_cli(app)


def register_celery(app: Flask) -> None:
    from .worker import celery_init_app

    celery_init_app(app)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _pin_postgresql_to_utc(app: Flask) -> None:
    """Sessions in UTC, so date() groups by the same days on PostgreSQL as on SQLite; and
    opening one gives up after DB_CONNECT_TIMEOUT, as does a query the host has not
    acknowledged by then, so a database host that drops packets (a failover, a firewall) or
    dies under an open connection fails a webhook, a job or a probe in seconds, not the
    kernel's fifteen minutes of retransmissions."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {
            "options": "-c timezone=UTC",
            "connect_timeout": app.config["DB_CONNECT_TIMEOUT"],
            "tcp_user_timeout": app.config["DB_CONNECT_TIMEOUT"] * 1000,  # milliseconds
            **options.get("connect_args", {}),
        }
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _describe_results_when_read(app: Flask) -> None:
    """PostgreSQL's cursors describe a result's columns only when they are read
    (extensions.DescribedWhenRead)."""
    from sqlalchemy.engine import make_url

    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_driver_name() == "psycopg":
        from .extensions import DescribedWhenRead

        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        connect_args = {"cursor_factory": DescribedWhenRead, **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": connect_args}


def _size_the_pool(app: Flask) -> None:
    """DB_POOL_SIZE, DB_MAX_OVERFLOW and DB_POOL_TIMEOUT for the engine; an in-memory SQLite
    database (the tests') has one connection that every thread shares, and no pool to size."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url in ("sqlite://", "sqlite:///:memory:"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("pool_size", app.config["DB_POOL_SIZE"])
    options.setdefault("max_overflow", app.config["DB_MAX_OVERFLOW"])
    options.setdefault("pool_timeout", app.config["DB_POOL_TIMEOUT"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _ensure_sqlite_folder(app: Flask) -> None:
    """The embedded default keeps its SQLite files in instance/; create it on first run."""
    from pathlib import Path

    for key in ("SQLALCHEMY_DATABASE_URI", "CELERY_BROKER_URL"):
        url = app.config.get(key) or ""
        if "sqlite:///" in url and not url.endswith(":memory:"):
            path = url.split("sqlite:///", 1)[1]
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
