"""The index file: one SQLite database with an FTS5 table and the passages' vectors, written
aside and swapped in.

A build reads the current index, and at its first change copies it to ``PATH.tmp-PID``,
updates the copy page by page, embeds the passages that have no vector yet, and replaces
``PATH`` with it (``os.replace``, atomic on one filesystem). A server that has the old file
open keeps reading it until it notices the new one; nobody ever reads a half-built index. A
build that changes nothing writes nothing.

A search is hybrid: the passages holding the question's rarest words (FTS5) and those whose
vectors are nearest the question's (a float32 matrix searched with numpy) are ranked
together. ``Passage.score`` (0 to 1, see :func:`relevance`) says how surely a passage answers:
the share of the question's informative words it holds, each weighted by its rarity (BM25's
IDF), raised or lowered by its semantic similarity.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chatkit_core.models import Passage
from chatkit_knowledge.language import asked_in_english
from chatkit_knowledge.text import (
    TYPO_MIN,
    _plain,
    compounds,
    distance,
    is_cjk,
    is_foreign,
    misspelt,
    names,
    query_words,
    sounds,
    spelled_words,
    terms,
    terms_of,
)
from chatkit_knowledge.text import words as plain_words

if TYPE_CHECKING:
    from chatkit_core.chat.embeddings import Embedder
    from chatkit_knowledge.chunks import Chunk

SCHEMA_VERSION = "6"
"""2: titles and text stored as plain text (never HTML-escaped), ``pages.description``, and
``files`` (each local file's size and modification time, so an unchanged one is not read
again). 3: passage vectors and the spelling tables. 4: no passage ends with a lead-in line
(it starts the next one, with what it introduces). 5: how each word sounds, to correct a
misspelling written as it sounds ("migrashun"); a question line starts a passage with its answer;
letters followed by a number are also indexed apart ("V5": "v5 v 5"). 6: navigation named by
class or id (menus, tables of contents, sidebars) and what the site marks as not for search
(``data-chatkit-ignore``, ``data-nosnippet``...) are left out of a page.
An index of another version is rebuilt from the sources by the next build."""
# The passage, term, spelling and vector tables are this module's; pages belongs to the build.
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
CREATE TABLE words(word TEXT PRIMARY KEY, term TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE variants(variant TEXT NOT NULL, word TEXT NOT NULL);
CREATE INDEX variants_variant ON variants(variant);
CREATE TABLE sounds(sound TEXT NOT NULL, word TEXT NOT NULL);
CREATE INDEX sounds_sound ON sounds(sound);
CREATE TABLE vectors(id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
"""
_CANDIDATES = 24
"""Passages scored in full for one search from each side: those holding the most of the
question's rare terms, and those nearest in meaning."""
_FUSION = 60
"""Reciprocal rank fusion's constant: a passage's rank r on one side counts 1 / (60 + r)."""
_SCAN_ALL = 20_000
"""Most passages whose vectors a search scans in full; a larger index scans their leading
dimensions first."""
_LEADING = 64
"""Leading dimensions scanned first: the static embedder's vectors are trained so that their
first 64 dimensions are a vector of their own (Matryoshka), a quarter of the memory to read."""
_SHORTLIST = 4000
"""Passages nearest by their leading dimensions whose cosine is then computed in full."""
_POSTINGS = 2000
"""Most postings one search reads: a word in most passages says little, and must not cost much."""
_MEANING = 1.0
"""How much semantic similarity moves a passage's score, per unit of cosine."""
_UNRELATED = 0.3
"""Cosine of a passage about something else (the static embedder's): no move either way."""
_HEADING = 0.15
"""Weight, in the ranking only, of the share of the question's informative words in a passage's
headings: of two passages holding the same words, the one whose section is named by them
("AWS Lambda", "Database") comes first. On the development sites, with 0.1 to 0.2 alike, the
answer's source was the right page for Fastify 24 of 35 questions instead of 17, SQLite 27
instead of 28; from 0.3 SQLite lost more. It never changes ``Passage.score``, so what is
declined is unchanged."""
_CHANGELOG = 0.15
"""Subtracted, in the ranking only, from a changelog's or release notes' passages: they name the
features a question asks about (each "Added X", "Fixed Y") but say what changed when, not how to
use it. On the development site that has one (Starlette), the answer's source was the right page
for 34 of 45 questions instead of 31, with 0.1 to 0.2 alike; a question only they answer still
finds them, and ``Passage.score`` is unchanged, so what is declined is unchanged."""
_CHANGELOG_NAME = re.compile(r"^\s*(?:change[\W_]?log|changes|release[\W_]?notes|releases|what'?s[\W_]?new)\b",
                             re.IGNORECASE)
