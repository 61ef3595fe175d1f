"""Telling people about errors: a log line for every ErrorLog, and a page (log line at
CRITICAL plus the alert webhook when configured) for the critical ones. A texter waiting
for a person is announced the same way, at WARNING (staff should look, nobody is paged).

Both happen after the transaction that recorded the error commits: an error row that is
rolled back never happened, so it must not page anyone.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
import urllib.request

from flask import Flask, current_app, has_app_context
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from ..extensions import listen_on_every_session
from ..models import CRITICAL_ERROR_TYPES, ConversationState, ErrorLog, User
from ..phones import mask

log = logging.getLogger("sms_agent.alerts")
#: Every recorded error gets a line here; only critical ones reach the alerts logger.
errors_log = logging.getLogger("sms_agent.error_log")

_PENDING = "alerts_pending"


def alert_critical_error(error: ErrorLog) -> None:
    """Page a human about a database_error or system_error.

    The webhook is posted from a short-lived thread so a slow alerting endpoint never holds
    up the request or job that hit the error.
    """
    log.critical("ALERT %s (%s): %s", error.error_type, mask(error.user_phone), error.error_message)
    _post_in_background(
        {
            "error_type": error.error_type,
            "message": error.error_message[:500],
            "user": mask(error.user_phone),
        }
    )


def alert_handoff(phone: str, source: str | None) -> None:
    """Tell staff a texter waits for a person (the admin's inbox badge shows it too)."""
    log.warning("HANDOFF %s asked for a person (%s)", mask(phone), source)
    _post_in_background(
        {
            "event": "handoff_requested",
            "message": f"A texter asked for a person ({source or 'keyword'}).",
            "user": mask(phone),
            "source": source,
        }
    )


def _post_in_background(payload: dict) -> None:
    url = current_app.config.get("ALERT_WEBHOOK_URL") if has_app_context() else None
    if url:
        threading.Thread(target=_post, args=(url, payload), daemon=True).start()


def alert_after_commit(kind: str, message: str, **details) -> None:
    """Page a human (log at CRITICAL, the alert webhook) about something other than an
    error row, once the current transaction commits: a rolled back decision pages no one."""
    from ..extensions import db

    db.session.info.setdefault(_PENDING, []).append({"kind": kind, "message": message, **details})


def _page(alert: dict) -> None:
    log.critical("ALERT %s: %s", alert["kind"], alert["message"])
    url = current_app.config.get("ALERT_WEBHOOK_URL") if has_app_context() else None
    if url:
        payload = {"error_type": alert["kind"], **alert}
        threading.Thread(target=_post, args=(url, payload), daemon=True).start()


def _post(url: str, payload: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except OSError as exc:
        # Only where it went: a chat webhook's path (Slack's /services/T.../B.../...) is its
        # password, and the logs are read by more people than the settings.
        parts = urllib.parse.urlsplit(url)
        where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        log.warning("alert webhook %s failed: %s", where, exc)


def _collect(session: Session, _context) -> None:
    """Note the error rows this flush wrote, as plain values: the rows themselves may be
    expired or detached by the time the commit is over."""
    pending = session.info.setdefault(_PENDING, [])
    for obj in session.new:
        if isinstance(obj, ErrorLog):
            pending.append(
                ErrorLog(
                    error_type=obj.error_type,
                    error_message=obj.error_message or "",
                    user_phone=obj.user_phone,
                )
            )
    for obj in session.dirty:
        if isinstance(obj, User) and _became_waiting(obj):
            pending.append((obj.phone_number, _handoff_source(session, obj.phone_number)))


def _became_waiting(user: User) -> bool:
    history = inspect(user).attrs.conversation_state.history
    return bool(history.added) and history.added[0] == ConversationState.WAITING


def _handoff_source(session: Session, phone: str) -> str | None:
    """The source request_human recorded in this same transaction (no query)."""
    from ..models import Conversation

    key = session.identity_key(Conversation, phone)
    conversation = session.identity_map.get(key)
    return conversation.handoff_source if conversation is not None else None


def _announce(session: Session) -> None:
    for error in session.info.pop(_PENDING, []):
        if isinstance(error, tuple):
            alert_handoff(*error)
            continue
        if isinstance(error, dict):
            _page(error)
            continue
        errors_log.error(
            "%s for %s: %s", error.error_type, mask(error.user_phone), error.error_message[:200]
        )
        if error.error_type in CRITICAL_ERROR_TYPES:
            alert_critical_error(error)


def _discard(session: Session) -> None:
    session.info.pop(_PENDING, None)


def init_app(_app: Flask) -> None:
    """Watch every ORM session for committed error rows (registered once per process)."""
    listen_on_every_session(after_flush=_collect, after_commit=_announce, after_rollback=_discard)
