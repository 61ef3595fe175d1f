"""flask quota ...: the monthly request counters."""

import sys

import click
import sqlalchemy as sa

from ..extensions import db
from ..models import User
from ..plural import counted
from ..quota import reset_all
from .group import ServiceGroup

quota = ServiceGroup("quota", help="Manage monthly quotas.")


def _stdin_is_a_terminal() -> bool:
    return sys.stdin.isatty()


@quota.command("reset")
@click.option("--yes", is_flag=True, help="Reset without asking (for scripts).")
def reset(yes: bool) -> None:
    """Reset every user's monthly requests and start a new window; asks first, unless
    --yes. Without a terminal to ask on (a script, CI) and without --yes, it refuses at once
    rather than wait for an answer nobody can give."""
    if not yes:
        _confirm_reset()
    count = reset_all()
    db.session.commit()
    click.echo(f"Reset monthly requests for {counted(count, 'user')}.")


def _confirm_reset() -> None:
    if not _stdin_is_a_terminal():
        raise click.ClickException("not reset: nobody to confirm it here; pass --yes to reset.")
    users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    question = (
        f"Reset the monthly requests of every texter ({counted(users, 'user')}) and start a "
        "new window?"
    )
    if not click.confirm(question):
        raise click.ClickException("not reset.")
