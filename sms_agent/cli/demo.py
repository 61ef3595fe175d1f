"""flask demo ...: realistic sample data for trying the admin, the API and benchmarks."""

import time

import click

from ..extensions import db
from ..plural import counted
from ..sample_data import DEMO_NUMBERS, real_texters
from ..sample_data import seed as seed_data
from .group import ServiceGroup
from .values import Integer

demo = ServiceGroup("demo", help="Demo data.")


@demo.command("seed")
# At most the numbers demo_phone makes, each set aside for fiction: no texter is a real person.
@click.option("--users", default=50, show_default=True, type=Integer(0, DEMO_NUMBERS))
@click.option("--tasks", default=500, show_default=True, type=Integer(0))
@click.option("--errors", default=20, show_default=True, type=Integer(0))
@click.option(
    "--seed",
    "random_seed",
    default=42,
    show_default=True,
    type=Integer(),
    help="Same seed, same data.",
)
def seed(users: int, tasks: int, errors: int, random_seed: int) -> None:
    """Insert users, tasks and errors spread over the last 60 days, into a database with
    no real texters. The texters' numbers ring no phone (555-0100 to 555-0199 of US area
    codes) and are test numbers: `flask sms simulate --from` may write as them."""
    if tasks and not users:
        raise click.BadParameter("tasks need at least one user", param_hint="--users")
    real = real_texters()
    if real:
        # Run against the service's database by mistake, made-up tasks and their spend
        # (today's counts against DAILY_SPEND_CAP) would mix with the real ones for good.
        raise click.ClickException(
            f"this database has {counted(real, 'real texter')}: demo data is "
            "for a database of its own (an empty one, or one seeded before)"
        )
    started = time.perf_counter()
    counts = seed_data(users=users, tasks=tasks, errors=errors, random_seed=random_seed)
    db.session.commit()
    elapsed = time.perf_counter() - started
    click.echo(
        f"Seeded {counted(counts['users'], 'user')}, {counted(counts['tasks'], 'task')} and "
        f"{counted(counts['errors'], 'error')} in {elapsed:.1f}s."
    )
