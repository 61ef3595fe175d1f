"""Paging a human about critical errors: always a log line, and a webhook when configured."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

from flask import current_app, has_app_context

from .phones import mask

log = logging.getLogger("sms_agent.alerts")


def alert_critical_error(error) -> None:
    """Called when a database_error or system_error is recorded.

    The webhook is posted from a short-lived thread so a slow alerting endpoint never holds
    up the request or job that hit the error.
    """
    log.critical("ALERT %s (%s): %s", error.error_type, mask(error.user_phone), error.error_message)
    url = current_app.config.get("ALERT_WEBHOOK_URL") if has_app_context() else None
    if not url:
        return
    payload = {
        "error_type": error.error_type,
        "message": error.error_message[:500],
        "user": mask(error.user_phone),
    }
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
        log.warning("alert webhook %s failed: %s", url, exc)
