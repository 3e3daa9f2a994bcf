"""Serialising requests that share a rate limit key, within one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable, Iterable


class KeyLocks:
    """A fixed pool of locks chosen by key hash.

    Holding the locks of every key a request touches makes check-then-hit atomic inside
    the process, so a request refused by one limit never spends another. Locks are taken in
    index order, so two requests can never wait on each other.
    """

    def __init__(self, size: int = 256) -> None:
        self._locks = [asyncio.Lock() for _ in range(size)]

    @contextlib.asynccontextmanager
    async def hold(self, keys: Iterable[Hashable]) -> AsyncIterator[None]:
        held: list[asyncio.Lock] = []
        try:
            for index in sorted({hash(key) % len(self._locks) for key in keys}):
                lock = self._locks[index]
                await lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in reversed(held):
                lock.release()
