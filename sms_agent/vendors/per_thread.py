"""Vendor clients kept between jobs, one per thread.

A client built per call opens a new connection for every model call and every SMS: against
api.openai.com and api.twilio.com that is a TCP and a TLS handshake each time. A client kept
in the worker thread reuses its connection. One per thread, not one per process, because
the Twilio SDK's requests session is not documented as thread-safe and a per-thread client
never needs a connection pool sized to the worker's concurrency.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Client = TypeVar("Client")


class PerThread(Generic[Client]):
    """This thread's client for the current settings. New settings (a test's stand-in on
    another port, say) close the old client first, so at most one per thread stays open."""

    def __init__(self, build: Callable[..., Client], close: Callable[[Client], None]) -> None:
        self._build = build
        self._close = close
        self._local = threading.local()

    def get(self, *settings: Hashable) -> Client:
        # A forked child (gunicorn, prefork) must not share its parent's sockets.
        key = (os.getpid(), settings)
        if getattr(self._local, "key", None) != key:
            self.forget()
            self._local.client = self._build(*settings)
            self._local.key = key
        return self._local.client

    def forget(self) -> None:
        """Close this thread's client (if this process opened it); the next get builds one."""
        client = getattr(self._local, "client", None)
        key = getattr(self._local, "key", None)
        self._local.__dict__.clear()
        if client is not None and key is not None and key[0] == os.getpid():
            self._close(client)
