"""gunicorn workers that refuse what gunicorn refuses itself in the API's JSON error shape.

gunicorn reads the request line and the headers before the app sees anything, so a URL over
`limit_request_line`, too many or too large header fields, or a garbled request line never
reach Flask's error handlers: stock gunicorn answers them with an HTML page. These workers
keep gunicorn's statuses and log lines (gunicorn/workers/base.py, `handle_error`) and write
`{"error": "...", "details": {...}}` instead, the shape sms_agent/api/errors.py gives every
other error, so a client meets one error contract whichever layer refused it. They use
nothing of the app: the arbiter loads them before any app exists.

gunicorn parses a chunked request body only as the app reads it, so a malformed one raises
gunicorn's parse errors inside the app, which would answer them as its own 500: the workers
hand the app a body that raises werkzeug's 400 instead (ReadableBody).

gunicorn.conf.py picks one by name. Neither name ends in "SyncWorker": gunicorn silently
swaps a worker class named so for its stock threaded worker when threads > 1.
"""

from __future__ import annotations

import json
import logging
import ssl
from datetime import datetime
from typing import Any, NamedTuple

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker
from werkzeug.exceptions import BadRequest

from .ops.logs import Occasional

#: How much of gunicorn's own description of a malformed request goes back to the client.
REASON_LENGTH = 200

#: gunicorn's WARNING for a request it refused, said at most once a minute: anyone can send
#: garbled requests, and one line each filled the logs (the access log still has each).
refusal_log = Occasional(logging.getLogger("gunicorn.error"))


class Refusal(NamedTuple):
    status: int
    phrase: str
    message: str


SERVER_ERROR = Refusal(500, "Internal Server Error", "Internal server error.")
#: First match wins; the statuses are gunicorn's own, and any other parse error is the client's.
REFUSALS: list[tuple[type[BaseException] | tuple[type[BaseException], ...], Refusal]] = [
    # A response header the app got wrong is the app's fault (a subclass of InvalidHeader).
    ((errors.InvalidResponseHeader, errors.InvalidResponseHeaderName), SERVER_ERROR),
    (errors.ConfigurationProblem, SERVER_ERROR),
    (errors.LimitRequestLine, Refusal(414, "URI Too Long", "Request line too long.")),
    (
        errors.LimitRequestHeaders,
        Refusal(431, "Request Header Fields Too Large", "Request header fields too large."),
    ),
    (errors.ExpectationFailed, Refusal(417, "Expectation Failed", "Unsupported Expect header.")),
    (
        errors.UnsupportedTransferCoding,
        Refusal(501, "Not Implemented", "Unsupported transfer coding."),
    ),
    ((errors.ForbiddenProxyRequest, ssl.SSLError), Refusal(403, "Forbidden", "Request forbidden.")),
    (errors.ParseException, Refusal(400, "Bad Request", "Malformed request.")),
]


def refusal_for(exc: BaseException) -> Refusal:
    for kinds, refusal in REFUSALS:
        if isinstance(exc, kinds):
            return refusal
    return SERVER_ERROR


def refusal_details(refusal: Refusal, exc: BaseException, cfg) -> dict[str, Any]:
    """The limit a client went over, or what was wrong with its request."""
    if refusal.status == 414:
        return {"max_request_line": cfg.limit_request_line}
    if refusal.status == 431:
        return {
            "max_header_fields": cfg.limit_request_fields,
            "max_header_field_size": cfg.limit_request_field_size,
        }
    if refusal.status >= 500:
        return {}
    return {"reason": str(exc)[:REASON_LENGTH]}


def json_body(refusal: Refusal, details: dict[str, Any]) -> bytes:
    return json.dumps({"error": refusal.message, "details": details}).encode()


def http_response(refusal: Refusal, body: bytes) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, as gunicorn's HTML one does."""
    head = (
        f"HTTP/1.1 {refusal.status} {refusal.phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ReadableBody:
    """gunicorn's request body (wsgi.input) for the app: a malformed chunked encoding, found
    as the app reads it, is the client's 400 (werkzeug's BadRequest, which the API answers
    in its JSON shape), and the connection is closed after the answer, as gunicorn closes it
    after its own refusals: the rest of the body cannot be told from a next request."""

    def __init__(self, body) -> None:
        self._body = body

    def read(self, size=None) -> bytes:
        return self._guarded(self._body.read, size)

    def readline(self, size=None) -> bytes:
        return self._guarded(self._body.readline, size)

    def readlines(self, size=None) -> list[bytes]:
        return self._guarded(self._body.readlines, size)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return self._guarded(self._body.__next__)

    def _guarded(self, read, *args):
        try:
            return read(*args)
        except errors.ParseException as exc:
            request = getattr(getattr(self._body, "reader", None), "req", None)
            if request is not None:
                request.must_close = True
            raise BadRequest(f"Malformed request body: {exc}"[:REASON_LENGTH]) from None


class JsonRefusals:
    """Mixed into a gunicorn worker: its `handle_error` answers with a `json_body`, and the
    app reads request bodies through ReadableBody."""

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = self.wsgi

        def readable_bodies(environ, start_response):
            environ["wsgi.input"] = ReadableBody(environ["wsgi.input"])
            return app(environ, start_response)

        self.wsgi = readable_bodies

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        addr = addr or ("", -1)  # a unix socket has no peer address
        refusal = refusal_for(exc)
        if refusal.status < 500:
            refusal_log.warning("Invalid request from ip=%s: %s", addr[0], exc)
            if req is None and isinstance(exc, errors.InvalidHeader):
                req = exc.req  # the request so far, for the access log
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        body = json_body(refusal, refusal_details(refusal, exc, self.cfg))
        if req is not None:
            self._log_refusal(req, client, addr, refusal, len(body), started)
        try:
            util.write_nonblock(client, http_response(refusal, body))
        except Exception:
            self.log.debug("Failed to send error message.")

    def _log_refusal(self, req, client, addr, refusal, length, started) -> None:
        environ = default_environ(req, client, self.cfg)
        environ["REMOTE_ADDR"] = addr[0]
        environ["REMOTE_PORT"] = str(addr[1])
        logged = Response(req, client, self.cfg)
        logged.status = f"{refusal.status} {refusal.phrase}"
        logged.sent = length
        self.log.access(logged, req, environ, datetime.now() - started)


class JsonErrorsThreaded(JsonRefusals, ThreadWorker):
    """gunicorn's gthread worker (WEB_THREADS > 1)."""


class JsonErrorsSingleThread(JsonRefusals, SyncWorker):
    """gunicorn's sync worker (WEB_THREADS = 1)."""
