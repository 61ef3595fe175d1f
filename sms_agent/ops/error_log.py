"""Recording what went wrong for staff: one ErrorLog row, with the stack trace when there
is one. The caller commits; the log line and any alert follow the commit (see alerts.py)."""

from __future__ import annotations

import traceback

import sqlalchemy as sa

from ..extensions import db
from ..models import ErrorLog, Task, User


def record_error(
    error_type: str,
    message: str,
    *,
    user: User | None = None,
    task: Task | None = None,
    exc: BaseException | None = None,
    phone: str | None = None,
    **details,
) -> ErrorLog:
    """`phone` names the texter when their User is not at hand (a delivery report).

    The error log is the transaction's last write, for two locks taken in one order by
    everyone. Its count is one row for the whole table, taken at commit in the order of the
    writes (models/at_commit.py): what the transaction wrote before (a message's price)
    is flushed first, or a failed send deadlocked with a failed delivery report, which
    writes them the other way round. And the texter's row, which the error log's foreign key
    takes (FOR KEY SHARE), is taken before that flush writes their SMS rows, as a deletion
    of the texter takes them (status._texter_before_their_sms). A task the error names still
    goes before it in the flush that writes both (the foreign key orders them)."""
    phone = _texter_taken_first(user, phone)
    db.session.flush()
    trace = "".join(traceback.format_exception(exc)) if exc is not None else ""
    error = ErrorLog(
        error_type=error_type,
        error_message=message,
        stack_trace=trace,
        user_phone=phone,
        task_id=task.id if task else None,
        metadata_=details,
    )
    db.session.add(error)
    return error


def _texter_taken_first(user: User | None, phone: str | None) -> str | None:
    """The number of the texter the error names, their row taken FOR KEY SHARE before
    anything pending is written; None when they were deleted meanwhile (the error then
    names nobody, as their other rows do)."""
    if user is not None:
        if sa.inspect(user).pending:
            return user.phone_number  # written by the same flush, before the error log
        phone = user.phone_number
    if phone is None:
        return None
    with db.session.no_autoflush:
        return db.session.scalar(
            sa.select(User.phone_number)
            .where(User.phone_number == phone)
            .with_for_update(read=True, key_share=True)
        )
