"""Flask extensions, created unbound here and bound to each app in create_app."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def tune_sqlite(dbapi_connection, _record) -> None:
    """WAL and a busy timeout let the web and worker processes share one SQLite file;
    foreign keys are off by default in SQLite and the cascades need them."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def listen_on_every_session(**listeners) -> None:
    """Register session event listeners (after_commit=fn, ...) once per process: the factory
    calls this for each app it builds, and tests build many."""
    _listen_once(Session, listeners)


def listen_on_every_connection(**listeners) -> None:
    """The same for new database connections (connect=fn)."""
    _listen_once(Engine, listeners)


def _listen_once(target, listeners: dict) -> None:
    for name, listener in listeners.items():
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
