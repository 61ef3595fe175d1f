"""The command groups' common rule: a command runs only on a database it can use."""

from __future__ import annotations

import functools

import click
from flask.cli import AppGroup


class ServiceGroup(AppGroup):
    """An AppGroup whose commands first check that the database answers and has been
    migrated (ops.health.database_not_ready). Run first on a fresh clone, before `make
    run` migrated anything, `flask staff create` printed SQLAlchemy's "no such table"
    traceback; with the database down, psycopg's. `--help` needs no database."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(f):
            @functools.wraps(f)
            def checked(*f_args, **f_kwargs):
                from ..ops.health import database_not_ready

                problem = database_not_ready()
                if problem:
                    raise click.ClickException(problem)
                return f(*f_args, **f_kwargs)

            return register(checked)

        return decorator
