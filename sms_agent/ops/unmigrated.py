"""Requests that meet a database without this code's tables: 503, saying to migrate."""

from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy.exc import DBAPIError, OperationalError

from ..extensions import db
from .health import database_not_ready

log = logging.getLogger("sms_agent.health")

#: PostgreSQL's undefined table and undefined column; SQLite says it in words.
MISSING_SCHEMA_STATES = frozenset({"42P01", "42703"})
MISSING_SCHEMA_WORDS = ("no such table", "no such column")


def schema_problem(error: BaseException) -> str | None:
    """What the commands say of the database (`flask db upgrade` to run) when `error` is a
    statement that found no table or column of ours and the migrations are behind; else
    None. Asked only once a statement failed, so no request pays for it otherwise."""
    if not isinstance(error, DBAPIError):
        return None
    orig = error.orig
    if getattr(orig, "sqlstate", None) not in MISSING_SCHEMA_STATES and not str(orig).startswith(
        MISSING_SCHEMA_WORDS
    ):
        return None
    db.session.rollback()
    problem = database_not_ready()
    if problem:
        log.error("database not ready: %s", problem)
    return problem


def not_migrated(error: DBAPIError):
    """The admin's and the webhook's answer: a line of text, not a bare 500 page."""
    problem = schema_problem(error)
    if problem is None:
        raise error
    return Response(f"Service unavailable: {problem}\n", 503, mimetype="text/plain")


def init_app(app: Flask) -> None:
    """Registered before the API's handlers, which hand other paths on to these."""
    app.register_error_handler(OperationalError, not_migrated)
    app.register_error_handler(DBAPIError, not_migrated)
