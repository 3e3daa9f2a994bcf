"""One run of ``chatkit index``: every source read, the index updated and swapped in.

A local file whose size and modification time are those recorded when it was last indexed
is not read again: its page is unchanged. Other files and every crawled page are read,
parsed and compared by the hash of their passages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chatkit_knowledge.chunks import Chunk, chunk_page
from chatkit_knowledge.crawl import crawl, split_credentials
from chatkit_knowledge.guard import Resolver, resolve
from chatkit_knowledge.index import IndexWriter
from chatkit_knowledge.options import SqliteOptions, is_local
from chatkit_knowledge.parsing import Parser
from chatkit_knowledge.sources import Document, Failure, LocalFile, Skipped, read_local, walk_local

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

    def __post_init__(self) -> None:
        self.indexed = self.writer.hashes()
        self.files = self.writer.files()

    def source(self, source: str) -> None:
        name = split_credentials(source)[0]  # what is stored and shown: never a password
        for item in self._items(source):
            if isinstance(item, Skipped):
                self.report.skipped.append(item)
            elif isinstance(item, Failure):
                self.report.failed.append(item)
                if item.keep and item.where in self.indexed:
                    self.present.add(item.where)
            elif isinstance(item, LocalFile):
                self._local(name, item)
            elif item.url in self.present:
                self.report.skipped.append(Skipped(item.url, "the same URL as a page already read"))
            else:
                self._store(name, item)

    def _items(self, source: str) -> Iterator[Document | Failure | Skipped | LocalFile]:
        if is_local(source):
            yield from walk_local(source, self.options)
        else:
            yield from asyncio.run(crawl(source, self.options, self.deadline, self.progress, self.resolver,
                                         self.parser))

    def _local(self, source: str, file: LocalFile) -> None:
        self.progress(file.url)
        if file.url in self.present:
            self.report.skipped.append(Skipped(file.path, f"the same URL as a file already read ({file.url})"))
            return
        stat = (source, file.size, file.mtime_ns, file.url)
        if self.files.get(file.path) == stat and self.indexed.get(file.url, ("",))[0] == source:
            self.present.add(file.url)
            self.report.unchanged += 1
            return
        read = read_local(file, self.parser, self.options.max_page_bytes)
        if isinstance(read, Failure):
            self.report.failed.append(read)
            return
        self._store(source, read)
        self.writer.put_file(file.path, *stat)

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
    writer = IndexWriter(Path(options.path), settings)
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
