"""Opening the ``limits`` async storage named by ``rate_limit.storage``."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from limits.aio.storage import MemoryStorage, Storage
from limits.storage import storage_from_string
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Valkey speaks the Redis protocol, so one client (redis-py) serves both.
_REDIS_SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss"}


def open_storage(
    url: str, key_prefix: str, timeout: float, max_connections: int
) -> tuple[Storage, BlockingConnectionPool | None]:
    """The storage for ``url`` and, for Redis, the connection pool to close at shutdown.

    Storage errors are wrapped in ``limits.errors.StorageError`` so the limiter can tell
    them from its own bugs. A burst of requests waits (up to ``timeout``) for one of
    ``max_connections`` connections instead of opening one each. See ``reconnect_once``.
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return SweepingMemoryStorage(wrap_exceptions=True), None
    redis_url = parts._replace(scheme=_REDIS_SCHEMES[parts.scheme]).geturl()
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=max_connections, timeout=timeout, socket_timeout=timeout,
        socket_connect_timeout=timeout, retry=reconnect_once(),
    )
    storage = storage_from_string(
        "async+redis://", implementation="redispy", connection_pool=pool, key_prefix=key_prefix,
        wrap_exceptions=True,
    )
    return storage, pool


def reconnect_once() -> Retry:
    """Redis calls get one immediate reconnect when the connection was lost, nothing more.

    A pooled connection that Redis closed (a restart, a failover, an idle timeout) is only
    found out when it is next used; reconnecting at once keeps that from failing a request.
    Timeouts are not retried, so a hung Redis costs one ``timeout`` per call.
    """
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


class SweepingMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired entries at most once a second.

    The library starts a sweep after every hit that finds none running, and a sweep visits
    every key with one thread hop each, so under load it runs back to back and costs more
    than the requests themselves. The window checks ignore expired entries anyway; the sweep
    only frees their memory, which once a second does as well. (This overrides a private
    method of limits 5.x: check it when upgrading the library.)
    """

    _next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            await super()._MemoryStorage__schedule_expiry()
