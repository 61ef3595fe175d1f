"""Factory functions with keyword defaults: make_user(tier="premium"), make_task(user=...)."""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.media.read import HELD_UNREAD
from sms_agent.models import (
    ApiToken,
    ErrorLog,
    ErrorType,
    StaffUser,
    Task,
    TaskMedia,
    Tier,
    User,
    utcnow,
)
from sms_agent.simulated_senders import TRY_IT_NUMBER

_numbers = itertools.count(1)


def next_phone() -> str:
    return f"+1555010{next(_numbers):04d}"


#: What an established texter's service_state holds: the one-time program notice went out
#: with their first answer. Pass service_state={} for a number that never got anything.
ESTABLISHED = {"program_notice_sent": "2026-01-01T00:00:00+00:00"}


def make_user(phone_number: str | None = None, **fields: Any) -> User:
    fields.setdefault("tier", Tier.FREE.value)
    fields.setdefault("service_state", dict(ESTABLISHED))
    # One who has texted (pass last_active=None for one staff or the API added).
    fields.setdefault("last_active", utcnow())
    user = User(phone_number=phone_number or next_phone(), **fields)
    db.session.add(user)
    db.session.commit()
    return user


def make_row_of_an_older_revision(entity: type, /, **columns: Any) -> None:
    """A row of `entity`'s table as an older migration left the table (for migration tests):
    the entity has columns added since, which the ORM, or an INSERT of the entity's table,
    would write. Only the columns the table has are written; the others of the row take
    the entity's defaults."""
    table = entity.__table__
    inspector = sa.inspect(db.session.connection())
    had = {column["name"] for column in inspector.get_columns(table.name)}
    kept = (column._copy() for column in table.columns if column.name in had)
    then = sa.Table(table.name, sa.MetaData(), *kept)
    db.session.execute(then.insert(), [columns])
    db.session.commit()


def make_user_of_an_older_revision(phone_number: str | None = None, **columns: Any) -> str:
    """A texter stored as an older migration left the users table (make_row_of_an_older_
    revision). Returns the phone number."""
    phone_number = phone_number or next_phone()
    columns.setdefault("last_active", utcnow())  # NOT NULL before 0035
    make_row_of_an_older_revision(User, phone_number=phone_number, **columns)
    return phone_number


def make_test_number(phone_number: str, **fields: Any) -> User:
    """A texter the admin's Try it made (a test number), as staff left it: over quota,
    opted out, made inactive. Try it writes as no other texter."""
    state = {**ESTABLISHED, TRY_IT_NUMBER: "boss"}
    return make_user(phone_number, service_state=state, **fields)


def make_task(user: User | None = None, **fields: Any) -> Task:
    user = user or make_user()
    fields.setdefault("sms_content", "What is the capital of France?")
    task = Task(user=user, **fields)
    db.session.add(task)
    db.session.commit()
    return task


def make_held_voice_note(task: Task, **fields: Any) -> TaskMedia:
    """A voice note sent while staff held the conversation: recorded, never transcribed
    (`fields` make it another: status="reading", error_message=None, one being read)."""
    fields = {"status": "refused", "error_message": HELD_UNREAD, **fields}
    voice = TaskMedia(task=task, position=0, content_type="audio/ogg", kind="audio", **fields)
    db.session.add(voice)
    db.session.commit()
    return voice


def make_error(**fields: Any) -> ErrorLog:
    fields.setdefault("error_type", ErrorType.OPENAI_ERROR.value)
    fields.setdefault("error_message", "The model returned an error")
    error = ErrorLog(**fields)
    db.session.add(error)
    db.session.commit()
    return error


def make_staff(
    username: str = "staff", password: str = "correct horse", is_admin: bool = False, **fields
) -> StaffUser:
    staff = StaffUser(username=username, is_admin=is_admin, **fields)
    staff.set_password(password)
    db.session.add(staff)
    db.session.commit()
    return staff


def make_token(owner: StaffUser | User) -> str:
    """A live API key for a staff user or a texter."""
    owner_kw = {"staff_user": owner} if isinstance(owner, StaffUser) else {"user": owner}
    token, key = ApiToken.issue(**owner_kw)
    db.session.add(token)
    db.session.commit()
    return key
