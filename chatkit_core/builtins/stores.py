"""Built-in session stores: ``memory`` (one process) and ``sqlite`` (durable, several workers)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from chatkit_core import hookimpl
from chatkit_core.chat.health import Health
from chatkit_core.chat.listing import (
    ConversationPage,
    ConversationQuery,
    ConversationSummary,
    Flags,
    Listing,
    decode_cursor,
    encode_cursor,
    summary,
    words,
)
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions, StoreUnavailable, unanswered
from chatkit_core.codec import decode_message, decode_metadata, encode
from chatkit_core.models import Feedback, Message, Session

T = TypeVar("T")


class MemoryOptions(SessionStoreOptions, kw_only=True, forbid_unknown_fields=True):
    max_sessions: int = 100_000
    """Beyond this a session is dropped: the oldest that never got a message, else the least
    recently active one."""


class _Conversation:
    __slots__ = ("messages", "session")

    def __init__(self, session: Session, max_messages: int) -> None:
        self.session = session
        self.messages: deque[Message] = deque(maxlen=max_messages)


class MemoryStore(SessionStore, Listing):
    """Sessions in a dict ordered by last activity, so expiry and eviction pop from the front.

    When full, a new session first displaces sessions nobody has written in yet, oldest
    first, so a flood of new sessions does not end conversations in progress.
    """

    Options = MemoryOptions
    options: MemoryOptions

    def __init__(self, options: MemoryOptions) -> None:
        super().__init__(options)
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._unused: OrderedDict[str, None] = OrderedDict()
        """Sessions without a message yet, oldest first."""

    async def create(self, metadata: dict[str, Any]) -> Session:
        self._expire()
        while len(self._conversations) >= self.options.max_sessions:
            self._evict()
        session = self._new_session(metadata)
        self._conversations[session.id] = _Conversation(session, self.options.max_messages)
        self._unused[session.id] = None
        return session

    def _evict(self) -> None:
        if self._unused:
            self._conversations.pop(self._unused.popitem(last=False)[0], None)
        else:
            self._conversations.popitem(last=False)

    def _live(self, session_id: str) -> _Conversation | None:
        conversation = self._conversations.get(session_id)
        if conversation and time.time() - conversation.session.last_seen > self.ttl:
            del self._conversations[session_id]
            self._unused.pop(session_id, None)
            return None
        return conversation

    def _expire(self) -> None:
        cutoff = time.time() - self.ttl
        while self._conversations:
            oldest = next(iter(self._conversations.values()))
            if oldest.session.last_seen > cutoff:
                break
            self._unused.pop(self._conversations.popitem(last=False)[0], None)

    async def get(self, session_id: str) -> Session | None:
        conversation = self._live(session_id)
        return conversation.session if conversation else None

    async def append(self, session_id: str, message: Message) -> bool:
        conversation = self._live(session_id)
        if conversation is None:
            return False
        conversation.messages.append(message)
        conversation.session.last_seen = time.time()
        self._conversations.move_to_end(session_id)
        self._unused.pop(session_id, None)
        return True

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        conversation = self._live(session_id)
        if conversation is None:
            return None
        items = list(conversation.messages)
        return items[-limit:] if limit else items

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        history = await self.messages(session_id, limit)
        if history is None or unanswered(history, question):
            return history
        await self.append(session_id, question)
        return [*history, question][-limit:]

    async def delete(self, session_id: str) -> bool:
        self._unused.pop(session_id, None)
        return self._conversations.pop(session_id, None) is not None

    async def count(self) -> int:
        self._expire()
        return len(self._conversations)

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        conversation = self._live(session_id)
        for message in conversation.messages if conversation else ():
            if message.id == message_id and message.role == "assistant":
                message.feedback = feedback
                return message
        return None

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        """A scan, newest first: one process holds few enough conversations for that."""
        after = decode_cursor(cursor) if cursor else None
        self._expire()
        wanted = set(words(query.text))
        found: list[ConversationSummary] = []
        ordered = sorted(self._conversations.values(), key=lambda c: (c.session.created_at, c.session.id),
                         reverse=True)
        for conversation in ordered:
            session, messages = conversation.session, list(conversation.messages)
            if not messages or (after and (session.created_at, session.id) >= after):
                continue
            if (query.since is not None and session.created_at < query.since) or (
                    query.until is not None and session.created_at >= query.until):
                continue
            if not Flags.of(messages).match(query):
                continue
            if wanted and not wanted <= {w for m in messages for w in words(m.content)}:
                continue
            if len(found) == limit:
                return ConversationPage(items=found, next=encode_cursor(found[-1].created_at, found[-1].id))
            found.append(summary(session, messages))
        return ConversationPage(items=found)

    async def erase_inactive(self, before: float) -> int:
        gone = [key for key, c in self._conversations.items() if c.session.last_seen < before]
        for key in gone:
            del self._conversations[key]
        return len(gone)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, last_seen REAL NOT NULL, metadata BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_last_seen ON sessions (last_seen);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, seq);
"""



