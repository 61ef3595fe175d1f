"""kombu's Redis transport, publishing through one Redis client per channel.

kombu builds a new `redis.Redis` client for every message it publishes, and with it the
client's table of about 170 response callbacks: 0.1–0.2 ms of a webhook's CPU, which only
publishes one job. One client per channel, over the channel's own connection pool, sends
the same commands (redis-py clients are safe to share between threads). Celery uses this
transport for `redis://` brokers (worker.celery_settings); consuming is kombu's own.
Publishing also writes each message's envelope with one kept JSON encoder and names it with
publishing.random_uuid: the same bytes as kombu's, with less work.
"""

from __future__ import annotations

from kombu.transport import redis
from kombu.utils.json import JSONEncoder

from .publishing import random_uuid

#: kombu's JSON encoder, kept for every message's envelope: kombu.utils.json.dumps builds
#: one for each, from no options, which writes the same text.
KOMBU_JSON = JSONEncoder()


class Channel(redis.Channel):
    _publisher: redis.redis.Redis | None = None

    def _create_client(self, asynchronous: bool = False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._publisher is None:
            self._publisher = super()._create_client()
        return self._publisher

    def _next_delivery_tag(self) -> str:
        return random_uuid()

    def _put(self, queue, message, **kwargs):
        """kombu's, writing the envelope with one kept JSON encoder (the same text); a
        batch or a queue with an expiry goes kombu's own way."""
        if kwargs.get("_publish_batch") is not None or (self._expires and queue in self._expires):
            return super()._put(queue, message, **kwargs)
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        with self.conn_or_acquire() as client:
            client.lpush(key, KOMBU_JSON.encode(message))


class Transport(redis.Transport):
    Channel = Channel
