"""/api/tasks/: texters' requests, created through the API as if texted, and their analytics."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .. import analytics, handoff, limits, outbound, quota
from ..extensions import db
from ..inbound.form import longest_body
from ..models import (
    Channel,
    RefusalReason,
    SentSubmission,
    Task,
    TaskStatus,
    User,
    lock_texter,
    utcnow,
)
from ..models.tasks import (
    answer_conflict,
    lock_task,
    outcome_conflict,
    refusal_conflict,
)
from ..service_metadata import (
    KEPT_BY_THE_SERVICE,
    TEXTER_METADATA,
    changed_service_keys,
    with_service_metadata,
)
from . import bp
from .auth import (
    current_principal,
    forbid_fields,
    owns,
    scope_to_caller,
    sees_staff_details,
    staff_only,
)
from .errors import (
    ApiError,
    conflict,
    country_not_allowed,
    daily_cap_reached,
    field_errors,
    inactive,
    key_reused,
    not_found,
    opted_out,
    outside_window,
    quota_exceeded,
    sender_rate_exceeded,
    spend_cap_reached,
)
from .etags import require_unchanged
from .filters import TASK_ORDERING, TaskFilterQuery, TaskQuery, ordering, task_conditions
from .list_statements import kept_statement
from .operations import operation
from .pagination import paginate
from .requests import IDEMPOTENCY_KEY_PARAMETER, idempotency_key, load_body, load_query
from .schemas import TaskAnalyticsOut, TaskCreateIn, TaskOut, TaskUpdateIn, kept

#: What a texter may change on their own tasks. Outcomes are recorded only by the service,
#: and so is the metadata: what the texter was sent (their context), what MORE sends next
#: (never counted against the quota), the model's figures.
TEXTER_FIELDS = {"category"}
TASK_PATH = "/tasks/<uuid:task_id>/"
TASK_FILTERS = frozenset(TaskFilterQuery._declared_fields)


def get_task_or_404(task_id: uuid.UUID, *, locked: bool = False) -> Task:
    """The task at this URL; `locked` (models.lock_task) for a change checked against it."""
    task = lock_task(task_id) if locked else db.session.get(Task, task_id)
    if task is None or not owns(task.user_phone):
        raise not_found("task")
    return task


def _dump(tasks) -> list[dict]:
    """The tasks as the caller may see them: a texter's token (sees_staff_details) reads
    neither the service's diagnosis of a failure, only that the task failed, nor the answer
    the AI wrote before staff took the conversation over, which is kept for staff and never
    sent (the AI stays out of a conversation staff hold), nor the service's own records in
    its metadata (TEXTER_METADATA)."""
    dumped = kept(TaskOut, many=True).dump(tasks)
    if not sees_staff_details():
        for task in dumped:
            task["error_message"] = None
            meta = task["metadata"]
            task["metadata"] = {key: value for key, value in meta.items() if key in TEXTER_METADATA}
            if task["refusal_reason"] == RefusalReason.HELD_FOR_STAFF.value:
                task["ai_response"] = None
    return dumped


@bp.get("/tasks/")
@operation("tasks", query=TaskQuery, response=TaskOut, paginated=True)
def list_tasks():
    """List tasks, newest first; texters' tokens see only their own."""
    query = load_query(kept(TaskQuery))
    scope = scope_to_caller(Task.user_phone)
    order = ordering(query, [TASK_ORDERING["created_at"].desc()], Task.id)
    statement = kept_statement(
        lambda: sa.select(Task).where(*task_conditions(query), *scope).order_by(*order)
    )
    # Staff's count comes from the rollups when the filters allow: no COUNT over the table.
    count = None if scope else analytics.task_count(_filters(query))
    return paginate(statement, query, _dump, count=count, order=order)


def _filters(query: dict) -> dict:
    """The task filters of a list query, without paging and ordering."""
    return {name: value for name, value in query.items() if name in TASK_FILTERS}


def _task_owner(data: dict) -> User:
    """The user a new task is for, refusing those who could not text it in either, and
    those its answer could never reach."""
    principal = current_principal()
    phone = data.get("user_phone")
    if principal.is_texter:
        phone = phone or principal.user_phone
    if phone is None:
        raise field_errors({"user_phone": ["Missing data for required field."]})
    # Locked until the commit, as a texted request's texter is: requests for one texter
    # take turns, so each sees the ones before it still being answered (the spend cap
    # counts them, limits.spend_cap_reached), instead of all passing it at once.
    user = lock_texter(phone) if owns(phone) else None
    if user is None:
        raise _no_such_user(phone)
    if not user.is_active:
        raise inactive(f"Not created: {handoff.InactiveTexter()}.")
    _refuse_unreachable(user)
    return user


def _refuse_too_long(user: User, text: str) -> None:
    """A task is as long as a text on the texter's channel may be (the webhook's rule): a
    WhatsApp texter's 4,096 characters were refused past an SMS's 1,600."""
    longest = longest_body(user.channel)
    if len(text) > longest:
        on = "WhatsApp" if user.channel == Channel.WHATSAPP else "an SMS"
        raise field_errors(
            {"sms_content": [f"At most {longest:,} characters, as one text on {on} may be."]}
        )


