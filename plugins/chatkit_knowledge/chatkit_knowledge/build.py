"""One run of ``chatkit index``: every source read, the index updated and swapped in.

A local file whose size and modification time are those recorded when it was last indexed
is not read again: its page is unchanged. Other files are read and parsed in batches, crawled
pages as they arrive; each page is compared with its indexed copy by the hash of its passages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chatkit_knowledge.chunks import Chunk, chunk_page
from chatkit_knowledge.crawl import crawl, split_credentials
from chatkit_knowledge.embedders import embedder_for
from chatkit_knowledge.guard import Resolver, resolve
from chatkit_knowledge.index import IndexWriter
from chatkit_knowledge.options import SqliteOptions, is_local
from chatkit_knowledge.parsing import Parser
from chatkit_knowledge.sources import Document, Failure, LocalFile, Skipped, document, read_file, request, walk_local

BATCH_PAGES = 64
BATCH_BYTES = 8_000_000
"""Local files are parsed in batches of at most this many pages and bytes (one round trip each)."""
TEXT_VERSION = "2"
"""Bump when text.py or extract.py change what a page becomes: the next build starts afresh."""


@dataclass
class Report:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    written: bool = False
    """A new index was swapped in (False: nothing changed, the file was left as it was)."""


def _digest(title: str, chunks: list[Chunk]) -> str:
    payload = json.dumps([title, [(c.title, c.url, c.text) for c in chunks]], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class _Run:
    options: SqliteOptions
    writer: IndexWriter
    parser: Parser
    progress: Callable[[str], None]
    resolver: Resolver
    deadline: float
    report: Report = field(default_factory=Report)
    present: set[str] = field(default_factory=set)
    pending: list[tuple[str, LocalFile, bytes]] = field(default_factory=list)
    """Files read and waiting to be parsed together, with their source."""
    parsing: list[tuple[str, LocalFile, bytes]] = field(default_factory=list)
    """The batch the parser is working on."""
    queued: set[str] = field(default_factory=set)
    """The URLs of the files pending or being parsed."""

    def __post_init__(self) -> None:
        self.indexed = self.writer.hashes()
        self.files = self.writer.files()

    def source(self, source: str) -> None:
        name = split_credentials(source)[0]  # what is stored and shown: never a password
        if is_local(source):
            for found in walk_local(source, self.options):
                self._take(name, found)
            self.drain()
        else:  # each page is stored as it arrives
            asyncio.run(crawl(source, self.options, self.deadline, self.progress, self.resolver, self.parser,
                              emit=lambda item: self._take(name, item)))

    def _take(self, source: str, item: Document | Failure | Skipped | LocalFile) -> None:
        if isinstance(item, Skipped):
            self.report.skipped.append(item)
        elif isinstance(item, Failure):
            self.report.failed.append(item)
            if item.keep and item.where in self.indexed:
                self.present.add(item.where)
        elif isinstance(item, LocalFile):
            self._local(source, item)
        elif item.url in self.present:
            self.report.skipped.append(Skipped(item.url, "the same URL as a page already read"))
        else:
            self._store(source, item)

    def _local(self, source: str, file: LocalFile) -> None:
        self.progress(file.url)
        if file.url in self.present or file.url in self.queued:
            self.report.skipped.append(Skipped(file.path, f"the same URL as a file already read ({file.url})"))
            return
        if self.files.get(file.path) == self._stat(source, file) and self.indexed.get(file.url, ("",))[0] == source:
            self.present.add(file.url)
            self.report.unchanged += 1
            return
        data = read_file(file, self.options.max_page_bytes)
        if isinstance(data, Failure):
            self.report.failed.append(data)
            return
        self.pending.append((source, file, data))
        self.queued.add(file.url)
        if len(self.pending) >= BATCH_PAGES or sum(len(data) for *_, data in self.pending) >= BATCH_BYTES:
            self.flush()

    @staticmethod
    def _stat(source: str, file: LocalFile) -> tuple[str, int, int, str]:
        return source, file.size, file.mtime_ns, file.url

    def flush(self) -> None:
        """Hand the files read so far to the parser, and store the pages of those handed before:
        the parsing child works on one batch while this process stores the previous one."""
        parsed = self.parser.collect()
        done, self.parsing, self.pending = self.parsing, self.pending, []
        self.parser.submit([request(file, data) for _, file, data in self.parsing])
        for (source, file, _), result in zip(done, parsed, strict=True):
            self.queued.discard(file.url)
            read = document(file, result)
            if isinstance(read, Failure):
                self.report.failed.append(read)
            else:
                self._store(source, read)
                self.writer.put_file(file.path, *self._stat(source, file))

    def drain(self) -> None:
        while self.pending or self.parsing:
            self.flush()

    def _store(self, source: str, document: Document) -> None:
        self.present.add(document.url)
        chunks = chunk_page(document.page, document.url, self.options.chunk_chars)
        digest = _digest(document.page.title, chunks)
        before = self.indexed.get(document.url)
        if before == (source, digest):
            self.report.unchanged += 1
            return
        self.writer.put(document.url, source, document.page.title, digest, chunks, document.page.description)
        (self.report.changed if before else self.report.added).append(document.url)


def build(options: SqliteOptions, progress: Callable[[str], None] = lambda where: None,
          resolver: Resolver = resolve) -> Report:
    started = time.monotonic()
    settings = json.dumps({"chunk_chars": options.chunk_chars, "text": TEXT_VERSION})
    writer = IndexWriter(Path(options.path), settings, embedder_for(options))
    try:
        with Parser() as parser:
            run = _Run(options, writer, parser, progress, resolver, started + options.crawl_seconds)
            for source in options.sources:
                run.source(source)
        report = run.report
        report.removed = sorted(url for url in run.indexed if url not in run.present)
        for url in report.removed:
            writer.remove(url)
        report.pages, report.chunks = writer.counts()
        sources = [split_credentials(source)[0] for source in options.sources]
        report.written = writer.commit({"sources": json.dumps(sources)})
    except BaseException:
        writer.abort()
        raise
    report.seconds = time.monotonic() - started
    return report
