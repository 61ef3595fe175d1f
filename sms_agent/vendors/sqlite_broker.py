"""kombu's SQLAlchemy transport (the embedded SQLite broker), with acknowledgements.

kombu's own marks a message invisible when a worker takes it and never looks at it again:
acked or not, it stays invisible for ever. A worker that shut down cleanly puts a copy of
each unacked job back, but one killed (kill -9, the OOM killer, a power cut) took its jobs
with it: a STOP's confirmation, a HELP reply or a bulk notice waiting for its time was never
sent, with no row for the sweeper to find (tasks have theirs). And every job ever run stayed
in `instance/broker.sqlite`.

Here, as on Redis, a job taken is kept until it is acknowledged: an ack (or a reject that
does not requeue) deletes its row, a clean shutdown makes its row visible again, and a row
taken more than VISIBILITY_TIMEOUT ago without an ack (its worker died) is delivered again,
looked for at most once a minute by each consumer. The jobs are idempotent, so a job
delivered again while a live worker still holds it (one waiting longer than that for its
time) is sent once. kombu stamps a row with the local time whenever it is updated
(`timestamp`), so a row taken says when it was taken.
"""

from __future__ import annotations

import datetime
import time

import sqlalchemy as sa
from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport.virtual import Empty
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from ..worker import VISIBILITY_TIMEOUT

#: Where a message carries the id of its row while a worker holds it.
ROW = "sqla_row"
#: The `version` of a row this transport took. Rows kombu's own transport took (an older
#: release's broker.sqlite) say nothing of whether they ran: acked or not, it never looked
#: at them again, and a row of months ago delivered again could text a texter a notice they
#: got long ago, so those are dropped, never delivered again.
TAKEN = -1
#: Seconds between a consumer's looks for rows whose worker died.
RESTORE_EVERY = 60.0


class Channel(kombu_sqla.Channel):
    _restored_at = float("-inf")

    def _get(self, queue):
        self._restore_abandoned()
        obj = self._get_or_create(queue)
        if self.session.bind.name == "sqlite":
            self.session.execute(sa.text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            msg = (
                self.session.query(self.message_cls)
                .with_for_update()
                .filter(self.message_cls.queue_id == obj.id)
                .filter(self.message_cls.visible != False)  # noqa: E712 (kombu's column)
                .order_by(self.message_cls.sent_at)
                .order_by(self.message_cls.id)
                .limit(1)
                .first()
            )
            if msg is None:
                raise Empty()
            table = self.message_cls.__table__
            self.session.execute(  # and `timestamp` becomes now: when it was taken
                sa.update(table).where(table.c.id == msg.id).values(visible=False, version=TAKEN)
            )
            payload = loads(bytes_to_str(msg.payload))
            payload["properties"][ROW] = msg.id
            return payload
        finally:
            self.session.commit()

    def basic_ack(self, delivery_tag, multiple=False):
        self._delete(delivery_tag)
        super().basic_ack(delivery_tag, multiple)

    def basic_reject(self, delivery_tag, requeue=False):
        if not requeue:  # requeued, _restore makes its row visible again
            self._delete(delivery_tag)
        super().basic_reject(delivery_tag, requeue)

    def _restore(self, message):
        """A job handed back (a clean shutdown, a requeue): its own row becomes visible
        again, rather than a copy joining the row left invisible."""
        row = message.properties.get(ROW)
        if row is None:
            return super()._restore(message)
        self._write(
            sa.update(self.message_cls.__table__)
            .where(self.message_cls.__table__.c.id == row)
            .values(visible=True)
        )

    def _delete(self, delivery_tag) -> None:
        try:
            message = self.qos.get(delivery_tag)
        except KeyError:  # handed back already (a shutdown restored it): its row stays
            return
        row = message.properties.get(ROW)
        if row is not None:
            table = self.message_cls.__table__
            self._write(sa.delete(table).where(table.c.id == row))

    def _restore_abandoned(self) -> None:
        """Deliver again the jobs taken VISIBILITY_TIMEOUT ago and never acked."""
        if time.monotonic() - self._restored_at < RESTORE_EVERY:
            return
        self._restored_at = time.monotonic()
        table = self.message_cls.__table__
        taken = table.c.visible == False  # noqa: E712 (kombu's column)
        taken_before = datetime.datetime.now() - datetime.timedelta(seconds=VISIBILITY_TIMEOUT)
        self._write(sa.delete(table).where(taken, table.c.version != TAKEN))
        self._write(
            sa.update(table)
            .where(taken, table.c.version == TAKEN, table.c.timestamp < taken_before)
            .values(visible=True)
        )

    def _write(self, statement) -> None:
        """On a connection of its own: acks come from the pool's threads, and the channel's
        session is the consuming thread's."""
        engine, _ = self._open()
        with engine.begin() as connection:
            connection.execute(statement)


class Transport(kombu_sqla.Transport):
    Channel = Channel
