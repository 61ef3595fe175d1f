"""Recording what went wrong for staff: one ErrorLog row, with the stack trace when there
is one. The caller commits; the log line and any alert follow the commit (see alerts.py)."""

from __future__ import annotations

import traceback

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
    """`phone` names the texter when their User is not at hand (a delivery report)."""
    trace = "".join(traceback.format_exception(exc)) if exc is not None else ""
    error = ErrorLog(
        error_type=error_type,
        error_message=message,
        stack_trace=trace,
        user_phone=user.phone_number if user else phone,
        task_id=task.id if task else None,
        metadata_=details,
    )
    db.session.add(error)
    return error
