"""The export rule: a texter's texts, our messages and the model calls, oldest first, with
costs that are the stored figures and totals that are the spend report's; CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest

from sms_agent import costs, export
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, TaskMedia, TaskStatus
from tests.export_data import ENTRIES, TWILIO_PRICE, conversation, ledger
from tests.factories import make_task, make_user

D = Decimal


@pytest.fixture
def history(app, openai_server):
    return conversation(app, openai_server)


def entries_of(phone: str, **options) -> tuple[list[dict], export.Totals]:
    texter = next(export.conversations([phone], **options))
    return list(texter), texter.totals


def test_a_conversation_is_texts_model_calls_and_messages_oldest_first(history):
    entries, _ = entries_of(history.user.phone_number)
    assert [(e["direction"], e["author"]) for e in entries] == ENTRIES
    assert {e["phone_number"] for e in entries} == {history.user.phone_number}
    assert entries[0]["body"] == "What is the capital of France?"
    assert entries[2]["body"].startswith("Paris.") and entries[2]["kind"] == "reply"
    assert [e["created_at"] for e in entries] == sorted(e["created_at"] for e in entries)


def test_costs_are_the_stored_figures_and_totals_the_spend_reports(history):
    phone = history.user.phone_number
    entries, totals = entries_of(phone)
    stored = ledger(phone)
    [call] = stored["calls"]
    reply, staff_message = sorted(stored["sent"], key=lambda m: m.created_at)
    model, sent_reply, sent_staff = entries[1], entries[2], entries[4]
    assert (model["model_cost_usd"], model["cost_usd"]) == (call.cost_usd, call.cost_usd)
    assert (model["prompt_tokens"], model["completion_tokens"]) == (700, 77)
    assert model["cached_tokens"] == call.cached_tokens == 512  # no cached price: the input's
    assert call.cost_usd == D("0.000346")  # 700 x 0.37 + 77 x 1.13 per million, rounded
    assert (sent_reply["price_usd"], sent_reply["price_estimated"]) == (reply.price_usd, True)
    assert (sent_staff["price_usd"], sent_staff["price_estimated"]) == (TWILIO_PRICE, False)
    # The answered text carries its task's cost: its model call and its reply.
    assert entries[0]["task_cost_usd"] == history.answered.cost_usd
    assert history.answered.cost_usd == call.cost_usd + reply.price_usd
    assert sum(e["cost_usd"] for e in entries if e["task_id"] == history.answered.id) == (
        history.answered.cost_usd
    )
    assert totals.as_dict() == {
        "texts": 2,
        "refused": 1,
        "sent": 2,
        "model_calls": 1,
        "sms_usd": reply.price_usd + TWILIO_PRICE,
        "sms_estimated_usd": reply.price_usd,
        "model_usd": call.cost_usd,
        "total_usd": reply.price_usd + TWILIO_PRICE + call.cost_usd,
    }
    assert totals.total_usd == sum(e["cost_usd"] for e in entries)
    assert totals.total_usd == costs.report.spent_by(phone)
    assert totals.total_usd == costs.report.by_texter([phone])[phone]["all_time_usd"]


def test_refused_texts_come_with_their_reason_and_cost_nothing(history):
    entries, _ = entries_of(history.user.phone_number)
    refused = entries[3]
    assert (refused["status"], refused["refusal_reason"]) == (TaskStatus.REFUSED, "over_quota")
    assert refused["cost_usd"] == 0 and refused["task_cost_usd"] == 0


def test_an_unpriced_message_counts_as_nothing_rather_than_failing(app):
    user = make_user()
    db.session.add(OutboundMessage(to_number=user.phone_number, body="old", price_usd=None))
    db.session.commit()
    [entry], totals = entries_of(user.phone_number)
    assert entry["price_usd"] is None and entry["cost_usd"] == 0 and totals.total_usd == 0


def test_a_texter_without_entries_still_has_a_conversation_with_zero_totals(app):
    phone = make_user().phone_number
    entries, totals = entries_of(phone)
    assert entries == [] and totals.as_dict()["total_usd"] == 0


def test_a_conversation_must_be_read_before_the_next_is_asked_for(history):
    """Both come from one cursor: skipping ahead would silently cut the first one short."""
    with pytest.raises(RuntimeError, match="not read before the next"):
        list(export.conversations())


def test_several_texters_come_out_one_after_another_with_their_own_totals(history):
    second = make_user()
    make_task(second, sms_content="Mine")
    texters = {c.phone_number: (list(c), c.totals.texts) for c in export.conversations()}
    assert texters[second.phone_number][1] == 1
    assert texters[history.user.phone_number][1] == 2
    assert len(texters) == 3  # and the history's other texter


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_the_columns_the_entries_and_a_total_row(history):
    phone = history.user.phone_number
    text = "".join(export.csv_text(export.conversations([phone])))
    rows = csv_rows(text)
    assert text.splitlines()[0].split(",") == list(export.COLUMNS)
    assert [row["direction"] for row in rows] == ["in", "model", "out", "in", "out", "total"]
    total = rows[-1]
    spent = costs.report.spent_by(phone)
    assert D(total["cost_usd"]) == spent == sum(D(row["cost_usd"]) for row in rows[:-1])
    assert total["body"].startswith("texts 2 (refused 1), sent 2, model calls 1;")
    assert rows[4]["price_estimated"] == "false" and rows[4]["price_usd"] == "0.007900"


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_defused(history):
    rows = csv_rows("".join(export.csv_text(export.conversations([history.user.phone_number]))))
    assert rows[3]["body"] == "'=1+1 and more?"
    # A number's "+" is a formula's start too (a spreadsheet showed 15550100123 as 1.56E+10).
    assert rows[3]["phone_number"] == "'" + history.user.phone_number


def test_a_program_gets_every_csv_cell_back_by_removing_one_leading_apostrophe(history):
    """Regression: a body that began with "'" came out as written, one that began with "="
    with a "'" before it, so a program reading the CSV could not tell "'=x" from "=x", and
    the phone numbers a spreadsheet reads as formulas (+1...) were written bare. Every text
    cell starting with = + - @ tab CR or ' gets one "'" more, and nothing else does."""
    phone = history.user.phone_number
    for text in ("'quoted already", "@SUM(1+1)*cmd|' /C calc'!A0", "\t-2+3", "-", "it's"):
        make_task(history.user, sms_content=text)
    document = json.loads("".join(export.json_text(next(export.conversations([phone])))))

    rows = csv_rows("".join(export.csv_text(export.conversations([phone]))))[:-1]

    def undone(cell: str) -> str:
        return cell[1:] if cell.startswith("'") else cell

    def as_text(value) -> str:
        return "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)

    assert [row["body"] for row in rows[-5:]] == [
        "''quoted already",
        "'@SUM(1+1)*cmd|' /C calc'!A0",
        "'\t-2+3",
        "'-",
        "it's",
    ]
    assert [{name: undone(cell) for name, cell in row.items()} for row in rows] == [
        {name: as_text(entry[name]) for name in export.COLUMNS} for entry in document["entries"]
    ]


