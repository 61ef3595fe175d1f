"""Log setup: readable text in development, one JSON object per line in production.

Every line carries the id of the HTTP request (X-Request-ID, honoured or generated and echoed
back) or of the Celery job it belongs to, so one message can be followed from the webhook to
the reply. Phone numbers are masked on the way out as a safety net behind phones.mask: a
number that slips into a log message, or into a URL in gunicorn's access line, still shows
only its last four digits.
"""

from __future__ import annotations

import functools
import json
import logging
import logging.handlers
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Mapping

from celery._state import get_current_task
from celery.signals import setup_logging
from flask import Flask, has_request_context
from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter

from ..clean_text import on_one_line
from ..current import app_globals, this_request
from ..phones import mask

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")
# Ids from a proxy or client are echoed into logs and headers, so only plain tokens pass.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# E.164 numbers, optionally behind "whatsapp:" or "tel:"; not digits inside longer tokens.
_PHONE_NUMBER = re.compile(r"(?<![\w*])\+\d{7,15}(?!\d)")
# A number in a URL: its "+" may be URL-encoded, or left out (the API takes any notation), so
# any run of 7 to 15 digits that fills a path segment or a query value is one.
_PHONE_NUMBER_IN_URL = re.compile(r"(?<![^/=:,])(?:\+|%2[Bb])?\d{7,15}(?=[/?&#,\s]|$)")
#: gunicorn's access-line atoms that carry the URL (request line, path, query, referer).
_URL_ATOMS = ("r", "U", "q", "f")

