"""flask export conversations: every texter since a day, as CSV or JSON Lines, streamed."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import tracemalloc
import tty
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from sms_agent import costs
from sms_agent.export import rows as export_rows
from sms_agent.extensions import db
from sms_agent.models import ModelCall, OutboundMessage, Task, utcnow
from tests.export_data import read_csv
from tests.factories import make_task, make_user

D = Decimal


def day(days_ago: int) -> str:
    return (utcnow() - timedelta(days=days_ago)).strftime("%Y-%m-%d")


def exchange(user, days_ago: int, question: str = "Why?", price: str = "0.008300") -> None:
    """A text, its model call and its reply, `days_ago` days ago."""
    at = utcnow() - timedelta(days=days_ago)
    task = Task(user=user, sms_content=question, created_at=at, status="completed")
    db.session.add(task)
    db.session.flush()
    db.session.add_all(
        [
            ModelCall(
                user_phone=user.phone_number,
                task_id=task.id,
                model="gpt-4o-mini",
                prompt_tokens=100,
                completion_tokens=20,
                cost_usd=D("0.000027"),
                created_at=at + timedelta(seconds=1),
            ),
            OutboundMessage(
                to_number=user.phone_number,
                task=task,
                body="Because.",
                price_usd=D(price),
                created_at=at + timedelta(seconds=2),
            ),
        ]
    )
    db.session.commit()


@pytest.fixture
def texters(app):
    """Ann wrote 40 and 2 days ago, Bob 10 days ago, Cy never."""
    ann, bob, cy = make_user(), make_user(), make_user()
    exchange(ann, 40, "Old question")
    exchange(ann, 2, "New question")
    exchange(bob, 10, "Bob's question", price="0.052400")
    return ann, bob, cy


def run(runner, *args: str):
    result = runner.invoke(args=["export", "conversations", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_csv_since_a_day_has_only_that_days_entries_by_texter(runner, texters):
    ann, bob, _cy = texters
    rows = read_csv(run(runner, "--since", day(5)))
    assert [(row["phone_number"], row["direction"]) for row in rows] == [
        (ann.phone_number, "in"),
        (ann.phone_number, "model"),
        (ann.phone_number, "out"),
        (ann.phone_number, "total"),
    ]
    assert rows[0]["body"] == "New question"
    assert rows[-1]["cost_usd"] == "0.008327"
    rows = read_csv(run(runner, "--since", day(20), "--format", "csv"))
    assert {row["phone_number"] for row in rows} == {ann.phone_number, bob.phone_number}
    texts = [row["body"] for row in rows if row["direction"] == "in"]
    assert texts == ["New question", "Bob's question"]  # by texter (Ann's number is lower)


@pytest.mark.parametrize("typed", ["json", "JSON"])
def test_json_lines_hold_one_texter_each_with_totals_matching_the_spend_report(
    runner, texters, typed
):
    """--format in any letter case: "JSON" was refused as not one of 'csv', 'json'."""
    ann, bob, _cy = texters
    output = run(runner, "--since", day(60), "--format", typed)
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["phone_number"] for line in lines] == [ann.phone_number, bob.phone_number]
    for line in lines:
        assert line["exported_at"] == lines[0]["exported_at"]
        spent = costs.report.spent_by(line["phone_number"])
        assert D(line["totals"]["total_usd"]) == spent
    ann_entries = lines[0]["entries"]
    assert [e["direction"] for e in ann_entries] == ["in", "model", "out"] * 2
    assert [e["body"] for e in ann_entries if e["direction"] == "in"] == [
        "Old question",
        "New question",
    ]


def test_output_goes_to_a_file_when_asked(runner, texters, tmp_path):
    target = tmp_path / "export.csv"
    assert run(runner, "--since", day(60), "--output", str(target)) == ""
    assert target.read_text(encoding="utf-8").startswith("phone_number,created_at,direction,")


def test_an_export_that_fails_part_way_leaves_the_earlier_file_as_it_was(
    runner, texters, tmp_path, monkeypatch
):
    """Regression (ops10's finding): an export that failed part-way (the database gone)
    left a truncated file at --output, in place of the earlier good export of that name."""
    from sms_agent import export as exports

    target = tmp_path / "export.csv"
    run(runner, "--since", day(60), "--output", str(target))
    good = target.read_bytes()
    whole = exports.chunked

    def breaks_off(pieces):
        first = next(whole(pieces))
        yield first[: len(first) // 2]
        raise RuntimeError("server closed the connection unexpectedly")

    monkeypatch.setattr(exports, "chunked", breaks_off)
    failed = runner.invoke(
        args=["export", "conversations", "--since", day(60), "--output", str(target)]
    )
    assert failed.exit_code != 0
    assert target.read_bytes() == good
    assert [path.name for path in tmp_path.iterdir()] == ["export.csv"]  # nothing left over
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("since", ["2024-13-01", "2024-02-30", "yesterday", "01/02/2024"])
def test_a_bad_date_is_a_usage_error(runner, since):
    result = runner.invoke(args=["export", "conversations", "--since", since])
    assert result.exit_code == 2
    assert "Invalid value for '--since'" in result.output and "%Y-%m-%d" in result.output


def test_since_is_required(runner):
    result = runner.invoke(args=["export", "conversations"])
    assert result.exit_code == 2 and "--since" in result.output


class Executions:
    """The export's statement as the database driver received it, with its options."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []

    def _record(self, _conn, cursor, statement, _params, context, _many) -> None:
        if "entries" in statement:
            self.seen.append((dict(context.execution_options), type(cursor).__name__))

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


def test_the_cli_reads_rows_in_batches_from_one_streaming_cursor(runner, texters, monkeypatch):
    ann, bob, cy = texters
    for days_ago in range(3, 8):
        exchange(cy, days_ago, f"Cy {days_ago}")
    monkeypatch.setattr(export_rows, "BATCH", 4)
    with Executions(db.engine) as executions:
        output = run(runner, "--since", day(60))
    [(options, cursor)] = executions.seen  # one statement, however many batches
    assert options["yield_per"] == 4 and options["stream_results"] is True
    if db.engine.dialect.name == "postgresql":
        assert cursor == "ServerCursor"  # rows stay on the server until fetched
    rows = read_csv(output)
    entries = [row for row in rows if row["direction"] != "total"]
    assert len(entries) == 3 * (2 + 1 + 5) and len(entries) > 4 * 5  # several batches
    totals = {
        row["phone_number"]: D(row["cost_usd"]) for row in rows if row["direction"] == "total"
    }
    assert totals == {
        user.phone_number: costs.report.spent_by(user.phone_number) for user in (ann, bob, cy)
    }


@pytest.mark.slow
def test_an_export_is_written_as_it_is_read(runner, app, tmp_path, monkeypatch):
    """8 MB of texts exported in batches of 50 rows while Python never holds more than a
    small part of them (loading the table whole would hold all 8 MB at once)."""
    monkeypatch.setattr(export_rows, "BATCH", 50)
    user = make_user()
    now = utcnow()
    db.session.execute(
        sa.insert(Task),
        [
            {
                "user_phone": user.phone_number,
                "sms_content": f"{n:06d}" + "x" * 2000,
                "created_at": now - timedelta(seconds=n),
            }
            for n in range(4000)
        ],
    )
    db.session.commit()
    target = tmp_path / "big.csv"
    # Once before measuring: what an export costs once per process (imports, the statements'
    # compiled forms in SQLAlchemy's cache) is no part of what it holds per row. Alone, or
    # first in a run, those were counted and the peak passed the bound.
    run(runner, "--since", day(1), "--output", str(tmp_path / "warm-up.csv"))
    tracemalloc.start()
    try:
        run(runner, "--since", day(1), "--output", str(target))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = target.stat().st_size
    assert size > 8_000_000
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte export"


#: A texter's text that, printed raw, sets the staff member's window title, clears the
#: screen, overwrites the line, reverses what follows and starts a C1 escape sequence.
HOSTILE = "Hi\x1b]0;pwned\x07\x1b[2J\rgone\u202eevil\x9b31m"


def _shown_on_a_terminal(runner, *args: str) -> str:
    """What the export writes to a real (pseudo-)terminal, byte for byte."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no newline translation: the bytes as the command wrote them
    try:
        assert run(runner, *args, "--output", os.ttyname(slave)) == ""
        written = b""
        while select.select([master], [], [], 0.5)[0]:
            written += os.read(master, 65536)
    finally:
        os.close(slave)
        os.close(master)
    return written.decode("utf-8")


@pytest.mark.parametrize(
    ("format_", "carriage_return"),
    [("csv", r"\u000d"), ("json", r"\r")],  # as JSON has it
)
def test_a_texters_control_characters_show_as_text_on_a_terminal(
    runner, app, format_, carriage_return
):
    """Regression: the CSV wrote a texter's escape sequences raw to staff's terminal."""
    make_task(make_user(), sms_content=HOSTILE)
    shown = _shown_on_a_terminal(runner, "--since", day(1), "--format", format_)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", shown.replace("\r\n", ""))
    escaped = r"Hi\u001b]0;pwned\u0007\u001b[2J" + carriage_return + r"gone\u202eevil\u009b31m"
    assert escaped in shown


def test_a_file_or_a_pipe_gets_the_texters_exact_text(runner, app, tmp_path):
    make_task(make_user(), sms_content=HOSTILE)
    target = tmp_path / "export.csv"
    run(runner, "--since", day(1), "--output", str(target))
    with target.open(newline="", encoding="utf-8") as written:
        assert [row["body"] for row in csv.DictReader(written)][0] == HOSTILE
    piped = run(runner, "--since", day(1))
    assert [row["body"] for row in csv.DictReader(io.StringIO(piped))][0] == HOSTILE


def test_the_help_names_the_escapes_without_writing_one():
    from sms_agent.cli.export import conversations

    assert "\\u001b" in conversations.callback.__doc__ and "\x1b" not in conversations.help
