"""flask export ...: texters' conversations with their costs, streamed to a file or stdout."""

from datetime import UTC

import click

from .. import clean_text
from .. import export as exports
from .group import ServiceGroup

export = ServiceGroup("export", help="Export data.")


@export.command("conversations")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First day (UTC) of the entries written, YYYY-MM-DD.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="csv, or json: JSON Lines, one texter's object per line.",
)
@click.option(
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="Write here instead of stdout.",
)
def conversations(since, format_: str, output) -> None:
    """Write every texter's conversation since --since with its costs: their texts, our
    messages and the model calls, oldest first, each texter with its totals (the API's
    /api/users/<phone>/export/ for everyone). Rows are read in batches and written as they
    come, so the export's size does not matter. On a terminal, control characters are
    shown as escapes (\\u001b); a file or a pipe gets the exact text."""
    texters = exports.conversations(since=since.replace(tzinfo=UTC))
    pieces = exports.csv_text(texters) if format_ == "csv" else exports.json_lines(texters)
    # On a terminal, a texter's control characters would be obeyed, not shown: an ESC can
    # rewrite the screen. A file or a pipe gets the exact text.
    shown = clean_text.shown_as_escapes if output.isatty() else str
    for chunk in exports.chunked(pieces):
        output.write(shown(chunk))
    output.flush()
