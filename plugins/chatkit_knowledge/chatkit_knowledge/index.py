"""The index file: one SQLite database with an FTS5 table, written aside and swapped in.

A build reads the current index, and at its first change copies it to ``PATH.tmp-PID``,
updates the copy page by page, and replaces ``PATH`` with it (``os.replace``, atomic on one
filesystem). A server that has the old file open keeps reading it until it notices the new
one; nobody ever reads a half-built index. A build that changes nothing writes nothing.

Scores (``Passage.score``) run from 0 to 1: the share of the question's terms a passage
holds, each term weighted by its rarity in the index (BM25's IDF). 1.0 means every
informative word of the question is in the passage; a word found nowhere in the index
counts fully against every passage, so "Do you sell gift cards?" scores low on a site
that never mentions gift cards. Among passages, BM25 (title weighted twice the text)
orders those with equal scores.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from chatkit_core.models import Passage
from chatkit_knowledge.text import indexable, is_cjk, query_terms

if TYPE_CHECKING:
    from chatkit_knowledge.chunks import Chunk

SCHEMA_VERSION = "2"
"""2: titles and text stored as plain text (never HTML-escaped), ``pages.description``, and
``files`` (each local file's size and modification time, so an unchanged one is not read
again). An index of another version is rebuilt from the sources by the next build."""
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE pages(url TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, hash TEXT NOT NULL,
                   indexed_at REAL NOT NULL, chunks INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE TABLE files(path TEXT PRIMARY KEY, source TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                   url TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE chunks(id INTEGER PRIMARY KEY, page TEXT NOT NULL, url TEXT NOT NULL, title TEXT NOT NULL,
                    text TEXT NOT NULL);
CREATE INDEX chunks_page ON chunks(page);
CREATE VIRTUAL TABLE search USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE search_vocab USING fts5vocab(search, 'row');
CREATE TABLE terms(term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE variants(variant TEXT NOT NULL, term TEXT NOT NULL);
CREATE INDEX variants_variant ON variants(variant);
"""
_CANDIDATES = 24
"""Passages scored in full for one search: those holding the most of the question's rare terms."""
_POSTINGS = 2000
"""Most postings one search reads: a word in most passages says little, and must not cost much."""
_K1, _B = 1.2, 0.75
_TYPO_MIN = 4
_TYPO_LONG = 8
_CORRECTED = 0.5
"""Share of its weight a corrected misspelling keeps: a guessed word is weaker evidence."""


class IndexUnavailable(Exception):
    """The index file is missing, unreadable or of another version."""


def _connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{Path(path).resolve()}?mode=ro" if readonly else str(path)
    return sqlite3.connect(uri, uri=readonly, check_same_thread=False, isolation_level=None)


