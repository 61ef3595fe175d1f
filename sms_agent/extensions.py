"""Flask extensions, created unbound here and bound to each app in create_app."""

import ipaddress
import select
from collections.abc import Iterator, Sequence
from types import SimpleNamespace

import psycopg
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as BoundSession
from flask_wtf import CSRFProtect
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

from config import ip_address


class Base(DeclarativeBase):
    pass


class OneEngineSession(BoundSession):
    """Flask-SQLAlchemy's session, which picks the engine for each statement by the bind key
    of the tables it names, asking for the current app's engines every time: four times a
    webhook, about 42,000 instructions. While no table is bound to another database (no
    `__bind_key__`), every statement goes to the app's default engine, which the session
    then finds once and keeps."""

    _engine: Engine | None = None

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is not None:
            return bind
        if self._engine is None:
            engines = self._db.engines
            if list(self._db.metadatas) != [None] or None not in engines:
                return super().get_bind(mapper, clause, bind, **kwargs)
            self._engine = engines[None]
        return self._engine


db = SQLAlchemy(model_class=Base, session_options={"class_": OneEngineSession})

#: The database could not serve a request for now: no pooled connection came free in time,
#: or the database refused, dropped or aborted one (down, restarting, too many clients, a
#: deadlock, SQLite's lock held too long). It passes: what met it is done again later.
DATABASE_BUSY = (exc.TimeoutError, exc.OperationalError)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


#: The IPv6 network one client has: a server or a home line gets a /64 (or more), and may
#: send from any of its 2**64 addresses.
IPV6_CLIENT_PREFIX = 64


def client_network() -> str:
    """Who a throttle counts by when the caller is known by nothing else (failed logins, an
    API caller without a token): the client's IPv4 address, or the /64 of its IPv6 one.
    Counted by address, an IPv6 client took a new one for every attempt, and no limit
    stopped it. An IPv4 address written as IPv6 (::ffff:192.0.2.1) is that IPv4 address."""
    address = get_remote_address()
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))


limiter = Limiter(key_func=client_network, default_limits=[])


def tune_sqlite(dbapi_connection, _record) -> None:
    """WAL and a busy timeout let the web and worker processes share one SQLite file;
    foreign keys are off by default in SQLite and the cascades need them. SQLite's own
    lower() changes only ASCII letters, so a search compared lower(column) with Python's
    lowercase term and never found "Élodie" (or "Иван"), even typed as stored: lower() is
    Python's, as PostgreSQL's lowers every letter."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _lower(value):
    return value.lower() if isinstance(value, str) else value


#: Where a pooled connection's record notes that a checkout has used it (cleared by the
#: pool when it makes a new connection for the record).
_USED = "sms_agent_used"


def drop_closed_connection(dbapi_connection, record, _proxy) -> None:
    """Checking out a pooled connection: one the server has closed (a restart, an idle
    timeout, pg_terminate_backend) is replaced before anyone uses it.

    An idle PostgreSQL connection has nothing to read; once the server closes it, its socket
    turns readable (the server's goodbye, then end of file). Polling the socket costs a
    system call where pool_pre_ping costs a round trip to the server on every checkout, and
    a job checks out a connection four times. Raising DisconnectionError is SQLAlchemy's way
    to have the pool discard the connection and open a fresh one.

    A connection made for this checkout and closed already (the server closing connections
    as fast as they are made: a failover, connections being terminated) is the database
    being away: an OperationalError, which every caller handles as such (DATABASE_BUSY).
    Refused with DisconnectionError, the pool gave up after its second try with an
    InvalidRequestError that nobody took for it: a webhook answered 500 and lost the text."""
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:  # SQLite: no server to lose
        return
    try:
        poller = select.poll()
        poller.register(fileno(), select.POLLIN)
        readable = bool(poller.poll(0))
    except Exception as error:  # psycopg's "the connection is closed", a bad descriptor
        raise exc.DisconnectionError(f"pooled connection unusable: {error}") from error
    if readable and record is not None and not record.info.get(_USED):
        closed = ConnectionError("the database closed a new connection at once")
        raise exc.OperationalError("checkout", None, closed)
    if readable:
        raise exc.DisconnectionError("the database closed this pooled connection")
    if record is not None:
        record.info[_USED] = True


class DescribedWhenRead(psycopg.Cursor):
    """psycopg's cursor, whose `description` builds its Column objects when they are read.

    SQLAlchemy asks for every result's description, and psycopg builds a Column for each
    column of the result there (a texter's row has two dozen), although a statement run
    before (every statement of a webhook or a job) reuses the column map SQLAlchemy made
    the first time and reads none of them: about 3% of a webhook's instructions. A result's
    columns are read later as they were: the description keeps the result it describes,
    not the cursor, which may have run another statement by then."""

    @property
    def description(self) -> Sequence[psycopg.Column] | None:
        result = self.pgresult
        if result is None or not result.nfields:
            return super().description  # None, or "SELECT ;"'s empty list
        # What psycopg.Column reads of its cursor, as it is now.
        described = SimpleNamespace(
            pgresult=result, _encoding=self._encoding, adapters=self.adapters
        )
        return _Description(described, result.nfields)


class _Description(Sequence):
    """A result's columns (DB-API 2's 7-item sequences), built on first use."""

    __slots__ = ("_cursor", "_count", "_columns")

    def __init__(self, cursor: SimpleNamespace, count: int) -> None:
        self._cursor, self._count = cursor, count
        self._columns: list[psycopg.Column] | None = None

    def _built(self) -> list[psycopg.Column]:
        if self._columns is None:
            self._columns = [psycopg.Column(self._cursor, i) for i in range(self._count)]
            self._cursor = None
        return self._columns

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        return self._built()[index]

    def __iter__(self) -> Iterator[psycopg.Column]:
        return iter(self._built())

    def __eq__(self, other) -> bool:
        return self._built() == other

    def __repr__(self) -> str:
        return repr(self._built())


def listen_on_every_session(**listeners) -> None:
    """Register session event listeners (after_commit=fn, ...) once per process: the factory
    calls this for each app it builds, and tests build many."""
    _listen_once(Session, listeners)


def listen_on_every_connection(**listeners) -> None:
    """The same for database connections (connect=fn when opened, checkout=fn when taken
    from the pool)."""
    _listen_once(Engine, listeners)


def _listen_once(target, listeners: dict) -> None:
    for name, listener in listeners.items():
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