def test_json_is_one_object_with_entries_and_totals(history):
    phone = history.user.phone_number
    texter = next(export.conversations([phone]))
    document = json.loads("".join(export.json_text(texter)))
    assert set(document) == {"phone_number", "exported_at", "entries", "totals"}
    assert [e["direction"] for e in document["entries"]] == ["in", "model", "out", "in", "out"]
    assert set(document["entries"][0]) == set(export.COLUMNS)
    assert document["entries"][3]["body"] == "=1+1 and more?"  # JSON is data, not a sheet
    assert D(document["totals"]["total_usd"]) == costs.report.spent_by(phone)
    sms = document["totals"]["sms_usd"]
    assert re.fullmatch(r"\d+\.\d{6}", sms)  # amounts as the API serves them
    assert D(sms) == sum(message.price_usd for message in ledger(phone)["sent"])


def test_a_voice_note_comes_out_with_its_transcript_and_a_picture_as_a_picture(app):
    """Regression: a text sent as a voice note came out as an empty body, what the texter
    said nowhere in the export, though staff's conversation page shows its transcript."""
    texter = make_user()
    spoken = make_task(texter, sms_content="")
    pictured = make_task(texter, sms_content="What plant is this?")
    db.session.add_all(
        [
            TaskMedia(task=spoken, content_type="audio/webm", kind="audio", transcript="Hi =)"),
            TaskMedia(task=pictured, content_type="image/jpeg", kind="image"),
            TaskMedia(
                task=pictured, position=1, content_type="video/mp4", kind="other", status="refused"
            ),
        ]
    )
    db.session.commit()

    entries, _ = entries_of(texter.phone_number, batch=1)  # the rows in batches of one
    media = {e["task_id"]: e["media"] for e in entries if e["direction"] == "in"}
    assert media[spoken.id] == "voice note (audio/webm): Hi =)"
    assert media[pictured.id] == (
        "picture (image/jpeg)\nfile (video/mp4), not read: a kind of file we do not read"
    )
    rows = csv_rows("".join(export.csv_text(export.conversations([texter.phone_number]))))
    assert rows[0]["media"] == "voice note (audio/webm): Hi =)"
