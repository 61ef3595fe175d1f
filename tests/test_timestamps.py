"""Timestamps read back as aware UTC and written out as ISO 8601 text, the same whichever
way the app takes to get there."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from sms_agent.api.schemas import _iso_text
from sms_agent.extensions import db
from sms_agent.models import User
from tests.factories import make_user


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    aware=st.booleans(),
)
def test_a_timestamp_is_written_as_isoformat_writes_it(moment, aware):
    moment = moment.replace(tzinfo=UTC) if aware else moment
    assert _iso_text(moment) == moment.isoformat()


def test_a_timestamp_in_another_zone_keeps_its_offset():
    moment = datetime(2026, 12, 7, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert _iso_text(moment) == "2026-12-07T03:04:05-05:00"


def _last_active_read_back(phone: str) -> datetime:
    db.session.expire_all()
    return db.session.get(User, phone).last_active


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-10-08 01:52:34.044054", datetime(2026, 10, 8, 1, 52, 34, 44054, tzinfo=UTC)),
        ("2026-10-08 01:52:34", datetime(2026, 10, 8, 1, 52, 34, tzinfo=UTC)),
        ("1970-01-01 00:00:00.000000", datetime(1970, 1, 1, tzinfo=UTC)),
        # Written around the models, with an offset or a Z: the same moment, in UTC.
        ("2026-10-08T03:52:34+02:00", datetime(2026, 10, 8, 1, 52, 34, tzinfo=UTC)),
        ("2026-10-08T01:52:34Z", datetime(2026, 10, 8, 1, 52, 34, tzinfo=UTC)),
    ],
)
def test_a_timestamp_written_as_text_in_sqlite_reads_as_aware_utc(app, text, moment):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite keeps timestamps as text")
    user = make_user()
    db.session.execute(
        sa.text("UPDATE users SET last_active = :text WHERE phone_number = :phone"),
        {"text": text, "phone": user.phone_number},
    )
    db.session.commit()
    read = _last_active_read_back(user.phone_number)
    assert read == moment
    assert read.tzinfo is UTC


def test_timestamps_read_back_as_written(app):
    """Across the calendar, with and without microseconds, on either database."""
    user, pick = make_user(), random.Random(17)
    for _ in range(200):
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=pick.randrange(0, 4_000_000_000),
            microseconds=pick.choice([0, pick.randrange(1_000_000)]),
        )
        user.last_active = moment
        db.session.commit()
        read = _last_active_read_back(user.phone_number)
        assert read == moment and read.utcoffset() == timedelta(0)
        user = db.session.get(User, user.phone_number)
