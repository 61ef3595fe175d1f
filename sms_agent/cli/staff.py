"""flask staff ...: accounts for the admin UI and the API."""

import click
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import StaffUser
from ..models.staff import clean_username, find_staff, password_problem, username_problem
from .group import ServiceGroup
from .values import email_address, fits

staff = ServiceGroup("staff", help="Manage staff accounts.")


@staff.command("create")
@click.option("--username", required=True, callback=fits(StaffUser.username, strip=True))
@click.option("--password", required=True, help="8 to 200 characters.")
@click.option("--email", default=None, callback=email_address)
@click.option("--admin", "is_admin", is_flag=True, help="May change data and run actions.")
def create_staff(username: str, password: str, email: str | None, is_admin: bool) -> None:
    """Create a staff account (the first one should be --admin)."""
    username = clean_username(username)
    if not username:
        raise click.BadParameter("must not be empty", param_hint="--username")
    problem = username_problem(username)
    if problem:
        raise click.BadParameter(problem, param_hint="--username")
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="--password")
    taken = find_staff(username)
    if taken is not None:
        # Usernames differ in more than letter case (StaffUser.username_key).
        raise click.ClickException(f"staff user {taken.username!r} already exists")
    user = StaffUser(username=username, email=email, is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Created meanwhile, by another command or the admin: the unique username key says so.
        db.session.rollback()
        raise click.ClickException(f"staff user {username!r} already exists") from None
    click.echo(f"Created {'admin ' if is_admin else ''}staff user {username}.")


@staff.command("set-password")
@click.argument("username")
@click.option("--password", required=True)
def set_password(username: str, password: str) -> None:
    """Replace a staff user's password; their admin sessions end at once."""
    user = find_staff(username)
    if user is None:
        raise click.ClickException(f"no staff user {username!r}")
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="--password")
    user.set_password(password)
    db.session.commit()
    click.echo(f"Password changed for {user.username}; their sessions have ended.")
