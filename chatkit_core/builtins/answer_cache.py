"""The built-in answer cache type ``memory``: answers kept in this process, least recently used out first."""

from __future__ import annotations

import time
from collections import OrderedDict

from chatkit_core import hookimpl
from chatkit_core.chat.answer_cache import AnswerCache, CacheOptions


class MemoryCache(AnswerCache):
    """One process's cache: each worker of ``chatkit serve`` keeps its own."""

    def __init__(self, options: CacheOptions) -> None:
        super().__init__(options)
        self.entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return found[1]

    async def set(self, key: str, value: bytes) -> None:
        self.entries[key] = (time.monotonic() + self.ttl, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.options.max_entries:
            self.entries.popitem(last=False)

    async def clear(self) -> None:
        self.entries.clear()


@hookimpl
def register_answer_caches(register):
    register("memory", MemoryCache)
