"""flask token ...: API keys for staff and for texters' companion apps."""

import click
import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..inbound.media import UnservedChannel, texter_phone
from ..models import ApiToken, User
from ..models.staff import InactiveOwner, find_staff
from ..phones import InvalidPhoneNumber
from .group import ServiceGroup
from .values import readable_name

token = ServiceGroup("token", help="Manage API tokens.")


@token.command("create")
@click.argument("username")
@click.option(
    "--name",
    default="",
    help="A label to recognise the token by.",
    callback=readable_name(ApiToken.name),
)
def create_token(username: str, name: str) -> None:
    """Create an API token for staff USERNAME; the key is the last line printed."""
    staff_user = find_staff(username)
    if staff_user is None:
        raise click.ClickException(f"no staff user {username!r}")
    _issue(name, staff_user=staff_user)


@token.command("create-for-user")
@click.argument("phone_number")
@click.option("--name", default="", callback=readable_name(ApiToken.name))
def create_user_token(phone_number: str, name: str) -> None:
    """Create a token for a texter (sees only their own data); key printed last.
    PHONE_NUMBER in any notation, or a WhatsApp sender as Twilio writes it (whatsapp:+1...)."""
    try:
        phone = texter_phone(phone_number)
    except (InvalidPhoneNumber, UnservedChannel) as exc:
        raise click.BadParameter(str(exc)) from None
    user = db.session.get(User, phone)
    if user is None:
        raise click.ClickException(f"no user {phone}")
    _issue(name, user=user)


@token.command("revoke")
@click.argument("prefix")
def revoke_token(prefix: str) -> None:
    """Revoke the tokens of PREFIX: a key's first 12 characters, as the admin shows them
    (or the whole key)."""
    shown = ApiToken.SHOWN_CHARACTERS
    if len(prefix) < shown:
        # Fewer would match keys by their first few letters: "sat_" is every key.
        raise click.ClickException(
            f"{prefix!r} is too short: give a key's first {shown} characters, as the admin "
            "shows them, or the whole key"
        )
    tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.prefix == prefix[:shown])).all()
    if not tokens:
        raise click.ClickException(f"no token with prefix {prefix!r}")
    for item in tokens:
        item.revoke()
    db.session.commit()
    click.echo(f"Revoked {len(tokens)} token(s).")


def _issue(name: str, **owner) -> None:
    try:
        api_token, key = ApiToken.issue(name=name, **owner)
    except InactiveOwner as exc:
        raise click.ClickException(str(exc)) from None
    db.session.add(api_token)
    db.session.commit()
    days = current_app.config["API_TOKEN_DAYS"]
    expires = api_token.expires_at(days)
    shown = "never" if expires is None else expires.isoformat(timespec="seconds")
    click.echo(f"Expires: {shown} (API_TOKEN_DAYS is {days}).")
    click.echo("Store this key now; it is not shown again:")
    click.echo(key)
