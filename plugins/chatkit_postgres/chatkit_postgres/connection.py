"""The asyncpg pool, bounded waits, and driver errors as :class:`StoreUnavailable`.

asyncpg rather than psycopg 3: on the store's hot path (``ask`` + ``append``), with this pool, it
spent 28% less client CPU per exchange than psycopg 3 with 16 calls in flight and 27% less with
one, at a lower latency (``bench/postgres_drivers.py``, figures in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from chatkit_core.chat.sessions import StoreUnavailable
from chatkit_postgres.options import PostgresOptions, redact

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

T = TypeVar("T")

# A connection whose link broke (the server restarted, a proxy dropped it): nothing was applied
# on it after the break, and every write of the store is idempotent, so it is tried once more on
# a fresh connection, and a quick PostgreSQL restart costs no request.
_BROKEN = (asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
           asyncpg.InterfaceError, ConnectionResetError, BrokenPipeError)

_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

# What a server that is down, starting or stopping answers: the store waits for it to come back.
UNREACHABLE = (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
               asyncpg.AdminShutdownError, asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError,
               asyncpg.ConnectionFailureError)


class Connection(asyncpg.Connection):
    """No reset query when a connection goes back to the pool: the store leaves no session state
    (no ``SET``, ``LISTEN`` or session-level lock), and asyncpg still rolls back a transaction left
    open. That saves a round trip on every call."""

    def get_reset_query(self) -> str:
        return ""


async def open_pool(options: PostgresOptions) -> asyncpg.Pool:
    """A pool that connects on first use (the server may be down at start-up) and closes
    connections idle for five minutes."""
    return await asyncpg.create_pool(
        dsn=options.url, min_size=0, max_size=options.max_connections, max_inactive_connection_lifetime=300,
        timeout=options.connect_timeout, command_timeout=options.statement_timeout + 1,
        statement_cache_size=options.statement_cache_size, connection_class=Connection,
        # The store's statements are short index walks: parallel workers cost more to start than
        # they save (the console's two-word search took 10x longer with them on a busy server).
        server_settings={"application_name": "chatkit", "max_parallel_workers_per_gather": "0",
                         "statement_timeout": str(int(options.statement_timeout * 1000))},
    )


def describe(error: BaseException) -> str:
    """What went wrong, for logs and ``/health``: the error's kind and PostgreSQL's own sentence,
    never the URL (it may hold a password)."""
    if isinstance(error, TimeoutError):
        return "postgres: no answer in time (TimeoutError)"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"postgres: {type(error).__name__}" + (f": {text}" if text else "")


class Pool:
    """Connections from an asyncpg pool, each call bounded by ``pool_timeout`` to get one and
    ``statement_timeout`` per statement, every driver error raised as :class:`StoreUnavailable`."""

    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self.where = redact(options.url)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await open_pool(self.options)
        except (*_DRIVER_ERRORS, ValueError) as error:  # a URL asyncpg cannot use
            raise StoreUnavailable(describe(error)) from None

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        try:
            await asyncio.wait_for(pool.close(), 5)
        except (TimeoutError, *_DRIVER_ERRORS):
            pool.terminate()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[PoolConnectionProxy]:
        if self._pool is None:
            raise StoreUnavailable("postgres store is not open")
        try:
            async with self._pool.acquire(timeout=self.options.pool_timeout) as conn:
                yield conn
        except StoreUnavailable:
            raise
        except _DRIVER_ERRORS as error:
            raise StoreUnavailable(describe(error)) from error

    async def run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await work(conn, *args)`` on a pooled connection; once more on another if the first
        turns out to be broken."""
        for attempt in (1, 2):
            try:
                async with self.connection() as conn:
                    return await work(conn, *args)
            except StoreUnavailable as error:
                if attempt == 2 or not isinstance(error.__cause__, _BROKEN):
                    raise
        raise AssertionError("unreachable")
