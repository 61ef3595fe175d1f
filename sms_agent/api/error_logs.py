"""/api/errors/: what went wrong while serving texters, for staff to triage and resolve."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import ErrorLog, Task, User
from . import bp
from .auth import staff_only
from .errors import field_errors, not_found
from .etags import require_unchanged
from .filters import ERROR_ORDERING, ErrorLogQuery, error_conditions, ordering
from .list_statements import kept_statement
from .operations import operation
from .pagination import paginate
from .requests import load_body, load_query
from .schemas import ErrorLogCreateIn, ErrorLogOut, ErrorLogUpdateIn, ResolveIn, kept

ERROR_PATH = "/errors/<uuid:error_id>/"


def get_error_or_404(error_id: uuid.UUID) -> ErrorLog:
    error = db.session.get(ErrorLog, error_id)
    if error is None:
        raise not_found("error log")
    return error


def _dump(errors) -> list[dict]:
    return kept(ErrorLogOut, many=True).dump(errors)


def _check_references(data: dict) -> None:
    """A user or task named must exist (the database would refuse it less politely), and a
    task named with a user must be theirs: an error filed under one texter about another's
    task shows on both texters' pages, each about the wrong person. A task named alone
    files the error under its texter: under nobody, `?user_phone=` would not list it, and
    deleting the texter would leave their number in it (models/forgetting.py)."""
    problems = {}
    phone, task = data.get("user_phone"), None
    if phone and db.session.get(User, phone) is None:
        problems["user_phone"] = [f"No user with phone number {phone}."]
    if data.get("task_id"):
        task = db.session.get(Task, data["task_id"])
        if task is None:
            problems["task_id"] = [f"No task {data['task_id']}."]
    if task is not None and phone and task.user_phone != phone:
        problems["task_id"] = [f"Task {task.id} is not from the user {phone}."]
    elif task is not None:
        data["user_phone"] = task.user_phone
    if problems:
        raise field_errors(problems)


@bp.get("/errors/")
@operation("errors", query=ErrorLogQuery, response=ErrorLogOut, paginated=True)
@staff_only
def list_errors():
    """List error logs, newest first."""
    query = load_query(kept(ErrorLogQuery))
    order = ordering(query, [ERROR_ORDERING["timestamp"].desc()], ErrorLog.id)
    statement = kept_statement(
        lambda: sa.select(ErrorLog).where(*error_conditions(query)).order_by(*order)
    )
    return paginate(statement, query, _dump, order=order)


@bp.post("/errors/")
@operation("errors", body=ErrorLogCreateIn, response=ErrorLogOut, status=201)
@staff_only
def create_error():
    """Record an error (critical types alert the on-call channel, as any new error does).

    A `task_id` without `user_phone` files it under the task's texter; with another
    texter's `user_phone` it is a 400.
    """
    data = load_body(kept(ErrorLogCreateIn))
    _check_references(data)
    error = ErrorLog(**data)
    db.session.add(error)
    try:
        db.session.flush()
    except IntegrityError:
        # The user or task named was deleted since _check_references saw it.
        db.session.rollback()
        _check_references(data)
        raise
    db.session.commit()
    return _dump([error])[0], 201


@bp.get(ERROR_PATH)
@operation("errors", response=ErrorLogOut)
@staff_only
def get_error(error_id: uuid.UUID):
    """One error log."""
    return _dump([get_error_or_404(error_id)])[0]


@bp.patch(ERROR_PATH)
@operation("errors", body=ErrorLogUpdateIn, response=ErrorLogOut)
@staff_only
def update_error(error_id: uuid.UUID):
    """Change some of an error log's fields."""
    error = get_error_or_404(error_id)
    data = load_body(kept(ErrorLogUpdateIn), partial=True)
    require_unchanged(error, _dump)
    for name, value in data.items():
        setattr(error, name, value)
    db.session.commit()
    return _dump([error])[0]


@bp.delete(ERROR_PATH)
@operation("errors", status=204)
@staff_only
def delete_error(error_id: uuid.UUID):
    """Delete an error log."""
    error = get_error_or_404(error_id)
    require_unchanged(error, _dump)
    db.session.delete(error)
    db.session.commit()
    return "", 204


@bp.patch(ERROR_PATH + "resolve/")
@operation("errors", body=ResolveIn, response=ErrorLogOut)
@staff_only
def resolve_error(error_id: uuid.UUID):
    """Mark an error resolved, with optional notes on what was done (without them, the
    notes it has stay)."""
    error = get_error_or_404(error_id)
    data = load_body(kept(ResolveIn))
    require_unchanged(error, _dump)
    error.resolve(data.get("resolution_notes"))
    db.session.commit()
    return _dump([error])[0]
