"""Retriever type ``sqlite``: searches the index that ``chatkit index`` builds.

The file is checked with one ``stat`` per search; when ``chatkit index`` has swapped in a
new one, the next search opens it. Searches run in a worker thread so the event loop never
waits on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path

from chatkit_core.chat.health import Health
from chatkit_core.chat.knowledge import Retriever
from chatkit_core.models import Passage
from chatkit_knowledge.index import IndexReader, IndexUnavailable
from chatkit_knowledge.options import SqliteOptions


class SqliteRetriever(Retriever):
    Options = SqliteOptions
    options: SqliteOptions

    def __init__(self, options: SqliteOptions) -> None:
        super().__init__(options)
        self.path = Path(options.path)
        self._reader: IndexReader | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def _current(self) -> IndexReader:
        """The reader of the file at ``path`` now, reopened when the file was replaced."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            raise IndexUnavailable(f"no index at {self.path}: run `chatkit index`") from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if stamp != self._stamp or self._reader is None:
                self._reader, self._stamp = IndexReader(self.path), stamp  # the old one closes when unused
            return self._reader

    def _search(self, query: str, limit: int) -> list[Passage]:
        return self._current().search(query, limit, self.options.min_score)

    async def start(self) -> None:
        with contextlib.suppress(IndexUnavailable):  # until the index exists, answers go ungrounded
            self._current()

    async def close(self) -> None:
        self._reader = None

    async def search(self, query: str, limit: int) -> list[Passage]:
        return await asyncio.to_thread(self._search, query, limit)

    async def health(self) -> Health:
        try:
            reader = await asyncio.to_thread(self._current)
        except IndexUnavailable as error:
            return Health("down", str(error))
        return Health("up", f"{reader.total} passages")

    def describe(self) -> tuple[str, list[str]]:
        try:
            reader = IndexReader(self.path)
        except IndexUnavailable as error:
            return f"index: {self.path} (none yet)", [f"{error}; until then answers cite no page"]
        try:
            info = reader.status()
        finally:
            reader.close()
        pages, sources = info["pages"], set(info["sources"])  # type: ignore[call-overload]
        stale = ["the index was built from other sources than [knowledge] sources lists: run `chatkit index`"
                 ] if sources != set(self.options.sources) else []
        return f"index: {self.path} ({pages} pages)", stale

    def version(self) -> str:
        return "-".join(map(str, self._stamp)) if self._stamp else ""
