"""flask export ...: texters' conversations with their costs, streamed to a file or stdout."""

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import TextIO

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
    type=click.Choice(["csv", "json"], case_sensitive=False),
    default="csv",
    show_default=True,
    help="csv, or json: JSON Lines, one texter's object per line.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write here instead of stdout (a file appears only once the export is whole).",
)
def conversations(since, format_: str, output: str) -> None:
    """Write every texter's conversation since --since with its costs: their texts, our
    messages and the model calls, oldest first, each texter with its totals (the API's
    /api/users/<phone>/export/ for everyone). Rows are read in batches and written as they
    come, so the export's size does not matter. On a terminal, control characters are
    shown as escapes (\\u001b); a file or a pipe gets the exact text."""
    texters = exports.conversations(since=since.replace(tzinfo=UTC))
    pieces = exports.csv_text(texters) if format_ == "csv" else exports.json_lines(texters)
    with written_whole(output) as stream:
        # On a terminal, a texter's control characters would be obeyed, not shown: an ESC
        # can rewrite the screen. A file or a pipe gets the exact text.
        shown = clean_text.shown_as_escapes if stream.isatty() else str
        for chunk in exports.chunked(pieces):
            stream.write(shown(chunk))
        stream.flush()


@contextmanager
def written_whole(path: str) -> Iterator[TextIO]:
    """A regular file at `path` is written beside it and renamed over it only once the
    export is whole: an export that failed part-way (the database gone) left a truncated
    file at the path, in place of any earlier good export of the same name. Standard
    output ("-"), a terminal or a pipe is written as it comes."""
    if path == "-" or (os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode)):
        with click.open_file(path, "w", encoding="utf-8") as stream:
            yield stream
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, partial = tempfile.mkstemp(dir=directory, prefix=".export-", suffix=".part")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write in {directory}: {exc.strerror}", param_hint="'--output'"
        ) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yield stream
        os.chmod(partial, 0o666 & ~_umask())  # as a file opened for writing would have
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
