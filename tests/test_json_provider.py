"""The JSON bodies the app writes (json_provider.py): the same documents Flask's own provider
writes, byte for byte where the text is ASCII, by a faster encoder."""

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid

import pytest
from flask.json.provider import DefaultJSONProvider

from sms_agent.json_provider import OrjsonProvider


class Colour(enum.StrEnum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: float


DOCUMENTS = {
    "nested, keys out of order": {"b": [1, 2.5, None, True], "a": {"z": "", "y": {"x": []}}},
    "floats": [0.1, 1e16, 12345678.9, 2.0, -0.5],
    "integers at 64 bits": [2**63 - 1, -(2**63), 0],
    "datetimes, dates and decimals": {
        "at": dt.datetime(2026, 12, 6, 23, 5, 1, tzinfo=dt.UTC),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
        "day": dt.date(2026, 12, 6),
        "money": decimal.Decimal("0.009360"),
    },
    "an enum, a uuid and a dataclass": {
        "colour": Colour.RED,
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "point": Point(1, 2.5),
    },
    "escapes": {"quote": 'say "hi"\\', "controls": "a\nb\tc\x00\x1f", "html": "<a>&</a>"},
}


@pytest.mark.parametrize("layout", [{"separators": (",", ":")}, {"indent": 2}])
@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_an_ascii_document_is_written_exactly_as_flask_writes_it(app, document, layout):
    ours, flasks = OrjsonProvider(app), DefaultJSONProvider(app)
    assert ours.dumps(document, **layout) == flasks.dumps(document, **layout)


@pytest.mark.parametrize(
    "document",
    [
        {"numbers": [-3.25e-7, 1e-300, 5e-324, 1.7976931348623157e308]},
        {2: "two", 10: "ten", 2.5: "x", None: "null", False: "f"},
    ],
    ids=["small exponents (3.25e-7 rather than 3.25e-07)", "keys that are not text"],
)
def test_what_is_spelled_differently_reads_the_same(app, document):
    """Exponents without a leading zero, and keys that are not text sorted as the text they
    are written as (Flask's encoder sorts them as what they were, and refuses a mix)."""
    written = OrjsonProvider(app).dumps(document, separators=(",", ":"))
    assert json.loads(written) == json.loads(json.dumps(document))


def test_text_beyond_ascii_is_written_as_utf_8_and_reads_the_same(app):
    document = {"greeting": "¡Hola! 你好 👋", "name": "Zoë\u2028"}
    written = OrjsonProvider(app).dumps(document, separators=(",", ":"))
    assert "👋" in written
    assert json.loads(written) == json.loads(DefaultJSONProvider(app).dumps(document))


def test_an_integer_beyond_64_bits_is_written_by_flasks_own_encoder(app):
    document = {"big": 2**80, "small": 1}
    assert OrjsonProvider(app).dumps(document, separators=(",", ":")) == (
        '{"big":1208925819614629174706176,"small":1}'
    )


def test_what_neither_can_write_is_refused_as_flask_refuses_it(app):
    with pytest.raises(TypeError):
        OrjsonProvider(app).dumps({"when": dt.time(12, 0)}, separators=(",", ":"))


def test_a_float_that_is_not_a_number_is_written_as_null_so_the_body_stays_json(app):
    written = OrjsonProvider(app).dumps({"rate": float("nan")}, separators=(",", ":"))
    assert json.loads(written) == {"rate": None}


def test_the_app_writes_its_bodies_with_it_compact_and_ending_in_a_newline(app, client):
    assert isinstance(app.json, OrjsonProvider)
    response = client.get("/healthz")
    assert response.get_data(as_text=True).endswith("}\n")
    assert ": " not in response.get_data(as_text=True)


def test_a_debugging_app_indents_its_bodies_as_flask_does(app):
    app.debug = True
    try:
        with app.test_request_context():
            body = app.json.response({"b": 1, "a": [1]}).get_data(as_text=True)
    finally:
        app.debug = False
    assert body == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}\n'
