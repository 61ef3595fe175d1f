"""kombu's Redis transport, publishing through one Redis client per channel.

kombu builds a new `redis.Redis` client for every message it publishes, and with it the
client's table of about 170 response callbacks: 0.1–0.2 ms of a webhook's CPU, which only
publishes one job. One client per channel, over the channel's own connection pool, sends
the same commands (redis-py clients are safe to share between threads). Celery uses this
transport for `redis://` brokers (worker.celery_settings); consuming is kombu's own.
"""

from __future__ import annotations

from kombu.transport import redis

from .publishing import random_uuid


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


class Transport(redis.Transport):
    Channel = Channel