class IndexWriter:
    """One build: the current index, copied at the first change, swapped in by :meth:`commit`."""

    def __init__(self, path: Path, settings: str) -> None:
        self.path = path
        self.settings = settings
        self.temp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        self.meta: dict[str, str] = {}
        self.changed = False
        self.db = self._current(settings) or self._temporary(copy_of=None)

    def _current(self, settings: str) -> sqlite3.Connection | None:
        """The current index, read-only, when it was built the same way; else None."""
        if not self.path.is_file():
            return None
        try:
            current = _connect(self.path, readonly=True)
            meta = dict(current.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError:  # a corrupt index is rebuilt from the sources
            return None
        if meta.get("schema") != SCHEMA_VERSION or meta.get("settings") != settings:
            current.close()
            return None
        self.meta = meta
        return current

    def _temporary(self, copy_of: sqlite3.Connection | None) -> sqlite3.Connection:
        """The new index at ``PATH.tmp-PID``: a copy of ``copy_of``, or empty."""
        temp = _connect(self.temp)
        temp.execute("PRAGMA journal_mode = OFF")
        temp.execute("PRAGMA synchronous = OFF")
        if copy_of is not None:
            copy_of.backup(temp)
            copy_of.close()
        else:
            temp.executescript(_SCHEMA)
        temp.execute("BEGIN")
        self.changed = True
        return temp

    def _write(self) -> None:
        """Before the first change: switch to a copy of the current index."""
        if not self.changed:
            self.db = self._temporary(copy_of=self.db)

    def hashes(self) -> dict[str, tuple[str, str]]:
        """url -> (source, content hash) of every page in the index."""
        return {url: (source, digest) for url, source, digest in self.db.execute("SELECT url, source, hash FROM pages")}

    def files(self) -> dict[str, tuple[str, int, int, str]]:
        """path -> (source, size, modification time in ns, URL) of each local file indexed."""
        return {path: (source, size, mtime_ns, url) for path, source, size, mtime_ns, url in self.db.execute(
            "SELECT path, source, size, mtime_ns, url FROM files")}

    def put_file(self, path: str, source: str, size: int, mtime_ns: int, url: str) -> None:
        self._write()
        self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", (path, source, size, mtime_ns, url))

    def put(self, url: str, source: str, title: str, digest: str, chunks: list[Chunk], description: str = "") -> None:
        self.remove(url)
        for chunk in chunks:
            cursor = self.db.execute("INSERT INTO chunks(page, url, title, text) VALUES (?, ?, ?, ?)",
                                     (url, chunk.url, chunk.title, chunk.text))
            self.db.execute("INSERT INTO search(rowid, title, body) VALUES (?, ?, ?)",
                            (cursor.lastrowid, indexable(" ".join(chunk.headings) + " " + chunk.title),
                             indexable(chunk.text)))
        self.db.execute("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (url, source, title, digest, time.time(), len(chunks), description))

    def remove(self, url: str) -> None:
        self._write()
        ids = [row[0] for row in self.db.execute("SELECT id FROM chunks WHERE page = ?", (url,))]
        self.db.executemany("DELETE FROM search WHERE rowid = ?", [(i,) for i in ids])
        self.db.execute("DELETE FROM chunks WHERE page = ?", (url,))
        self.db.execute("DELETE FROM pages WHERE url = ?", (url,))

    def counts(self) -> tuple[int, int]:
        """(pages, chunks) in the index being built."""
        return self.db.execute("SELECT count(*), coalesce(sum(chunks), 0) FROM pages").fetchone()

    def commit(self, meta: dict[str, str]) -> bool:
        """Finish the term tables, record ``meta`` and swap the new index in; or, when nothing
        changed, leave the current index as it is. True when a new index was swapped in."""
        if not self.changed and all(self.meta.get(key) == value for key, value in meta.items()):
            self.db.close()
            return False
        self._write()
        self.db.execute("DELETE FROM files WHERE url NOT IN (SELECT url FROM pages)")
        self.db.execute("DELETE FROM terms")
        self.db.execute("INSERT INTO terms SELECT term, doc FROM search_vocab")
        average = self.db.execute("SELECT avg(length(title) + length(body)) FROM search").fetchone()[0]
        meta = {**meta, "average_length": str(average or 1)}
        self.db.execute("DELETE FROM variants")
        self.db.executemany("INSERT INTO variants VALUES (?, ?)", _variants(
            term for (term,) in self.db.execute("SELECT term FROM terms").fetchall()))
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                            [*meta.items(), ("schema", SCHEMA_VERSION), ("settings", self.settings),
                             ("built_at", str(time.time()))])
        self.db.execute("COMMIT")
        self.db.execute("INSERT INTO search(search) VALUES('optimize')")
        self.db.execute("VACUUM")
        self.db.close()
        os.replace(self.temp, self.path)
        return True

    def abort(self) -> None:
        self.db.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


def _remove_stale(path: Path) -> None:
    """Temporary files of builds that died (their process is gone)."""
    for temp in path.parent.glob(f"{path.name}.tmp-*"):
        pid = temp.name.rsplit("-", 1)[1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _variants(terms: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Each term with one letter dropped, for finding a misspelt word's term (SymSpell, distance 1)."""
    for term in terms:
        if len(term) >= _TYPO_MIN and term.isalpha() and not is_cjk(term):
            for variant in _deletions(term):
                yield variant, term


def _one_edit(a: str, b: str) -> bool:
    if len(a) < len(b):
        a, b = b, a
    if len(a) - len(b) == 1:
        return any(a[:i] + a[i + 1 :] == b for i in range(len(a)))
    differ = [i for i in range(len(a)) if a[i] != b[i]] if len(a) == len(b) else [0, 0, 0]
    return len(differ) == 1 or (len(differ) == 2 and differ[1] == differ[0] + 1
                                and a[differ[0]] == b[differ[1]] and a[differ[1]] == b[differ[0]])


def _required(terms: list[str], weights: dict[str, tuple[float, bool]], floor: float) -> list[str]:
    """The rarest terms of which a passage must hold one to score ``floor``: the others, all
    together, weigh less. Their postings are all a search reads, so common words cost nothing."""
    rest = sum(weights[term][0] for term in terms)
    required = []
    for term in terms:
        required.append(term)
        rest -= weights[term][0]
        if rest < floor:
            break
    return required


def _idf(docs: int, total: int) -> float:
    return math.log((total - docs + 0.5) / (docs + 0.5) + 1.0)


class IndexReader:
    """Searches one index file; opened read-only, so a swap never disturbs a search."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise IndexUnavailable(f"no index at {path}: run `chatkit index`")
        try:
            self.db = _connect(path, readonly=True)
            self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
            self.total = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            self.average_length = float(self.meta.get("average_length") or 1) or 1.0
        except sqlite3.DatabaseError as error:
            raise IndexUnavailable(f"the index at {path} cannot be read ({error}): run `chatkit index`") from None
        if self.meta.get("schema") != SCHEMA_VERSION:
            raise IndexUnavailable(f"the index at {path} is from another version: run `chatkit index`")

    def close(self) -> None:
        self.db.close()

    def search(self, query: str, limit: int, min_score: float = 0.0) -> list[Passage]:
        """The best ``limit`` passages for ``query``; with ``min_score``, only those that can reach it."""
        weights = self._weights(query_terms(query))
        total = sum(weight for weight, _ in weights.values())
        known = sorted((term for term, (_, found) in weights.items() if found), key=lambda t: -weights[t][0])
        if not known:
            return []
        required = _required(known, weights, min_score * total)
        wanted = max(_CANDIDATES, 4 * limit)
        candidates: dict[int, None] = {}
        if len(required) > 1:  # the passages holding every required term come first
            every = " AND ".join(f'"{term}"' for term in required)
            candidates.update((rowid, None) for (rowid,) in self.db.execute(
                "SELECT rowid FROM search WHERE search MATCH ? LIMIT ?", (every, wanted)))
        postings = max(_POSTINGS // 4, _POSTINGS // len(required))
        union = " UNION ALL ".join(
            ["SELECT * FROM (SELECT rowid, ? AS weight FROM search WHERE search MATCH ? LIMIT ?)"] * len(required))
        candidates.update((rowid, None) for (rowid,) in self.db.execute(
            f"SELECT rowid FROM ({union}) GROUP BY rowid ORDER BY sum(weight) DESC LIMIT ?",
            [*(value for term in required for value in (weights[term][0], f'"{term}"', postings)), wanted]))
        if not candidates:
            return []
        scored = []
        marks = ",".join("?" * len(candidates))
        for rowid, title, body in self.db.execute(f"SELECT rowid, title, body FROM search WHERE rowid IN ({marks})",
                                                  list(candidates)):
            words, heading = body.split(), title.split()
            counts = {term: words.count(term) + 2 * heading.count(term) for term in known}
            share = sum(weights[term][0] for term in known if counts[term]) / total
            scored.append((round(share, 4), self._bm25(counts, known, weights, len(title) + len(body)), rowid))
        best = sorted(scored, reverse=True)[:limit]
        rows = {row[0]: row[1:] for row in self.db.execute(
            f"SELECT id, url, title, text FROM chunks WHERE id IN ({','.join('?' * len(best))})",
            [rowid for *_, rowid in best])}
        return [Passage(text=rows[rowid][2], title=rows[rowid][1], url=rows[rowid][0], score=share)
                for share, _, rowid in best]

    def _bm25(self, counts: dict[str, int], terms: list[str], weights: dict[str, tuple[float, bool]],
              length: int) -> float:
        """BM25 of one passage (title terms counted twice), to order passages of equal share."""
        norm = _K1 * (1 - _B + _B * length / self.average_length)
        return sum(weights[t][0] * counts[t] * (_K1 + 1) / (counts[t] + norm) for t in terms if counts[t])

    def _weights(self, terms: list[str]) -> dict[str, tuple[float, bool]]:
        """Each query term -> (IDF weight, in the index). A misspelt word is replaced by the
        index's word one edit away, which then counts for a share of its weight only."""
        docs = self._docs(terms)
        weights: dict[str, tuple[float, bool]] = {}
        for term in terms:
            factor = 1.0
            if term not in docs and len(term) >= _TYPO_MIN and term.isalpha() and not is_cjk(term):
                corrected = self._correct(term)
                if corrected:
                    (term, docs[term]), factor = corrected, _CORRECTED
            if term not in docs and is_cjk(term):
                continue  # a character pair found nowhere straddles two words: it says nothing
            weights[term] = (factor * _idf(docs.get(term, 0), self.total), term in docs)
        return weights

    def _docs(self, terms: list[str]) -> dict[str, int]:
        marks = ",".join("?" * len(terms))
        return dict(self.db.execute(f"SELECT term, docs FROM terms WHERE term IN ({marks})", terms)) if terms else {}

    def _correct(self, term: str) -> tuple[str, int] | None:
        """The most common indexed term one edit away from ``term`` (a letter added, dropped,
        changed, or two neighbours swapped); two edits for a long word ("crossiant")."""
        shorter = [word for word in _deletions(term) if len(word) >= _TYPO_MIN]
        keys = [term, *_deletions(term)]
        rows = self.db.execute(
            f"SELECT term, docs FROM terms WHERE term IN ({','.join('?' * len(shorter)) or 'NULL'}) OR term IN "
            f"(SELECT term FROM variants WHERE variant IN ({','.join('?' * len(keys))})) ORDER BY docs DESC",
            [*shorter, *keys]).fetchall()
        return next((row for row in rows if len(term) >= _TYPO_LONG or _one_edit(term, row[0])), None)

    def status(self) -> dict[str, object]:
        pages, chunks = self.db.execute("SELECT count(*), coalesce(sum(chunks), 0) FROM pages").fetchone()
        return {"pages": pages, "chunks": chunks, "built_at": float(self.meta.get("built_at", 0)),
                "sources": json.loads(self.meta.get("sources", "[]"))}
