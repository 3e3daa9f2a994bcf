"""One run of ``chatkit index``: every source read, the index updated and swapped in."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chatkit_knowledge.chunks import Chunk, chunk_page
from chatkit_knowledge.crawl import crawl
from chatkit_knowledge.embedders import embedder_for
from chatkit_knowledge.guard import Resolver, resolve
from chatkit_knowledge.index import IndexWriter
from chatkit_knowledge.options import SqliteOptions
from chatkit_knowledge.sources import Document, Failure, is_local, load_local

TEXT_VERSION = "1"
"""Bump when text.py or extract.py change what a page becomes: the next build starts afresh."""


@dataclass
class Report:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0


def _digest(title: str, chunks: list[Chunk]) -> str:
    payload = json.dumps([title, [(c.title, c.url, c.text) for c in chunks]], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def build(options: SqliteOptions, progress: Callable[[str], None] = lambda where: None,
          resolver: Resolver = resolve) -> Report:
    started = time.monotonic()
    settings = json.dumps({"chunk_chars": options.chunk_chars, "text": TEXT_VERSION})
    writer = IndexWriter(Path(options.path), settings, embedder_for(options))
    report = Report()
    try:
        indexed = writer.hashes()
        present: set[str] = set()
        deadline = started + options.crawl_seconds
        for source in options.sources:
            for item in _load(source, options, deadline, progress, resolver):
                if isinstance(item, Failure):
                    report.failed.append(item)
                    if item.keep and item.where in indexed:
                        present.add(item.where)
                elif item.url not in present:
                    present.add(item.url)
                    _store(writer, source, item, indexed, report, options)
        report.removed = sorted(url for url in indexed if url not in present)
        for url in report.removed:
            writer.remove(url)
        report.pages, report.chunks = writer.counts()
        writer.commit({"sources": json.dumps(options.sources)})
    except BaseException:
        writer.abort()
        raise
    report.seconds = time.monotonic() - started
    return report


def _load(source: str, options: SqliteOptions, deadline: float, progress: Callable[[str], None],
          resolver: Resolver) -> Iterable[Document | Failure]:
    if is_local(source):
        for item in load_local(source, options.site_url, options.exclude, options.max_page_bytes):
            progress(item.url if isinstance(item, Document) else item.where)
            yield item
    else:
        yield from asyncio.run(crawl(source, options, deadline, progress, resolver))


def _store(writer: IndexWriter, source: str, document: Document, indexed: dict[str, tuple[str, str]],
           report: Report, options: SqliteOptions) -> None:
    chunks = chunk_page(document.page, document.url, options.chunk_chars)
    digest = _digest(document.page.title, chunks)
    before = indexed.get(document.url)
    if before == (source, digest):
        report.unchanged += 1
        return
    writer.put(document.url, source, document.page.title, digest, chunks)
    (report.changed if before else report.added).append(document.url)