"""A changelog's page name (the URL path's last part) or title: CHANGELOG.md, release-notes, "What's new"."""
_NAMED = 0.1
"""Weight, in the ranking only, of the share of the question's informative words in the page's name
(its URL's last part: "/Reference/HTTP2", "/isolation.html"): of two passages holding the same
words, the one on the page the topic names comes first ("Wie aktiviere ich HTTP2?": the HTTP2
page, not the TypeScript page's HTTP2 example). On the development sites, Fastify's source was
the right page for 26 of 35 questions instead of 25 with 0.1 and 0.15 alike; 0.2 lost a quoted
fact; SQLite, Starlette and the demo unchanged."""
_K1, _B = 1.2, 0.75
_ENGLISH = 0.1
"""Share of passages holding "the" from which a site is taken to be written in English."""
_TYPO_LONG = 8
_WORD_MAX = 64
"""Longest word corrected or looked up by its start: a longer one is no misspelling, and each
letter costs a query parameter."""
_SOUND_LENGTH = 3
_NAME_STEM, _NAME_START = 4, 6
"""Fewest letters of a name found as the start of a longer word ("Postgres" in "PostgreSQL"), and
of a word found as the start of a longer name ("PostgreSQL" for "Postgres", not "Heroku" for "hero")."""
_CORRECTED = 0.5
"""Share of its weight a corrected misspelling keeps: a guessed word is weaker evidence."""


class IndexUnavailable(Exception):
    """The index file is missing, unreadable or of another version."""


def _connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{Path(path).resolve()}?mode=ro" if readonly else str(path)
    return sqlite3.connect(uri, uri=readonly, check_same_thread=False, isolation_level=None)


