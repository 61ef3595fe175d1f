"""flask spend ...: what the service spent today, and raising today's spend cap."""

from decimal import Decimal

import click
from flask.cli import AppGroup

from .. import limits
from ..costs import report
from ..extensions import db

spend = AppGroup("spend", help="Spend and the daily spend cap.")


@spend.command("today")
def today() -> None:
    """Print today's spend (UTC day) against the daily cap."""
    spent = report.totals(report.day_start())
    cap = limits.daily_cap()
    click.echo(
        f"Spent today: {spent['total_usd']} USD (SMS {spent['sms_usd']}, model "
        f"{spent['model_usd']}); daily cap: {'none' if cap is None else f'{cap} USD'}"
    )


@spend.command("raise-cap")
@click.argument("amount", type=click.FloatRange(min=0))
def raise_cap(amount: float) -> None:
    """Set today's daily spend cap to AMOUNT USD (until midnight UTC); texts are answered
    again while today's spend is below it."""
    record = limits.raise_daily_cap(Decimal(str(amount)))
    db.session.commit()
    click.echo(f"Today's spend cap is now {record.cap_usd} USD.")
