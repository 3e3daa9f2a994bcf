"""Retriever type ``sqlite``: searches the index that ``chatkit index`` builds.

The file is checked with one ``stat`` per search; when ``chatkit index`` has swapped in a
new one, the next search opens it. Searches run in a worker thread so the event loop never
waits on SQLite. The question is embedded by the configured embedder when it is the one that
built the index; otherwise (or when it fails) the search goes on with words alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path

import structlog

from chatkit_core.chat.embeddings import Embedder, EmbedderError
from chatkit_core.chat.health import Health
from chatkit_core.chat.knowledge import Retriever
from chatkit_core.models import Passage
from chatkit_knowledge.embedders import embedder_for
from chatkit_knowledge.index import IndexReader, IndexUnavailable
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.text import dictionary

log = structlog.get_logger("chatkit.knowledge")


class SqliteRetriever(Retriever):
    Options = SqliteOptions
    options: SqliteOptions

    def __init__(self, options: SqliteOptions) -> None:
        super().__init__(options)
        self.path = Path(options.path)
        self._reader: IndexReader | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        self.embedder: Embedder | None = embedder_for(options)

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
        reader = self._current()
        vector = None
        if self.embedder is not None and reader.embedder == self.embedder.identity():
            try:
                vector = self.embedder.embed([query])[0]
            except EmbedderError as error:  # words alone still find most answers
                log.warning("embedding_failed", embedder=reader.embedder, error=str(error))
        return reader.search(query, limit, self.options.min_score, vector)

    async def start(self) -> None:
        await asyncio.to_thread(dictionary)  # read once here, not by the first misspelt question
        with contextlib.suppress(IndexUnavailable):  # until the index exists, answers go ungrounded
            self._current()

    async def close(self) -> None:
        self._reader = None
        if self.embedder is not None:
            self.embedder.close()

    async def search(self, query: str, limit: int) -> list[Passage]:
        return await asyncio.to_thread(self._search, query, limit)

    async def health(self) -> Health:
        try:
            reader = await asyncio.to_thread(self._current)
        except IndexUnavailable as error:
            return Health("down", str(error))
        if self.embedder is not None and reader.embedder != self.embedder.identity():
            return Health("up", f"{reader.total} passages, searched by words only: the index was built with "
                                f"embedder {reader.embedder or 'none'}; run `chatkit index`")
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
