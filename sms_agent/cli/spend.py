"""flask spend ...: what the service spent today, and raising today's spend cap."""

from decimal import Decimal

import click

from config import parse_money

from .. import limits, numbers
from ..costs import report
from ..extensions import db
from ..models import utcnow
from ..plural import counted
from .group import ServiceGroup

spend = ServiceGroup("spend", help="Spend and the daily spend cap.")


@spend.command("today")
def today() -> None:
    """Print today's spend (UTC day) and the answers under way against the daily cap."""
    spent = report.totals(report.day_start())
    in_flight, counted_at = limits.under_way_today()
    cap = limits.daily_cap()
    under_way = ""
    if in_flight:
        counts = "the cap counts at" if cap is not None else "may cost up to"
        under_way = f"; {counted(in_flight, 'answer')} under way, which {counts} {counted_at} USD"
    click.echo(
        f"Spent today: {spent['total_usd']} USD (SMS {spent['sms_usd']}, model "
        f"{spent['model_usd']}){under_way}; daily cap: {'none' if cap is None else f'{cap} USD'}"
    )


class UsdAmount(click.ParamType):
    """An amount of US dollars the database can keep: finite, at least 0, below a million
    (a typo such as "nan" must not quietly lift the cap), written as the admin's number
    boxes take one (numbers.read_number): Decimal() also read "1_0" as 10 and a fullwidth
    "２" as 2. The Decimal is read from the text, keeping every digit typed."""

    name = "amount"

    def convert(self, value, param, ctx) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            numbers.read_number(value)
            return parse_money("AMOUNT", value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


# A negative AMOUNT ("-1") is the amount typed, refused as one, not an option click knows
# nothing of ("No such option: -1").
@spend.command("raise-cap", context_settings={"ignore_unknown_options": True})
@click.argument("amount", type=UsdAmount())
def raise_cap(amount: Decimal) -> None:
    """Set today's daily spend cap to AMOUNT USD (until midnight UTC); texts are answered
    again while it has room for their answers."""
    try:
        record = limits.raise_daily_cap(amount)
    except limits.NoDailyCap as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    said = f"Today's spend cap is now {record.cap_usd} USD"
    counted = limits.spent_today(utcnow())
    if counted >= record.cap_usd:
        # A cap typed below the day's spend (0.1 for 10) pauses every answer: said so, not
        # left for staff to learn from texters. Under DAILY_SPEND_CAP=0 midnight lifts
        # nothing (limits.daily_cap_lifts).
        until = "midnight UTC or a higher cap" if limits.daily_cap_lifts() else "a higher cap"
        said += (
            f", which today's spend of {counted} USD (answers under way included) has "
            f"reached: answers stay paused until {until}"
        )
    click.echo(f"{said}.")