class IndexWriter:
    """One build: the current index, copied at the first change, swapped in by :meth:`commit`.

    ``embedder`` (None: words only) embeds the passages; its identity is part of the build's
    settings, so another embedder starts from nothing and every passage is embedded again."""

    def __init__(self, path: Path, settings: str, embedder: Embedder | None = None) -> None:
        self.path = path
        self.embedder = embedder
        self.settings = json.dumps([settings, embedder.identity() if embedder else ""])
        self.temp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path)
        self.meta: dict[str, str] = {}
        self.changed = False
        self.db = self._current(self.settings) or self._temporary(copy_of=None)
        self._spelled: set[tuple[str, str]] = set()
        self._spelled_words: set[str] = set()

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
            heading, body = plain_words(" ".join(chunk.headings) + " " + chunk.title), plain_words(chunk.text)
            self.db.execute("INSERT INTO search(rowid, title, body) VALUES (?, ?, ?)",
                            (cursor.lastrowid, " ".join(terms_of(heading)), " ".join(terms_of(body))))
            self._spelled |= spelled_words({*heading, *body}, self._spelled_words)
        self.db.execute("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (url, source, title, digest, time.time(), len(chunks), description))

    def remove(self, url: str) -> None:
        self._write()
        ids = [(row[0],) for row in self.db.execute("SELECT id FROM chunks WHERE page = ?", (url,))]
        self.db.executemany("DELETE FROM search WHERE rowid = ?", ids)
        self.db.executemany("DELETE FROM vectors WHERE id = ?", ids)
        self.db.execute("DELETE FROM chunks WHERE page = ?", (url,))
        self.db.execute("DELETE FROM pages WHERE url = ?", (url,))

    def counts(self) -> tuple[int, int]:
        """(pages, chunks) in the index being built."""
        return self.db.execute("SELECT count(*), coalesce(sum(chunks), 0) FROM pages").fetchone()

    def commit(self, meta: dict[str, str]) -> bool:
        """Embed new passages, finish the term tables, record ``meta`` and swap the new index in;
        or, when nothing changed, leave the current index as it is. True when one was swapped in."""
        if not self.changed and all(self.meta.get(key) == value for key, value in meta.items()):
            self.db.close()
            return False
        self._write()
        self.db.execute("DELETE FROM files WHERE url NOT IN (SELECT url FROM pages)")
        self.db.executemany("INSERT OR IGNORE INTO words VALUES (?, ?)", sorted(self._spelled))
        self._spelled, self._spelled_words = set(), set()  # their memory is the embedder's now
        self._embed()
        self.db.execute("DELETE FROM terms")
        self.db.execute("INSERT INTO terms SELECT term, doc FROM search_vocab")
        average = self.db.execute("SELECT avg(length(title) + length(body)) FROM search").fetchone()[0]
        meta = {**meta, "average_length": str(average or 1),
                "embedder": self.embedder.identity() if self.embedder else ""}
        self.db.execute("DELETE FROM words WHERE term NOT IN (SELECT term FROM terms)")
        spelt = [word for (word,) in self.db.execute("SELECT word FROM words").fetchall()]
        self.db.execute("DELETE FROM variants")
        self.db.executemany("INSERT INTO variants VALUES (?, ?)", _variants(spelt))
        self.db.execute("DELETE FROM sounds")
        self.db.executemany("INSERT INTO sounds VALUES (?, ?)",
                            ((sound, word) for word in spelt if (sound := sounds(word))))
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                            [*meta.items(), ("schema", SCHEMA_VERSION), ("settings", self.settings),
                             ("built_at", str(time.time()))])
        self.db.execute("COMMIT")
        self.db.execute("INSERT INTO search(search) VALUES('optimize')")
        self.db.execute("VACUUM")
        self.db.close()
        os.replace(self.temp, self.path)
        return True

    def _embed(self) -> None:
        """Vectors for the passages that have none (new or changed pages), unit length, float16."""
        if self.embedder is None:
            return
        size, last = self.embedder.options.batch_size, -1
        while batch := self.db.execute(
                "SELECT id, title, text FROM chunks c WHERE id > ? AND NOT EXISTS "
                "(SELECT 1 FROM vectors v WHERE v.id = c.id) ORDER BY id LIMIT ?", (last, size)).fetchall():
            last = batch[-1][0]
            vectors = unit(np.asarray(self.embedder.embed([f"{title}\n{text}" for _, title, text in batch]),
                                      dtype=np.float32))
            if vectors.shape[0] != len(batch):
                raise ValueError(f"the embedder returned {vectors.shape[0]} vectors for {len(batch)} passages")
            self.db.executemany("INSERT INTO vectors VALUES (?, ?)",
                                [(row[0], vector.astype(np.float16).tobytes()) for row, vector in zip(
                                    batch, vectors, strict=True)])

    def abort(self) -> None:
        self.db.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero)."""
    if vectors.ndim != 2:
        raise ValueError("an embedder must return one vector per text")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _leading(vectors: np.ndarray | None) -> np.ndarray | None:
    """The unit vectors of ``vectors``' first :data:`_LEADING` dimensions, when there are more than
    :data:`_SCAN_ALL` (None: a full scan is fast enough)."""
    if vectors is None or len(vectors) <= _SCAN_ALL or vectors.shape[1] <= _LEADING:
        return None
    return unit(np.ascontiguousarray(vectors[:, :_LEADING]))


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


def _variants(words: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Each word with one letter dropped, for finding a misspelt word's word (SymSpell, distance 1)."""
    for word in words:
        for variant in _deletions(word):
            yield variant, word


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
            if self.meta.get("schema") != SCHEMA_VERSION:
                raise IndexUnavailable(f"the index at {path} is from another version: run `chatkit index`")
            self.total = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            self.average_length = float(self.meta.get("average_length") or 1) or 1.0
            self.english = self._docs(["the"]).get("the", 0) >= _ENGLISH * self.total
            """Whether the site is written in English (a question's Spanish words cannot match it)."""
            self.embedder = self.meta.get("embedder", "")
            """Identity of the embedder that built the vectors ("" when there are none)."""
            self.ids, self.vectors = self._load_vectors()
            self.leading = _leading(self.vectors)
            """Unit vectors of the passages' first dimensions, scanned first at a large index (None: all in full)."""
            self.blank: np.ndarray = (np.zeros(0, dtype=bool) if self.vectors is None
                                      else np.logical_not(self.vectors.any(axis=1)))
            """Passages whose text the embedder knows no meaning of (a zero vector): words only."""
        except sqlite3.DatabaseError as error:
            raise IndexUnavailable(f"the index at {path} cannot be read ({error}): run `chatkit index`") from None

    def _load_vectors(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Passage ids (ascending) and their unit vectors as one float32 matrix, searched in memory."""
        count = self.db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        first = self.db.execute("SELECT vector FROM vectors LIMIT 1").fetchone()
        if not count or first is None:
            return np.zeros(0, dtype=np.int64), None
        ids = np.empty(count, dtype=np.int64)
        matrix = np.empty((count, len(first[0]) // 2), dtype=np.float32)  # read in slices: no second copy
        cursor = self.db.execute("SELECT id, vector FROM vectors ORDER BY id")
        filled = 0
        while rows := cursor.fetchmany(4096):
            ids[filled : filled + len(rows)] = [row[0] for row in rows]
            matrix[filled : filled + len(rows)] = np.frombuffer(b"".join(row[1] for row in rows),
                                                                dtype=np.float16).reshape(len(rows), -1)
            filled += len(rows)
        return ids[:filled], matrix[:filled]

    def close(self) -> None:
        self.db.close()

    def search(self, query: str, limit: int, min_score: float = 0.0,
               vector: np.ndarray | None = None) -> list[Passage]:
        """The best ``limit`` passages for ``query``, best first; with ``min_score``, the word
        side reads only passages that can reach it. ``vector`` is the question embedded by the
        embedder that built the index (None: words only)."""
        words = query_words(query)
        if not words:  # only stopwords: nothing to look for
            return []
        weights, absent = self._weights(words, asked_in_english(query))
        if self._unknown_name(names(query) & absent):
            return []
        joined = self._compounds(query, weights)
        total = sum(weight for weight, _ in weights.values())
        known = sorted((term for term, (_, found) in weights.items() if found), key=lambda t: -weights[t][0])
        wanted = max(_CANDIDATES, 4 * limit)
        candidates = self._lexical(known, weights, min_score * total, wanted) if known else {}
        if joined:  # "time out" asked, "timeout" written
            candidates.update((rowid, None) for (rowid,) in self.db.execute(
                "SELECT rowid FROM search WHERE search MATCH ? ORDER BY bm25(search, 2.0, 1.0) LIMIT ?",
                (" OR ".join(f'"{term}"' for term in joined), wanted)))
        meaning = self._similarity(vector) if vector is not None else None
        similar = self._nearest(meaning[0], wanted) if meaning is not None else {}
        candidates.update(dict.fromkeys(similar))
        if not candidates:
            return []
        similarity = self._complete(meaning, list(candidates)) if meaning is not None else None
        scored = []
        marks = ",".join("?" * len(candidates))
        for rowid, title, body in self.db.execute(f"SELECT rowid, title, body FROM search WHERE rowid IN ({marks})",
                                                  list(candidates)):
            words_, heading = body.split(), title.split()
            counts = {term: words_.count(term) + 2 * heading.count(term) for term in known}
            headed = set(heading)
            for term, parts in joined.items():  # a compound counts for the words it joins
                if found := words_.count(term) + 2 * heading.count(term):
                    counts.update((part, max(counts[part], found)) for part in parts if part in counts)
                    headed.update(parts if term in headed else ())
            share = sum(weights[term][0] for term in known if counts[term]) / total if total else 0.0
            row = np.searchsorted(self.ids, rowid)
            cosine = float(similarity[row]) if similarity is not None and not self.blank[row] else None
            titled = sum(weights[term][0] for term in known if term in headed) / total if total else 0.0
            scored.append((rowid, share, self._bm25(counts, known, weights, len(title) + len(body)), cosine, titled))
        placed = {rowid: _page_place(page, title, [(weights[t][0], t) for t in known], total)
                  for rowid, (page, title) in self._pages(list(candidates)).items()}
        best = self._diverse([(rowid, score) for rowid, score in _fuse(scored, list(similar), placed) if score > 0],
                             limit)
        if not best:
            return []
        rows = {row[0]: row[1:] for row in self.db.execute(
            f"SELECT id, url, title, text FROM chunks WHERE id IN ({','.join('?' * len(best))})",
            [rowid for rowid, _ in best])}
        return [Passage(text=rows[rowid][2], title=rows[rowid][1], url=rows[rowid][0], score=score)
                for rowid, score in best]

    def _pages(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        """The page (URL) and page title of each of ``ids``."""
        return {rowid: (page, title) for rowid, page, title in self.db.execute(
            f"SELECT c.id, c.page, p.title FROM chunks c JOIN pages p ON p.url = c.page "
            f"WHERE c.id IN ({','.join('?' * len(ids))})", ids)}

    def _diverse(self, ranked: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
        """The first ``limit`` of ``ranked`` with at most half of them from one page, so the
        passages a model gets can show another page that may hold the answer; when the ranking
        has too few pages, the rest of a page's passages fill the places left."""
        if len(ranked) <= limit:
            return ranked
        pages = dict(self.db.execute(f"SELECT id, page FROM chunks WHERE id IN ({','.join('?' * len(ranked))})",
                                     [rowid for rowid, _ in ranked]))
        per_page: dict[str, int] = {}
        chosen: list[tuple[int, float]] = []
        rest: list[tuple[int, float]] = []
        for item in ranked:
            page = pages.get(item[0], "")
            per_page[page] = per_page.get(page, 0) + 1
            (chosen if per_page[page] <= max(1, limit // 2) else rest).append(item)
        chosen = chosen[:limit]
        order = {rowid: place for place, (rowid, _) in enumerate(ranked)}
        return sorted(chosen + rest[: limit - len(chosen)], key=lambda item: order[item[0]])

    def _lexical(self, known: list[str], weights: dict[str, tuple[float, bool]], floor: float,
                 wanted: int) -> dict[int, None]:
        """Passages holding every required term, then those whose rare terms weigh most."""
        required = _required(known, weights, floor)
        candidates: dict[int, None] = {}
        if len(required) > 1:  # the passages holding every required term come first
            every = " AND ".join(f'"{term}"' for term in required)
            candidates.update((rowid, None) for (rowid,) in self.db.execute(
                "SELECT rowid FROM search WHERE search MATCH ? ORDER BY bm25(search, 2.0, 1.0) LIMIT ?",
                (every, wanted)))
        postings = max(_POSTINGS // 4, _POSTINGS // len(required))
        union = " UNION ALL ".join(
            ["SELECT * FROM (SELECT rowid, ? AS weight FROM search WHERE search MATCH ? LIMIT ?)"] * len(required))
        candidates.update((rowid, None) for (rowid,) in self.db.execute(
            f"SELECT rowid FROM ({union}) GROUP BY rowid ORDER BY sum(weight) DESC LIMIT ?",
            [*(value for term in required for value in (weights[term][0], f'"{term}"', postings)), wanted]))
        return candidates

    def _similarity(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Cosine of every passage with ``vector``, in ``self.ids`` order, and the question's unit
        vector (None without vectors). At a large index the passages' leading dimensions are
        scanned first and only the :data:`_SHORTLIST` nearest by them get their cosine in full;
        the others are NaN until :meth:`_complete` computes those a search scores."""
        query = unit(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        if self.vectors is None or query.shape[0] != self.vectors.shape[1] or not query.any():
            return None  # another embedder's vector (a guard), or one that knows no meaning of the question
        # numpy's own loop, not BLAS: a matrix-vector product gains nothing from BLAS threads,
        # which spin against other processes on a busy machine (4x slower here under load)
        if self.leading is None:
            return np.einsum("ij,j->i", self.vectors, query), query
        rough = np.einsum("ij,j->i", self.leading, unit(query[: _LEADING].reshape(1, -1))[0])
        shortlist = np.sort(np.argpartition(-rough, _SHORTLIST - 1)[:_SHORTLIST])  # in order: rows read in turn
        similarity = np.full(len(self.ids), np.nan, dtype=np.float32)
        similarity[shortlist] = np.einsum("ij,j->i", self.vectors[shortlist], query)
        return similarity, query

    def _complete(self, meaning: tuple[np.ndarray, np.ndarray], ids: list[int]) -> np.ndarray:
        """The cosines of :meth:`_similarity`, computed in full for the passages ``ids`` too."""
        similarity, query = meaning
        if self.leading is not None and self.vectors is not None:
            rows = np.searchsorted(self.ids, ids)
            missing = rows[np.isnan(similarity[rows])]
            similarity[missing] = np.einsum("ij,j->i", self.vectors[missing], query)
        return similarity

    def _nearest(self, similarity: np.ndarray, wanted: int) -> dict[int, float]:
        """The ``wanted`` passages of highest ``similarity``, nearest first."""
        count = min(wanted, len(similarity))
        similarity = np.nan_to_num(similarity, nan=-1.0)  # beyond the shortlist: not among the nearest
        nearest = np.argpartition(-similarity, count - 1)[:count]
        nearest = nearest[np.argsort(-similarity[nearest])]
        return {int(self.ids[i]): float(similarity[i]) for i in nearest}

    def _bm25(self, counts: dict[str, int], terms: list[str], weights: dict[str, tuple[float, bool]],
              length: int) -> float:
        """BM25 of one passage (title terms counted twice), to order passages of equal share."""
        norm = _K1 * (1 - _B + _B * length / self.average_length)
        return sum(weights[t][0] * counts[t] * (_K1 + 1) / (counts[t] + norm) for t in terms if counts[t])

    def _unknown_name(self, absent: set[str]) -> bool:
        """Whether one of the names a question uses (``absent``: none of them is an indexed
        term) is unknown to the site, even as the start of a longer word or a longer one's
        start ("Postgres", "PostgreSQL"): a site that never names Heroku cannot say how to deploy
        there, however near in meaning its pages on deploying are."""
        for name in absent:
            starts = [name[:end] for end in range(_NAME_START, min(len(name), _WORD_MAX))]
            if len(name) < _NAME_STEM or not self.db.execute(
                    f"SELECT 1 FROM words WHERE (word >= ? AND word < ?) OR word IN ({','.join('?' * len(starts))}) "
                    "LIMIT 1", [name, name + "\uffff", *starts]).fetchone():
                return True
        return False

    def _weights(self, words: list[tuple[str, str]], english: bool = False
                 ) -> tuple[dict[str, tuple[float, bool]], set[str]]:
        """Each query term -> (IDF weight, in the index), and the words whose term is not in the
        index. A misspelt word (not a real word, not in the index; in a question asked in English,
        ``english``, also a word only another language has) is replaced by the term of the
        indexed word one edit away, which then counts for a share of its weight only. A real
        word the site never uses ("refund") counts fully against every passage."""
        docs = self._docs([term for _, term in words])
        weights: dict[str, tuple[float, bool]] = {}
        absent: set[str] = set()
        for word, term in words:
            factor = 1.0
            if term not in docs and TYPO_MIN <= len(word) <= _WORD_MAX and word.isalpha() and not is_cjk(word) \
                    and misspelt(word, english):
                corrected = self._correct(word)
                if corrected:
                    (term, docs[term]), factor = corrected, _CORRECTED
            if term not in docs and (is_cjk(term) or (self.english and is_foreign(word))):
                continue  # a pair straddling two words, or a word no English page holds: it says nothing
            if term not in docs:
                absent.add(word)
            if term not in weights:
                weights[term] = (factor * _idf(docs.get(term, 0), self.total), term in docs)
        return weights, absent

    def _compounds(self, query: str, weights: dict[str, tuple[float, bool]]) -> dict[str, tuple[str, ...]]:
        """The question's neighbouring words written as one indexed word (:func:`compounds`), each
        with the terms it stands for; not a term the question has on its own. A part the site
        never writes alone ("log" of "login") is found through it, at its weight."""
        pairs = {term: parts for term, parts in compounds(query).items() if term not in weights and parts}
        found = self._docs(list(pairs)) if pairs else {}
        for term, docs in found.items():
            for part in pairs[term]:
                if part in weights and not weights[part][1]:
                    weights[part] = (_idf(docs, self.total), True)
        return {term: pairs[term] for term in found}

    def _docs(self, terms: list[str]) -> dict[str, int]:
        marks = ",".join("?" * len(terms))
        return dict(self.db.execute(f"SELECT term, docs FROM terms WHERE term IN ({marks})", terms)) if terms else {}

    def _correct(self, word: str) -> tuple[str, int] | None:
        """The term of the most common indexed word one edit away from ``word`` (a letter added,
        dropped, changed, or two neighbours swapped); two edits for a long word ("transacton",
        "authentification")."""
        deleted = _deletions(word)
        rows = self._near([w for w in deleted if len(w) >= TYPO_MIN], [word, *deleted])
        found = next(((term, docs) for near, term, docs in rows if len(word) >= _TYPO_LONG or _one_edit(word, near)),
                     None)
        if found is None and len(word) >= _TYPO_LONG:  # two letters too many, or one and another changed
            twice = set().union(*map(_deletions, deleted))
            rows = self._near(list(twice), list(twice))
            found = next(((term, docs) for near, term, docs in rows if distance(word, near) <= 2), None)
        return found or self._sounding(word)

    def _near(self, exact: list[str], variants: list[str]) -> list[tuple[str, str, int]]:
        """Indexed words among ``exact``, or having one of ``variants`` as a one-letter deletion,
        with their terms and how many passages hold them, the most common first."""
        return self.db.execute(
            f"SELECT w.word, t.term, t.docs FROM words w JOIN terms t ON t.term = w.term "
            f"WHERE w.word IN ({','.join('?' * len(exact)) or 'NULL'}) OR w.word IN "
            f"(SELECT word FROM variants WHERE variant IN ({','.join('?' * len(variants)) or 'NULL'})) "
            f"ORDER BY t.docs DESC", [*exact, *variants]).fetchall()

    def _sounding(self, word: str) -> tuple[str, int] | None:
        """The term of the most common indexed word that sounds like ``word`` (Metaphone) and is at
        most :data:`_SOUND_LENGTH` letters longer or shorter: "migrashun" for "migration"."""
        sound = sounds(word)
        rows = self.db.execute(
            "SELECT s.word, t.term, t.docs FROM sounds s JOIN words w ON w.word = s.word "
            "JOIN terms t ON t.term = w.term WHERE s.sound = ? ORDER BY t.docs DESC", (sound,)) if sound else []
        return next(((term, docs) for found, term, docs in rows if abs(len(found) - len(word)) <= _SOUND_LENGTH), None)

    def status(self) -> dict[str, object]:
        pages, chunks = self.db.execute("SELECT count(*), coalesce(sum(chunks), 0) FROM pages").fetchone()
        return {"pages": pages, "chunks": chunks, "built_at": float(self.meta.get("built_at", 0)),
                "sources": json.loads(self.meta.get("sources", "[]")), "embedder": self.embedder}


def _page_place(page: str, title: str, known: list[tuple[float, str]], total: float) -> float:
    """What a passage's page adds to its place in the ranking, never to its score: the share of the
    question's informative words (``known``: weight, term) in the page's name, and less for a
    changelog or release notes (by name or title)."""
    slug = _slug(page)
    plain = _plain(slug)
    named = 0.0
    if total and any(term[:3] in plain for _, term in known):  # most pages: no need to read its name's words
        named = sum(weight for weight, term in known if term in _slug_terms(slug)) / total
    changelog = _CHANGELOG_NAME.search(slug) or _CHANGELOG_NAME.search(title)
    return _NAMED * named - (_CHANGELOG if changelog else 0.0)


def _slug(page: str) -> str:
    """A page's name: the last part of its URL's path ("/Reference/HTTP2#plain": "HTTP2")."""
    return page.split("#")[0].rstrip("/").rsplit("/", 1)[-1]


@functools.lru_cache(maxsize=4096)
def _slug_terms(slug: str) -> frozenset[str]:
    """The terms of a page's name: "HTTP2": http2, http, 2; "isolation.html": isol."""
    return frozenset(terms(re.sub(r"\.\w+$", "", slug).replace("-", " ").replace("_", " ")))


def _fuse(scored: list[tuple[int, float, float, float | None, float]], similar: list[int],
          placed: dict[int, float] | None = None) -> list[tuple[int, float]]:
    """(passage id, score), best first. The candidates of both sides are ranked by
    :func:`relevance`, which weighs words and meaning together, plus the share of the question's
    words in their headings (:data:`_HEADING`) and what their page adds (``placed``:
    :func:`_page_place`); reciprocal rank fusion of the
    word ranking (share, then BM25) and the meaning ranking (cosine) breaks ties. On the
    development sites, ranking by relevance put the right page among the first four more often
    than reciprocal rank fusion alone (Fastify 28 vs 26 of 35, SQLite 31 vs 30)."""
    by_words = sorted((item for item in scored if item[1] > 0), key=lambda item: (-item[1], -item[2]))
    fused: dict[int, float] = {item[0]: 0.0 for item in scored}
    for rank, item in enumerate(by_words):
        fused[item[0]] += 1 / (_FUSION + rank)
    for rank, rowid in enumerate(similar):
        fused[rowid] = fused.get(rowid, 0.0) + 1 / (_FUSION + rank)
    scores = {rowid: relevance(share, cosine) for rowid, share, _, cosine, _ in scored}
    titled = {item[0]: item[4] for item in scored}
    placed = placed or {}
    return sorted(scores.items(), key=lambda item: (
        -(item[1] + _HEADING * titled[item[0]] + placed.get(item[0], 0.0)), -fused[item[0]]))


def relevance(share: float, cosine: float | None) -> float:
    """How surely a passage answers, 0 to 1: the share of the question's informative words it
    holds, raised or lowered by how near its meaning is (cosine above or below a typical
    unrelated passage's). Words only (no vectors): the share alone.

    Calibrated on the development sites of bench/eval (Fastify, SQLite) and the demo bakery
    with the default ``min_score`` 0.35 (see docs/benchmarks.md for what it declines)."""
    if cosine is None:
        return round(share, 4)
    return round(min(1.0, max(0.0, share + _MEANING * (cosine - _UNRELATED))), 4)
