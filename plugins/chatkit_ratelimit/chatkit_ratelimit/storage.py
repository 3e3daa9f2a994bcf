"""Opening the ``limits`` async storage named by ``rate_limit.storage``."""

from __future__ import annotations

from urllib.parse import urlsplit

from limits.aio.storage import Storage
from limits.storage import storage_from_string
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Valkey speaks the Redis protocol, so one client (redis-py) serves both.
_REDIS_SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss"}


def open_storage(
    url: str, key_prefix: str, timeout: float, max_connections: int
) -> tuple[Storage, BlockingConnectionPool | None]:
    """The storage for ``url`` and, for Redis, the connection pool to close at shutdown.

    Storage errors are wrapped in ``limits.errors.StorageError`` so the limiter can tell
    them from its own bugs. The Redis client does not retry: a failed call is reported at
    once and the next call opens a fresh connection, which is how the limiter recovers
    when Redis comes back. A burst of requests waits (up to ``timeout``) for one of
    ``max_connections`` connections instead of opening one each.
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return storage_from_string("async+memory://", wrap_exceptions=True), None
    redis_url = parts._replace(scheme=_REDIS_SCHEMES[parts.scheme]).geturl()
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=max_connections, timeout=timeout, socket_timeout=timeout,
        socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
    )
    storage = storage_from_string(
        "async+redis://", implementation="redispy", connection_pool=pool, key_prefix=key_prefix,
        wrap_exceptions=True,
    )
    return storage, pool