def _refuse_unreachable(user: User) -> None:
    """No task for a texter whose answer could never be sent: it was created (201), then
    finished unsent by the worker, and the caller learned it only by polling. Refused as
    send_message/ refuses them."""
    try:
        outbound.check_reachable(user)
    except outbound.CountryNotAllowed as exc:
        raise country_not_allowed(exc) from None
    except outbound.OutsideWindow as exc:
        raise outside_window(user, f"Not created: {exc}, so no answer could reach them.") from None
    except outbound.OptedOut:
        raise opted_out() from None


def _no_such_user(phone: str) -> ApiError:
    return field_errors({"user_phone": [f"No user with phone number {phone}."]})


def _hold_for_staff(user: User, data: dict) -> Task:
    """Staff have (or were asked for) the conversation: like a text, the request is stored
    for them, refused `held_for_staff`, neither counted nor sent to the model."""
    task = Task(
        user=user,
        sms_content=data["sms_content"],
        status=TaskStatus.REFUSED.value,
        refusal_reason=RefusalReason.HELD_FOR_STAFF.value,
    )
    if "category" in data:
        task.give_category(data["category"])
    db.session.add(task)
    handoff.hold_text(user)
    db.session.flush()
    return task


def _claim_key(user: User, data: dict) -> SentSubmission | None:
    """The request's Idempotency-Key, claimed under the texter's lock (None without one):
    409 `already_created` naming the task if it created one before, 422 if it was sent
    with another task. The caller's own (a staff member's, or the texter's), as on
    send_message/; forgotten with the request if it creates nothing (a 429)."""
    key = idempotency_key()
    if key is None:
        return None
    principal = current_principal()
    who = "texter" if principal.is_texter else principal.staff_id
    asked = handoff.fingerprint(json.dumps([data["sms_content"], data.get("category")]))
    try:
        return handoff.claim(user, f"api-task:{who}:{key}", asked)
    except handoff.AlreadySent as exc:
        raise conflict(
            "Already created: a request with this Idempotency-Key created a task before.",
            reason="already_created",
            id=None if exc.task_id is None else str(exc.task_id),
        ) from None
    except handoff.KeyReused:
        raise key_reused("task") from None


def _committed(task: Task, claimed: SentSubmission | None = None) -> dict:
    """Commit a new task and return it as created, dumped before the commit: a deletion of
    its texter committing right after takes the task along, and reading it back failed.
    The request's key (`claimed`) is committed with it, naming it."""
    db.session.flush()
    if claimed is not None:
        claimed.task_id = task.id
    created = _dump([task])[0]
    db.session.commit()
    return created


def _not_admitted(user: User, reason: RefusalReason) -> ApiError:
    """429 for everyone (a texter's token and staff alike): the request was not admitted."""
    now = utcnow()
    if reason is RefusalReason.OVER_QUOTA:
        # The running window's end: a tier with no requests is refused past an ended one too.
        return quota_exceeded(quota.window_end(user, now), quota.monthly_limit(user.tier), now)
    if reason is RefusalReason.OVER_SPEND:
        return spend_cap_reached(limits.spend_cap_lifts(now), now)
    if reason is RefusalReason.DAILY_CAP:
        return daily_cap_reached(limits.daily_cap_lifts(now), now)
    return sender_rate_exceeded(limits.sender_rate_lifts(user, now), now)


@bp.post("/tasks/")
@operation(
    "tasks",
    body=TaskCreateIn,
    response=TaskOut,
    status=201,
    errors=(403, 409, 422),
    headers=(IDEMPOTENCY_KEY_PARAMETER,),
)
def create_task():
    """Create a task as if the user had texted it; it is queued and answered by SMS.

    It is admitted like a texted request (sender rate, spend caps, then the monthly quota;
    429 with the reason when refused; a refused one counts against nothing, the texter's
    sender rate included). The quota's 429 gives its reset date
    (`details.rate_limit_reset`), the monthly spend cap's the start of the next UTC month,
    when it lifts (`details.spend_cap_lifts`), the daily spend cap's the next midnight UTC
    (`details.daily_cap_lifts`; null with no Retry-After when DAILY_SPEND_CAP is 0, which
    lifts only when staff raise it), the sender rate's when its window resets
    (`details.sender_rate_lifts`), each with `Retry-After` in seconds. While
    staff have or were asked for the conversation it is stored for them instead (`status`
    refused, `refusal_reason` held_for_staff). A texter no answer could reach gets no task,
    as on send_message/: 409 if they texted STOP (`opted_out`), if their account is inactive
    (`inactive`: staff reactivate them first), or use WhatsApp and have not
    written within its window, WHATSAPP_WINDOW_HOURS (`whatsapp_window_closed`, with
    `last_message_at` and `window_closed_at`); 403 if their number is outside
    ALLOWED_COUNTRIES (`country`, `allowed_countries`). A texter's token creates tasks for
    its own number. With an Idempotency-Key header, a repeat of a request that created a task
    creates nothing and answers 409 (`already_created`, with the task's `id`), so a client
    may retry after a timeout; the same key with another task is a 422 (`key_reused`).
    """
    from ..jobs import enqueue_answer

    data = load_body(kept(TaskCreateIn))
    user = _task_owner(data)
    _refuse_too_long(user, data["sms_content"])
    phone = user.phone_number
    claimed = _claim_key(user, data)
    if handoff.is_held(user):
        try:
            task = _hold_for_staff(user, data)
        except IntegrityError:
            # Deleted since we read it (nothing locks a texter whose text is only stored).
            db.session.rollback()
            raise _no_such_user(phone) from None
        return _committed(task, claimed), 201
    admission = limits.admit(user, count_refused=False)
    if admission.refusal is not None:
        db.session.rollback()
        if db.session.get(User, phone) is None:
            # Deleted since we read it (the quota's UPDATE found no row to count in).
            raise _no_such_user(phone)
        if admission.refusal is not RefusalReason.RATE_LIMITED:  # the day's cap was checked
            limits.alert_daily_cap(user)
            db.session.commit()
        raise _not_admitted(user, admission.refusal)
    task = Task(
        user=user,
        sms_content=data["sms_content"],
        status=TaskStatus.QUEUED.value,
        quota_window=admission.window,
    )
    if "category" in data:
        task.give_category(data["category"])
    db.session.add(task)
    created = _committed(task, claimed)
    # Only after the commit: the worker must find the row it is asked to answer.
    enqueue_answer(created["id"])
    return created, 201


