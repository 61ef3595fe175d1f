"""flask quota ...: the monthly request counters."""

import click
from flask.cli import AppGroup

from ..extensions import db
from ..quota import reset_all

quota = AppGroup("quota", help="Manage monthly quotas.")


@quota.command("reset")
def reset() -> None:
    """Reset every user's monthly requests and start a new window."""
    count = reset_all()
    db.session.commit()
    click.echo(f"Reset monthly requests for {count} users.")
