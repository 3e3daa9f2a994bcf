"""A Redis client from a URL, for plugins that keep state in Redis (sessions, rate limits).

Needs the ``redis`` package, which those plugins depend on; the core does not. It loads on
first use, so a worker configured without Redis does not carry it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry

# Valkey speaks the Redis protocol, so one client (redis-py) serves both.
SCHEMES = {"redis": "redis", "rediss": "rediss", "unix": "unix", "valkey": "redis", "valkeys": "rediss"}


def check_options(url: str, timeout: float, max_connections: int, example: str) -> None:
    """Refuse a URL that is not Redis's (echoing only its scheme: it may hold a password) and
    limits that cannot work; ``example`` is a URL to suggest."""
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        got = f"scheme {scheme!r}" if scheme else "no URL" if not url else "no scheme"
        raise ValueError(f"url: not a Redis URL ({got}); use e.g. \"{example}\" "
                         "(\"rediss://\" for TLS) or set REDIS_URL")
    if timeout <= 0 or max_connections < 1:
        raise ValueError("timeout must be greater than 0 and max_connections at least 1")


def connection_pool(url: str, *, timeout: float, max_connections: int) -> BlockingConnectionPool:
    """A pool for ``url`` (any of :data:`SCHEMES`): a burst of calls waits up to ``timeout`` for
    one of ``max_connections`` connections instead of opening one each, and every connect,
    read and write gives up after ``timeout``."""
    from redis.asyncio import BlockingConnectionPool

    return BlockingConnectionPool.from_url(
        redis_py_url(url), max_connections=max_connections, timeout=timeout,
        socket_timeout=timeout, socket_connect_timeout=timeout, retry=reconnect_once(),
    )


def redis_py_url(url: str) -> str:
    """``url`` with the scheme redis-py knows (Valkey's names are Redis's) and nothing else touched.

    Only the scheme is swapped: re-serialising a parsed URL changes it (``unix:///run/r.sock``
    becomes ``unix:/run/r.sock``, which redis-py refuses), while the rest of the text (escaped
    password characters, ``[v6]`` hosts, query options) is what the user wrote.
    """
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError(f"not a Redis URL (scheme {scheme.lower()!r})" if sep else "not a Redis URL (no scheme)")
    return SCHEMES[scheme.lower()] + ":" + rest


def client(url: str, *, timeout: float, max_connections: int) -> Redis:
    """A client on its own :func:`connection_pool`; ``await client.aclose()`` closes both."""
    from redis.asyncio import Redis

    return Redis.from_pool(connection_pool(url, timeout=timeout, max_connections=max_connections))


def reconnect_once() -> Retry:
    """Redis calls get one immediate reconnect when the connection was lost, nothing more.

    A pooled connection that Redis closed (a restart, a failover, an idle timeout) is only
    found out when it is next used; reconnecting at once keeps that from failing a request.
    Timeouts are not retried, so a hung Redis costs one ``timeout`` per call.
    """
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