@bp.get(TASK_PATH)
@operation("tasks", response=TaskOut)
def get_task(task_id: uuid.UUID):
    """One task."""
    return _dump([get_task_or_404(task_id)])[0]


@bp.patch(TASK_PATH)
@operation("tasks", body=TaskUpdateIn, response=TaskOut)
def update_task(task_id: uuid.UUID):
    """Change some of a task's fields; texters may change only the category of their own.

    `success` and `status` must agree once changed: only a completed task is successful
    (400 otherwise, e.g. success true with status failed). A completed task needs an
    answer: one completed, or left completed, with `ai_response` null or blank is a 400.
    A refused text stays refused (400): only the service refuses one, when it arrives.
    `metadata` is replaced whole, but for the keys the service reads back (`sent`, `more`,
    `more_channel`, `our_number`, `replying_to`, `media`, `question`, `category_given`, ...),
    kept as stored: leave them out, or send them unchanged (400 naming them otherwise).
    """
    task = get_task_or_404(task_id, locked=True)
    schema = kept(TaskUpdateIn)
    data = load_body(schema, partial=True)
    forbid_fields(data, TEXTER_FIELDS, schema)
    require_unchanged(task, _dump)
    _refuse_conflicts(task, data)
    category = data.pop("category", None)
    if "metadata_" in data:
        data["metadata_"] = _with_service_metadata(task, data["metadata_"])
    for name, value in data.items():
        setattr(task, name, value)
    if "status" in data:
        task.date_the_outcome()
    if category is not None:
        task.give_category(category)
    db.session.commit()
    return _dump([task])[0]


def _with_service_metadata(task: Task, given: dict) -> dict:
    """The metadata a PATCH gives, with the service's own keys (SERVICE_METADATA) as stored;
    400 naming those it would change."""
    changed = changed_service_keys(task.metadata_, given)
    if changed:
        raise field_errors({"metadata": {key: [KEPT_BY_THE_SERVICE] for key in changed}})
    return with_service_metadata(task.metadata_, given)


def _refuse_conflicts(task: Task, data: dict) -> None:
    """400 naming the field, for a change the admin refuses too (models/tasks.py's rules):
    out of or into refused, successful but not completed, completed without an answer."""
    status = data.get("status", task.status)
    if "status" in data and (conflict := refusal_conflict(task.status, status)):
        raise field_errors({"status": [conflict]})
    if {"status", "success"} & data.keys():
        if conflict := outcome_conflict(status, data.get("success", task.success)):
            raise field_errors({"success": [conflict]})
    if {"status", "ai_response"} & data.keys():
        if conflict := answer_conflict(status, data.get("ai_response", task.ai_response)):
            raise field_errors({"ai_response": [conflict]})


@bp.delete(TASK_PATH)
@operation("tasks", status=204)
@staff_only
def delete_task(task_id: uuid.UUID):
    """Delete a task (staff only: what a texter sent stays on record for staff, texts held
    for them included)."""
    task = get_task_or_404(task_id)
    require_unchanged(task, _dump)
    db.session.delete(task)
    db.session.commit()
    return "", 204


@bp.get("/tasks/analytics/")
@operation("tasks", query=TaskFilterQuery, response=TaskAnalyticsOut)
def tasks_analytics():
    """Totals, averages, categories and the last 30 days, for the tasks the filters select."""
    query = load_query(kept(TaskFilterQuery))
    scope = scope_to_caller(Task.user_phone)
    return kept(TaskAnalyticsOut).dump(
        {
            **analytics.task_analytics(query, scope=scope),
            "spend": analytics.task_spend(query, scope=scope),
        }
    )