_PATIENCE = 10.0
"""Seconds the background thread waits for SQLite's write lock (held by a process that does
not take the lock file, such as the CLI) before the store counts as unavailable."""
_SWEEP_EVERY = 60.0
"""Seconds between deletions of expired sessions."""


class SQLiteStore(SessionStore, Listing):
    """Sessions in a SQLite file in WAL mode.

    Several worker processes may share the file: each opens its own connections at start-up,
    and writes are short ``BEGIN IMMEDIATE`` transactions. Calls run on the event loop: each
    is a few indexed statements on pages the OS has cached, cheaper than a hop to a thread.

    Workers take turns to write through an exclusive ``flock`` on ``<file>.lock``, polled every
    half millisecond by a waiting writer, where SQLite's own busy handler sleeps in steps up
    to 100 ms; a writer gives up after ``_PATIENCE`` seconds, even behind a frozen worker.
    A write whose lock is taken runs on a thread of its own with a second connection, which
    waits for it, so the loop never sleeps on a lock. Work of unbounded size runs there too:
    deleting expired sessions, and the console's listing, search and retention erase.
    """

    def __init__(self, options: SessionStoreOptions) -> None:
        super().__init__(options)
        self.path = _sqlite_path(options.url)
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._background: sqlite3.Connection | None = None
        self._chores: asyncio.Task[None] | None = None
        self._lock: int | None = None
        """The loop's descriptor of the lock file; the thread has its own, as ``flock`` locks
        belong to an open file, and the two must exclude each other."""
        self._thread_lock: int | None = None

    async def start(self) -> None:
        try:
            self._db = self._connect(_PATIENCE)  # workers starting together wait for each other
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.executescript(_CONSOLE_SCHEMA)
            self._db.execute("PRAGMA busy_timeout=0")  # the loop never sleeps on a lock
            if self.path != ":memory:":
                self._lock, self._thread_lock = (os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                                                 for _ in range(2))
        except (sqlite3.Error, OSError) as error:
            await self.close()
            raise StoreUnavailable(f"sqlite: {error}") from error
        if self.path != ":memory:":  # a second connection to ":memory:" would open another database
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatkit-sqlite")
            self._background = await asyncio.get_running_loop().run_in_executor(self._thread, self._connect, _PATIENCE)
            self._chores = asyncio.create_task(self._chores_forever())

    async def close(self) -> None:
        if self._chores is not None:
            self._chores.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._chores
            self._chores = None
        if self._thread is not None:
            if self._background is not None:
                self._thread.submit(self._background.close)
                self._background = None
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._db is not None:
            self._db.close()
            self._db = None
        for descriptor in (self._lock, self._thread_lock):
            if descriptor is not None:
                os.close(descriptor)
        self._lock = self._thread_lock = None

    async def _off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` on the background thread (on the loop for ":memory:"),
        whose connection waits up to :data:`_PATIENCE` for another worker's write lock."""
        if self._thread is None:
            return await self._run(function, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, function, self._background, *args)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"sqlite: {error}") from error

    async def _chores_forever(self) -> None:
        while True:
            with contextlib.suppress(StoreUnavailable):  # tried again next time
                await self._off_loop(self._queued, _erase, time.time() - self.ttl)
            await asyncio.sleep(_SWEEP_EVERY)

    def _connect(self, timeout: float) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _now(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` on the loop; :class:`_Busy` if SQLite's lock is taken."""
        try:
            return function(self.db, *args)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY and self._thread is not None:
                raise _Busy from error
            raise StoreUnavailable(f"sqlite: {error}") from error
        except sqlite3.Error as error:
            raise StoreUnavailable(f"sqlite: {error}") from error

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        """A read on the loop; on the thread in the rare case that it finds SQLite locked."""
        try:
            return self._now(function, *args)
        except _Busy:
            return await self._off_loop(function, *args)

    async def _write(self, function: Callable[..., T], *args: Any) -> T:
        """A write transaction on the loop when the lock file is free, else queued on the thread."""
        if self._lock is None:
            return await self._run(function, *args)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            try:
                return self._now(function, *args)
            except _Busy:  # a process without the lock file writes: wait for it on the thread
                pass
            finally:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
        return await self._off_loop(self._queued, function, *args)

    def _queued(self, db: sqlite3.Connection, function: Callable[..., T], *args: Any) -> T:
        """On the thread: wait for the lock file, then write."""
        if self._thread_lock is None:  # ":memory:": one connection, no other process
            return function(db, *args)
        _take_turn(self._thread_lock, _PATIENCE)
        try:
            return function(db, *args)
        finally:
            fcntl.flock(self._thread_lock, fcntl.LOCK_UN)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("sqlite store is not open")
        return self._db

    async def create(self, metadata: dict[str, Any]) -> Session:
        session = self._new_session(metadata)
        await self._write(self._insert, session)
        return session

    def _insert(self, db: sqlite3.Connection, session: Session) -> None:
        with _Immediate(db):
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                            (session.id, session.created_at, session.last_seen, encode(session.metadata)))

    def _row(self, db: sqlite3.Connection, session_id: str) -> Session | None:
        row = db.execute("SELECT id, created_at, last_seen, metadata FROM sessions WHERE id = ? AND last_seen > ?",
                              (session_id, time.time() - self.ttl)).fetchone()
        if row is None:
            return None
        return Session(id=row[0], created_at=row[1], last_seen=row[2], metadata=decode_metadata(row[3]))

    async def get(self, session_id: str) -> Session | None:
        return await self._run(self._row, session_id)

    def _append(self, db: sqlite3.Connection, session_id: str, message: Message) -> bool:
        with _Immediate(db):
            return self._add(db, session_id, message)

    def _add(self, db: sqlite3.Connection, session_id: str, message: Message) -> bool:
        now = time.time()
        updated = db.execute("UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen > ?",
                                  (now, session_id, now - self.ttl)).rowcount
        if not updated:
            return False
        db.execute("INSERT INTO messages (session_id, body) VALUES (?, ?)", (session_id, encode(message)))
        # Older than the newest ``max_messages``: a walk down the index, not a scan of the conversation.
        db.execute(
            "DELETE FROM messages WHERE session_id = ? AND seq <= "
            "(SELECT seq FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (session_id, session_id, self.options.max_messages))
        return True

    async def append(self, session_id: str, message: Message) -> bool:
        return await self._write(self._append, session_id, message)

    def _messages(self, db: sqlite3.Connection, session_id: str, limit: int | None) -> list[Message] | None:
        live = db.execute("SELECT 1 FROM sessions WHERE id = ? AND last_seen > ?",
                               (session_id, time.time() - self.ttl)).fetchone()
        if live is None:
            return None
        rows = db.execute("SELECT body FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?",
                               (session_id, limit or -1)).fetchall()
        return [decode_message(row[0]) for row in reversed(rows)]

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        return await self._run(self._messages, session_id, limit)

    def _ask(self, db: sqlite3.Connection, session_id: str, question: Message, limit: int) -> list[Message] | None:
        with _Immediate(db):
            history = self._messages(db, session_id, limit)
            if history is None or unanswered(history, question):
                return history
            self._add(db, session_id, question)
        return [*history, question][-limit:]

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        return await self._write(self._ask, session_id, question, limit)

    def _delete(self, db: sqlite3.Connection, session_id: str) -> bool:
        with _Immediate(db):
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    async def delete(self, session_id: str) -> bool:
        return await self._write(self._delete, session_id)

    async def count(self) -> int:
        row = await self._run(lambda db: db.execute(
            "SELECT count(*) FROM sessions WHERE last_seen > ?", (time.time() - self.ttl,)).fetchone())
        return row[0]

    def _set_feedback(self, db: sqlite3.Connection, session_id: str, message_id: str,
                      feedback: Feedback) -> Message | None:
        with _Immediate(db):
            if self._row(db, session_id) is None:
                return None
            row = db.execute(
                "SELECT seq, body FROM messages WHERE session_id = ? AND json_extract(body, '$.id') = ?"
                " AND json_extract(body, '$.role') = 'assistant'", (session_id, message_id)).fetchone()
            if row is None:
                return None
            message = decode_message(row[1])
            message.feedback = feedback
            db.execute("UPDATE messages SET body = ? WHERE seq = ?", (encode(message), row[0]))
        return message

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        return await self._write(self._set_feedback, session_id, message_id, feedback)

    def _list(self, db: sqlite3.Connection, query: ConversationQuery, cursor: str | None,
              limit: int) -> ConversationPage:
        where: list[str] = ["s.last_seen > ?"]
        args: list[float | str] = [time.time() - self.ttl]
        for flag, column in _FLAG_COLUMNS.items():
            if getattr(query, flag):
                where.append(f"c.{column} > 0")
        if query.provider:
            where.append("EXISTS (SELECT 1 FROM conversation_providers p WHERE p.session_id = c.session_id"
                         " AND p.provider = ? AND p.answers > 0)")
            args.append(query.provider)
        wanted = ['"' + word + '"' for word in dict.fromkeys(words(query.text))]
        # A rare word drives the query from its hits; common ones are checked while walking
        # the conversations newest first (``+`` keeps the planner from driving from them).
        driving = "" if wanted and min(_hits(db, word) for word in wanted) <= _DRIVING_HITS else "+"
        for word in wanted:
            where.append(f"{driving}c.seq IN (SELECT rowid >> 32 FROM messages_fts WHERE messages_fts MATCH ?)")
            args.append(word)
        if query.since is not None:
            where.append("c.created_at >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("c.created_at < ?")
            args.append(query.until)
        if cursor:
            where.append("(c.created_at, c.session_id) < (?, ?)")
            args.extend(decode_cursor(cursor))
        rows = db.execute(_LIST.format(where=" AND ".join(where)), (*args, limit + 1)).fetchall()
        more, rows = len(rows) > limit, rows[:limit]
        providers: dict[str, list[str]] = {}
        for session_id, provider in db.execute(
                f"SELECT session_id, provider FROM conversation_providers WHERE answers > 0 AND session_id IN "
                f"({', '.join('?' * len(rows))}) ORDER BY provider", [row[0] for row in rows]):
            providers.setdefault(session_id, []).append(provider)
        items = [_summary_row(row, providers.get(row[0], [])) for row in rows]
        return ConversationPage(items=items, next=encode_cursor(items[-1].created_at, items[-1].id) if more else None)

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        if cursor:
            decode_cursor(cursor)  # a bad cursor is the caller's error, not the store's
        return await self._off_loop(self._list, query, cursor, limit)

    async def erase_inactive(self, before: float) -> int:
        return await self._off_loop(self._queued, _erase, before)

    async def health(self) -> Health:
        try:
            await self._run(lambda db: db.execute("SELECT 1").fetchone())
        except StoreUnavailable as error:
            return Health("down", str(error))
        return Health("up")


# What the console lists and searches, kept up to date by triggers on ``messages`` so the
# chat's own writes stay as they are: per-conversation counts behind the filters (partial
# indexes keep a filtered page fast), the providers that answered, and an FTS5 index over
# message text whose rowid is the conversation's ``seq`` (high 32 bits) and the message's, so
# a search yields conversations without reading any text back.
_CONSOLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    created_at REAL NOT NULL, title TEXT NOT NULL DEFAULT '', messages INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0, incomplete INTEGER NOT NULL DEFAULT 0,
    fell_back INTEGER NOT NULL DEFAULT 0, unsourced INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_newest ON conversations (created_at, session_id);
CREATE INDEX IF NOT EXISTS conversations_down ON conversations (created_at, session_id) WHERE down > 0;
CREATE INDEX IF NOT EXISTS conversations_incomplete ON conversations (created_at, session_id) WHERE incomplete > 0;
CREATE INDEX IF NOT EXISTS conversations_fell_back ON conversations (created_at, session_id) WHERE fell_back > 0;
CREATE INDEX IF NOT EXISTS conversations_unsourced ON conversations (created_at, session_id) WHERE unsourced > 0;
CREATE TABLE IF NOT EXISTS conversation_providers (
    session_id TEXT NOT NULL REFERENCES conversations (session_id) ON DELETE CASCADE,
    provider TEXT NOT NULL, answers INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (session_id, provider)
);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS conversations_console_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM messages_fts WHERE rowid BETWEEN OLD.seq << 32 AND (OLD.seq << 32) + 4294967295;
END;
CREATE TRIGGER IF NOT EXISTS messages_console_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO conversations (session_id, created_at)
        SELECT id, created_at FROM sessions WHERE id = NEW.session_id;
    UPDATE conversations SET
        messages = messages + 1,
        title = CASE WHEN title = '' AND json_extract(NEW.body, '$.role') = 'user'
                     THEN substr(json_extract(NEW.body, '$.content'), 1, 200) ELSE title END,
        down = down + (json_extract(NEW.body, '$.feedback.rating') IS 'down'),
        incomplete = incomplete + (json_extract(NEW.body, '$.incomplete') IS 1),
        fell_back = fell_back + (ifnull(json_array_length(NEW.body, '$.fallbacks'), 0) > 0),
        unsourced = unsourced + (json_extract(NEW.body, '$.role') = 'assistant'
                                 AND ifnull(json_array_length(NEW.body, '$.sources'), 0) = 0)
        WHERE session_id = NEW.session_id;
    INSERT INTO conversation_providers (session_id, provider, answers)
        SELECT NEW.session_id, json_extract(NEW.body, '$.provider'), 1
        WHERE json_extract(NEW.body, '$.provider') IS NOT NULL
        ON CONFLICT (session_id, provider) DO UPDATE SET answers = answers + 1;
    INSERT INTO messages_fts (rowid, content)
        SELECT (seq << 32) + (NEW.seq & 4294967295), json_extract(NEW.body, '$.content')
        FROM conversations WHERE session_id = NEW.session_id;
END;
CREATE TRIGGER IF NOT EXISTS messages_console_delete AFTER DELETE ON messages BEGIN
    UPDATE conversations SET
        messages = messages - 1,
        down = down - (json_extract(OLD.body, '$.feedback.rating') IS 'down'),
        incomplete = incomplete - (json_extract(OLD.body, '$.incomplete') IS 1),
        fell_back = fell_back - (ifnull(json_array_length(OLD.body, '$.fallbacks'), 0) > 0),
        unsourced = unsourced - (json_extract(OLD.body, '$.role') = 'assistant'
                                 AND ifnull(json_array_length(OLD.body, '$.sources'), 0) = 0)
        WHERE session_id = OLD.session_id;
    UPDATE conversation_providers SET answers = answers - 1
        WHERE session_id = OLD.session_id AND provider = json_extract(OLD.body, '$.provider');
    DELETE FROM messages_fts WHERE rowid =
        (SELECT (seq << 32) + (OLD.seq & 4294967295) FROM conversations WHERE session_id = OLD.session_id);
END;
CREATE TRIGGER IF NOT EXISTS messages_console_rate AFTER UPDATE OF body ON messages BEGIN
    UPDATE conversations SET down = down - (json_extract(OLD.body, '$.feedback.rating') IS 'down')
                                         + (json_extract(NEW.body, '$.feedback.rating') IS 'down')
        WHERE session_id = NEW.session_id;
END;
"""

_DRIVING_HITS = 2000

_FLAG_COLUMNS = {"thumbs_down": "down", "incomplete": "incomplete", "fell_back": "fell_back",
                 "unsourced": "unsourced"}

_LIST = """
SELECT c.session_id, c.created_at, s.last_seen, c.title, c.messages, c.down, c.incomplete, c.fell_back, c.unsourced
FROM conversations c JOIN sessions s ON s.id = c.session_id
WHERE c.messages > 0 AND {where}
ORDER BY c.created_at DESC, c.session_id DESC LIMIT ?
"""


def _summary_row(row: tuple, providers: list[str]) -> ConversationSummary:
    return ConversationSummary(
        id=row[0], created_at=row[1], last_seen=row[2], title=row[3], messages=row[4], thumbs_down=row[5] > 0,
        incomplete=row[6] > 0, fell_back=row[7] > 0, unsourced=row[8] > 0, providers=providers)


def _hits(db: sqlite3.Connection, word: str) -> int:
    row = db.execute("SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)",
                     (word, _DRIVING_HITS + 1)).fetchone()
    return row[0]


def _erase(db: sqlite3.Connection, before: float) -> int:
    """Delete the sessions inactive since ``before``, their messages and console rows with them."""
    with _Immediate(db):
        return db.execute("DELETE FROM sessions WHERE last_seen < ?", (before,)).rowcount


def _take_turn(descriptor: int, patience: float) -> None:
    """The lock file, waited for in steps of half a millisecond (a blocking ``flock`` would wait
    for ever behind a frozen worker); ``database is locked`` after ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked (another worker holds the lock file)") from None
            time.sleep(0.0005)


class _Busy(Exception):
    """SQLite's write lock is held by another connection."""


class _Immediate:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock up front so writers queue, not deadlock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _sqlite_path(url: str) -> str:
    if not url:
        return "chatkit.sqlite3"
    if not url.startswith("sqlite://"):
        raise ValueError(f"url must look like sqlite:///path/to/file.sqlite3, got {url!r}")
    return url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite:///") else url[9:]


@hookimpl
def register_session_stores(register):
    register("memory", MemoryStore)
    register("sqlite", SQLiteStore)
