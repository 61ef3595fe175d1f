"""Flushing the commonest pending writes with Core statements instead of the ORM's unit of
work.

Every part a worker sends is committed before Twilio sees it (outbound/send.py), and the
first part of an answer is committed with the answer: the task's new columns, the model
call that was paid for, and the part. The ORM's flush of those three rows (finding the
pending objects, their history, the topological sort, the statements built for this set of
columns, the bookkeeping after) cost several times the three statements themselves: about a
fifth of a job's CPU. Here the same rows are written with the same statements, in the same
order (the task's UPDATE, then the new rows by table, each in the order it was added), by
statements built once, and the objects are then as a flush leaves them: persistent, their
history cleared. The session's flush events fire around the writes as in a flush, so the
metrics and alerts count the same rows.

Anything of another shape (a deletion, a texter's or staff member's change, a row whose
key or default only the database knows, a relationship whose row is not stored yet) is left
to the ORM's flush, as it always was.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .answered_once import check_stored, is_first_answer, only_unanswered
from .cache_keys import hashed_once
from .messages import OutboundMessage
from .sent_once import check_stored as check_part_stored
from .sent_once import insert_once as _insert_part_once
from .sent_once import is_sent_once
from .spend import ModelCall
from .tasks import Task

#: The rows written here when new, in the order a flush writes their tables.
_INSERTED = (OutboundMessage, ModelCall)
#: The rows whose column changes are written here, before any new row (which may follow
#: them), as a flush orders them.
_UPDATED = (Task,)
#: Collections whose only change may be the new rows written here (a part's backref).
_COLLECTIONS = {Task: frozenset({"outbound_messages"})}


def flush_plainly(session: Session) -> None:
    """Write what `session` has pending, as its flush would: with the statements below when
    every pending change is one they write, else through the ORM."""
    if not (session.new or session.dirty or session.deleted):
        return  # as a flush of a clean session: no statement, no event
    if not _of_written_kinds(session):
        session.flush()
        return
    with session.no_autoflush:  # as in a flush: reading an expired row must not flush
        session.dispatch.before_flush(session, None, None)
        writes = _writable(session)  # what is pending once the listeners have had their say
        if writes is None:
            session.flush()
            return
        updates, inserts = writes
        try:
            _write(session.connection(), updates, inserts)
        except BaseException:
            session.rollback()  # as a failed flush leaves nothing of this transaction
            raise
        session.dispatch.after_flush(session, None)  # before the history is cleared below
        for obj, values in inserts:
            _holding_what_was_written(obj, values)
        # The ORM's own bookkeeping after a flush (UOWTransaction.finalize_flush_changes):
        # identity keys, history cleared, and the rows marked as written in this
        # transaction, so that a rollback makes the new ones transient again (a paid model
        # call is then kept by costs.keep_paid_calls) and expires the changed ones.
        session._register_persistent({sa.inspect(obj) for obj, _values in updates + inserts})
        session.dispatch.after_flush_postexec(session, None)


def _write(connection: sa.Connection, updates: list, inserts: list) -> None:
    for obj, values in updates:
        if values:
            key = {"key_": sa.inspect(obj).identity[0]}
            once = is_first_answer(obj, values)
            update = _update(type(obj), frozenset(values), once)
            result = connection.execute(update, {**values, **key})
            if once:
                check_stored(obj, result.rowcount)
    for obj, values in inserts:
        if type(obj) is OutboundMessage and is_sent_once(obj):
            stored = connection.execute(_INSERT_PART_ONCE, values).first() is not None
            check_part_stored(obj, values, stored)
            continue
        connection.execute(_insert(type(obj)), values)


def _of_written_kinds(session: Session) -> bool:
    """Whether every pending row is of a kind written here (a first look, by class)."""
    return (
        not session.deleted
        and all(type(obj) in _INSERTED for obj in session.new)
        and all(type(obj) in _UPDATED for obj in session.dirty)
    )


def _writable(session: Session):
    """([(row, changed columns)], [(new row, its columns)]) when every pending change is
    one written here, else None."""
    if not _of_written_kinds(session):
        return None
    new = list(session.new)
    updates = []
    for obj in session.dirty:
        values = _changed_columns(obj, set(new))
        if values is None:
            return None
        updates.append((obj, values))
    inserts = []
    for cls in _INSERTED:
        for obj in _in_order_added(new, cls):
            values = _inserted_columns(obj)
            if values is None:
                return None
            inserts.append((obj, values))
    return updates, inserts


def _changed_columns(obj, new: set) -> dict | None:
    """The columns to write of a loaded row with pending changes, with the time of an
    `onupdate` column; None for a change of another kind."""
    cls = type(obj)
    state = sa.inspect(obj)
    if cls not in _UPDATED or state.key is None or state.deleted:
        return None
    mapper = state.mapper
    values = {}
    for key in state.committed_state:
        attribute = state.attrs[key]
        history = attribute.history
        if not history.has_changes():
            continue
        prop = mapper.get_property(key)
        if isinstance(prop, sa.orm.ColumnProperty):
            column = prop.columns[0]
            if column.primary_key or len(prop.columns) > 1:
                return None
            value = history.added[0] if history.added else None
            if isinstance(value, sa.ClauseElement):
                return None  # SQL to run (a counter's increment): the ORM writes it
            values[column.key] = value
        elif key in _COLLECTIONS.get(cls, ()) and not history.deleted:
            if not set(history.added) <= new:
                return None
        else:
            return None
    if values:
        for column in mapper.local_table.columns:
            if column.onupdate is not None and column.key not in values:
                if not column.onupdate.is_callable:
                    return None
                values[column.key] = column.onupdate.arg(None)
    return values


def _inserted_columns(obj) -> dict | None:
    """Every column of a new row, as the flush would write it: its value, else the
    foreign key of the row it refers to, else its Python default; None when only the
    database could tell (a server default alone, a referred row not stored yet)."""
    state = sa.inspect(obj)
    columns, references = _layout(type(obj))
    dict_ = state.dict
    referred = {}
    for key, pairs in references:
        if key not in dict_:
            continue
        other = dict_[key]
        if other is None:
            referred.update((local, None) for local, _position in pairs)
            continue
        identity = sa.inspect(other).identity  # read without loading an expired row
        if identity is None or any(position is None for _local, position in pairs):
            return None  # stored in this flush too, or referred to by another column
        referred.update((local, identity[position]) for local, position in pairs)
    values = {}
    for name, key, default in columns:
        if name in referred:
            values[name] = referred[name]
        elif key in dict_:
            if isinstance(dict_[key], sa.ClauseElement):
                return None
            values[name] = dict_[key]
        elif default is _UNKNOWN:
            return None
        else:
            values[name] = default() if callable(default) else default
    return values


#: A column whose value only the database knows when none is given (a server default).
_UNKNOWN = object()


@functools.cache
def _layout(cls) -> tuple[tuple, tuple]:
    """(each column's (name, attribute, default when unset), each many-to-one
    relationship's (attribute, ((foreign key column, its place in the referred row's
    primary key), ...))) of `cls`, worked out once."""
    mapper = sa.inspect(cls)
    columns = []
    for column in mapper.local_table.columns:
        key = mapper.get_property_by_column(column).key
        default = column.default
        if default is not None and not default.is_sequence and not default.is_clause_element:
            value = (lambda arg=default.arg: arg(None)) if default.is_callable else default.arg
        elif default is not None or column.server_default is not None:
            value = _UNKNOWN
        else:
            value = None
        columns.append((column.key, key, value))
    references = tuple(
        (
            relationship.key,
            tuple(
                (local.key, _position_in_key(relationship.mapper, remote))
                for local, remote in relationship.local_remote_pairs
            ),
        )
        for relationship in mapper.relationships
        if relationship.direction is sa.orm.MANYTOONE
    )
    return tuple(columns), references


def _in_order_added(new: list, cls) -> list:
    """The new rows of `cls` in the order they were added, as the flush inserts them."""
    rows = [obj for obj in new if type(obj) is cls]
    return sorted(rows, key=lambda obj: sa.inspect(obj).insert_order)


def _holding_what_was_written(obj, values: dict) -> None:
    """A new row's object holds what was written: its defaults and foreign keys too."""
    dict_ = sa.inspect(obj).dict
    for name, key, _default in _layout(type(obj))[0]:
        if key not in dict_ or dict_[key] is not values[name]:
            set_committed_value(obj, key, values[name])


def _position_in_key(mapper: sa.orm.Mapper, column: sa.Column) -> int | None:
    """Where `column` is in `mapper`'s primary key; None when it is not part of it."""
    for position, key_column in enumerate(mapper.primary_key):
        if key_column is column:
            return position
    return None


@functools.cache
def _update(cls, columns: frozenset[str], first_answer: bool = False) -> sa.Update:
    """The UPDATE of `columns`; of a task's first answer, only where it has none yet
    (answered_once.py)."""
    table = sa.inspect(cls).local_table
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("key_"))
        .values({name: sa.bindparam(name) for name in sorted(columns)})
    )
    return hashed_once(only_unanswered(update) if first_answer else update)


@functools.cache
def _insert(cls) -> sa.Insert:
    return hashed_once(sa.inspect(cls).local_table.insert())


#: A part of a task's answer, written only where no run wrote it first (sent_once.py).
_INSERT_PART_ONCE = hashed_once(_insert_part_once())
