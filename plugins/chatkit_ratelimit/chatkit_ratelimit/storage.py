"""Opening the ``limits`` async storage named by ``rate_limit.storage``."""

from __future__ import annotations

import bisect
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from limits.aio.storage import MemoryStorage, RedisStorage, Storage

from chatkit_core.platform.redisclient import connection_pool

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool


def open_storage(
    url: str, key_prefix: str, timeout: float, max_connections: int
) -> tuple[Storage, BlockingConnectionPool | None]:
    """The storage for ``url`` and, for Redis, the connection pool to close at shutdown.

    Storage errors are wrapped in ``limits.errors.StorageError`` so the limiter can tell
    them from its own bugs. The Redis pool is the core's (``chatkit_core.platform.redisclient``).
    """
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return SweepingMemoryStorage(wrap_exceptions=True), None
    pool = connection_pool(url, timeout=timeout, max_connections=max_connections)
    # limits passes connection_pool through to redis-py; its type hints only name scalar options.
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage("async+redis://", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True,
                           **options)
    return storage, pool


class SweepingMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired entries at most once a second, in the loop.

    The library starts a sweep after every hit that finds none running, and a sweep visits
    every key with one thread hop each, so under load it runs back to back and costs more
    than the requests themselves. The window checks ignore expired entries anyway; the sweep
    only frees their memory, which once a second does as well. Each key's cut is one bisect,
    cheaper than the hop to a thread, so the sweep runs without one; a key whose lock is
    held is left for the next sweep. (This overrides private methods of limits 5.x: check
    them when upgrading the library.)
    """

    _next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]  # limits' private method

    async def _MemoryStorage__expire_events(self) -> None:
        now = time.time()
        for key, events in list(self.events.items()):
            if key in self.locks and self.locks[key].locked():
                continue
            events = self.events[key] = events[:bisect.bisect_left(events, -now, key=lambda event: -event.expiry)]
            if not events:
                self.events.pop(key, None)
                self.locks.pop(key, None)
        for key, expiry in list(self.expirations.items()):
            if expiry <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)