# The vendor SDKs log each HTTP request at INFO (Twilio's client about ten lines per SMS, its
# headers one by one); our own lines say what was sent, so theirs show from WARNING, or all
# of them when LOG_LEVEL is DEBUG.
CHATTY_LIBRARY_LOGGERS = ("twilio.http_client", "httpx2", "httpx")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s%(job_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s"


def mask_phone_numbers(text: str) -> str:
    if "+" not in text:  # every number the pattern finds starts with one; most lines lack it
        return text
    return _PHONE_NUMBER.sub(lambda match: mask(match.group(0)), text)


def mask_phone_numbers_in_url(text: str) -> str:
    return _PHONE_NUMBER_IN_URL.sub(lambda match: mask(match.group(0)), text)


def mask_url(text: str) -> str:
    """A URL as logged: its phone numbers masked, and any API key a client sent in it (the
    API refuses one there with a 401, but the line was written) cut to the characters the
    admin shows, enough to find and revoke it, too few to use."""
    return _api_key_in_url().sub(r"\1***", mask_phone_numbers_in_url(text))


@functools.cache
def _api_key_in_url() -> re.Pattern:
    """An API key sent in a URL by mistake (?token=...), its part the admin shows captured.
    Built when first needed, not when this module loads: the logging is set up before the
    models are imported, and importing them from here reordered the app's start-up so that
    every webhook cost 0.1 M instructions more (python -m bench.instructions)."""
    from ..models.staff import ApiToken

    shown = ApiToken.SHOWN_CHARACTERS - len(ApiToken.KEY_PREFIX)
    return re.compile(f"({re.escape(ApiToken.KEY_PREFIX)}[A-Za-z0-9_-]{{{shown}}})[A-Za-z0-9_-]+")


class Occasional:
    """A warning said at most once every `seconds` in a process, for a line anyone can
    cause (a badly signed webhook): a flood would fill the logs and bury the lines that
    matter. The ones held back are counted and the next line said says how many (a metric,
    or the access log, still counts each one)."""

    def __init__(self, logger: logging.Logger, seconds: float = 60.0) -> None:
        self.logger = logger
        self.seconds = seconds
        self._lock = threading.Lock()
        self._said_at: float | None = None
        self._held = 0

    def warning(self, message: str, *args) -> None:
        now = time.monotonic()
        with self._lock:
            if self._said_at is not None and now - self._said_at < self.seconds:
                self._held += 1
                return
            held, since, self._held, self._said_at = self._held, self._said_at, 0, now
        if held:
            message += f" (and {held} more in the last {now - since:.0f}s)"
        self.logger.warning(message, *args)


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, with the numbers in an access line's URL masked like the app's
    (GET /api/users/%2B15551230300/ is logged as GET /api/users/***0300/).
    gunicorn.conf.py names it as `logger_class`, for the text and JSON formats alike.

    An access line's atoms are worked out as its format asks for them (`AccessAtoms`):
    gunicorn builds all of them for every request, each header and environ entry too, and
    escapes each one's quotes, for a line that reads six of them."""

    atoms_wrapper_class = staticmethod(lambda atoms: atoms)  # AccessAtoms escapes its own

    def atoms(self, resp, req, environ, request_time) -> Mapping:
        return AccessAtoms(self, resp, req, environ, request_time)

    def all_atoms(self, resp, req, environ, request_time) -> dict:
        """gunicorn's own atoms, every one of them, the URL's numbers masked."""
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _URL_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = mask_url(atoms[key])
        return atoms


class AccessAtoms(Mapping):
    """One access line's atoms, as gunicorn's SafeAtoms gives them (quotes escaped, a
    header's name in any case, "-" for one that is missing), each worked out when the
    format reads it. The atoms of the default line (gunicorn.conf.py) are read here from
    the request; any other comes from gunicorn's whole set, built once for the line."""

    def __init__(self, logger: GunicornLogger, resp, req, environ: dict, request_time) -> None:
        self._logger, self._resp, self._req = logger, resp, req
        self._environ, self._request_time = environ, request_time
        self._all: glogging.SafeAtoms | None = None

    def __getitem__(self, key: str):
        read = _READ_ATOMS.get(key)
        if read is None and key.startswith("{") and key.endswith("}o"):
            read = functools.partial(_response_header, name=key[1:-2].lower())
        if read is None:
            return self._every_atom()[key]
        value = read(self)
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def _every_atom(self) -> glogging.SafeAtoms:
        if self._all is None:
            self._all = glogging.SafeAtoms(
                self._logger.all_atoms(self._resp, self._req, self._environ, self._request_time)
            )
        return self._all

    def __bool__(self) -> bool:
        return True  # logging asks, to take the atoms as the format's mapping: not all of them

    def __iter__(self):
        return iter(self._every_atom())

    def __len__(self) -> int:
        return len(self._every_atom())


def _response_header(atoms: AccessAtoms, name: str) -> str:
    headers = atoms._resp.headers
    for key, value in headers.items() if hasattr(headers, "items") else headers:
        if key.lower() == name:
            return value
    return "-"


def _request_line(atoms: AccessAtoms) -> str:
    environ = atoms._environ
    line = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
    return mask_url(line)


def _status(atoms: AccessAtoms):
    status = atoms._resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


def _bytes_sent(atoms: AccessAtoms) -> str:
    sent = getattr(atoms._resp, "sent", None)
    return "-" if sent is None else str(sent)


def _milliseconds(atoms: AccessAtoms) -> int:
    taken = atoms._request_time
    return taken.seconds * 1000 + int(taken.microseconds / 1000)


#: The atoms the default access line reads, each as gunicorn's Logger.atoms works it out.
_READ_ATOMS = {
    "h": lambda atoms: atoms._environ.get("REMOTE_ADDR", "-"),
    "r": _request_line,
    "s": _status,
    "b": _bytes_sent,
    "M": _milliseconds,
}


def current_request_id() -> str | None:
    if has_request_context():
        return app_globals().get("request_id")
    return None


def current_job_id() -> str | None:
    """The id of the Celery job running in this thread, if any. Asked of Celery's task stack
    itself, which `celery.current_task` is a proxy of: through the proxy (and an import on
    every call) the question was a tenth of a log line's instructions."""
    job = get_current_task()
    return job.request.id if job else None


class ContextFilter(logging.Filter):
    """Adds request_id and job_id to every record and masks phone numbers in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "job_id"):
            return True  # tagged where it was logged; a WriterThread writes it elsewhere
        record.request_id = current_request_id() or ""
        record.job_id = current_job_id() or ""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed call; logging's own error report will show it
        masked = mask_phone_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        # Celery's job lines carry the job's args and kwargs as `data`, which a JSON line
        # writes out: a notice's job is given the texter's number.
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            record.data = {
                key: mask_phone_numbers(value) if isinstance(value, str) else value
                for key, value in data.items()
            }
        return True


class UrlNumbersFilter(logging.Filter):
    """Masks the phone numbers in the lines of a server we do not own the logger of: the
    development server's (werkzeug's) request lines, under `make run`, wrote
    GET /api/users/%2B15551230300/ in full where gunicorn's write ***0300."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        masked = mask_phone_numbers(mask_url(message))
        if masked != message:
            record.msg, record.args = masked, None
        return True


class OneLineFormatter(logging.Formatter):
    """One text line a record (clean_text.on_one_line): a line break inside a message (a
    staff member's reason for a tier change, a name) is written as \\n, an ESC or a
    direction override as its escape. A traceback still follows on lines of its own (JSON
    lines escape all of them anyway)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return on_one_line(super().formatMessage(record))


class JsonLines(JsonFormatter):
    """pythonjsonlogger's formatter writing the same lines with less work: one JSON encoder
    kept (json.dumps builds one per line from the same options), and the date and time of
    a second formatted once for all its lines (the milliseconds are still each line's)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._encoder = (self.json_encoder or json.JSONEncoder)(  # json.dumps's default
            default=self.json_default,
            indent=self.json_indent,
            ensure_ascii=self.json_ensure_ascii,
        )
        self._second: tuple[int, str] = (-1, "")

    def jsonify_log_record(self, log_data) -> str:
        return self._encoder.encode(log_data)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return self.default_msec_format % (text, record.msecs)


def build_handler(log_format: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonLines(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"})
        )
    else:
        handler.setFormatter(OneLineFormatter(TEXT_FORMAT))
    handler._sms_agent = True  # marks the handler this module owns, to replace it cleanly
    return handler


class WriterThread(logging.handlers.QueueHandler):
    """Hands each record to one thread that writes it through `target`.

    A worker runs up to WORKER_CONCURRENCY (256) jobs in threads under one GIL. A handler
    that writes holds its lock through the write, and then waits for the GIL again, often a
    whole switch interval (5 ms). The worker's threads queued on that lock, its event loop
    too (it logs every job it receives), and slots that jobs had freed stayed empty for
    seconds (`py-spy dump` during `make bench-e2e`: 66 of 229 threads waiting there, 146
    idle, the next jobs waiting in Redis). Putting a record on a queue takes no lock, and
    the records are written in the order they were logged.

    A forked child (Celery's prefork pool) has no writer thread and runs one job at a time:
    it writes through `target` itself. No fork happens in the middle of a write, which would
    leave the child a stream locked by a thread it does not have."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(queue.SimpleQueue())
        self.target = target
        self.addFilter(ContextFilter())  # in the logging thread, where the job's id is known
        self._pid = os.getpid()
        self._writing = threading.Lock()
        os.register_at_fork(
            before=self._writing.acquire,
            after_in_parent=self._writing.release,
            after_in_child=self._writing.release,
        )
        self._writer = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._writer.start()

    def createLock(self) -> None:
        self.lock = None  # a SimpleQueue takes records from any thread without one

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The message is made final here: its arguments may change once the caller goes
        on. The exception stays on the record, for the target's formatter."""
        record.msg, record.args = record.getMessage(), None
        return record

    def emit(self, record: logging.LogRecord) -> None:
        if os.getpid() != self._pid:
            self.target.handle(record)
        else:
            super().emit(record)

    def _write(self) -> None:
        while (item := self.queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()  # flush(): everything before it is written
            else:
                with self._writing:
                    self.target.handle(item)

    def flush(self) -> None:
        """Wait until every record logged so far is written."""
        if os.getpid() == self._pid and self._writer.is_alive():
            written = threading.Event()
            self.queue.put(written)
            written.wait(5)
        self.target.flush()

    def close(self) -> None:
        """At exit (logging.shutdown) or when replaced: write what is queued, then stop."""
        if os.getpid() == self._pid and self._writer.is_alive():
            self.queue.put(None)
            self._writer.join(5)
        super().close()


def configure_logging(app: Flask) -> None:
    """(Re)install our handler on the sms_agent logger and tag requests with an id."""
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    logger = logging.getLogger("sms_agent")
    logger.setLevel(level)
    for old in [h for h in logger.handlers if getattr(h, "_sms_agent", False)]:
        logger.removeHandler(old)
    logger.addHandler(build_handler(app.config["LOG_FORMAT"]))
    # No line of ours (nor gunicorn's, nor Celery's) shows where it was logged from, so
    # logging need not walk the stack to find out for every record (the logging HOWTO's
    # "Optimization": funcName, lineno and pathname are then left unknown).
    logging._srcfile = None
    library_level = level if level <= logging.DEBUG else max(level, logging.WARNING)
    for name in CHATTY_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    development_server = logging.getLogger("werkzeug")
    if not any(isinstance(f, UrlNumbersFilter) for f in development_server.filters):
        development_server.addFilter(UrlNumbersFilter())
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)


def _assign_request_id() -> None:
    """The proxy's id, when it sent a clean one, else 32 random hex digits (uuid4().hex
    built a uuid.UUID for them, 14,000 instructions a request more)."""
    # From the environ as request.headers finds it, which raises and catches a KeyError
    # when the header is missing (nearly always: Twilio sends none).
    incoming = this_request().environ.get(_REQUEST_ID_KEY, "")
    request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(16)
    app_globals().request_id = request_id


def _echo_request_id(response):
    request_id = app_globals().get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


@setup_logging.connect
def route_celery_logs(loglevel=None, **_kwargs) -> None:
    """In a Celery worker or beat, Celery's own lines (job received, retried, succeeded)
    go through our handler too, so the worker's whole output is one format. Connecting to
    this signal also stops Celery from installing handlers of its own. A WriterThread writes
    them, so no job waits for another's line to be written."""
    ours = logging.getLogger("sms_agent")
    root = logging.getLogger()
    for handler in [h for h in ours.handlers if getattr(h, "_sms_agent", False)]:
        ours.removeHandler(handler)
        root.addHandler(WriterThread(handler))
    root.setLevel(loglevel or logging.INFO)
