"""The built-in ``sqlite`` session store: durable, shared by several worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from chatkit_core.builtins.sqlite_attachments import ATTACHMENTS_SCHEMA, SQLiteAttachments
from chatkit_core.builtins.sqlite_console import CONSOLE_SCHEMA, SQLiteListing
from chatkit_core.builtins.sqlite_handoffs import HANDOFF_SCHEMA, SQLiteHandoffs
from chatkit_core.builtins.sqlite_io import Busy, Immediate, erase_before, scrub, sqlite_path, take_turn
from chatkit_core.builtins.sqlite_migrations import migrate
from chatkit_core.chat.health import Health
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions, StoreUnavailable, unanswered
from chatkit_core.codec import decode_message, decode_metadata, encode
from chatkit_core.models import Feedback, Message, Session

T = TypeVar("T")

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


class SQLiteOptions(SessionStoreOptions, kw_only=True, forbid_unknown_fields=True):
    url: str = "sqlite:///chatkit.sqlite3"
    """The database file; a relative path starts from the config file's folder."""


class SQLiteStore(SQLiteListing, SQLiteHandoffs, SQLiteAttachments, SessionStore):
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

    Options = SQLiteOptions

    def __init__(self, options: SessionStoreOptions) -> None:
        super().__init__(options)
        self.path = sqlite_path(options.url)
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._background: sqlite3.Connection | None = None
        self._chores: asyncio.Task[None] | None = None
        self._lock: int | None = None
        """The loop's descriptor of the lock file; the thread has its own, as ``flock`` locks
        belong to an open file, and the two must exclude each other."""
        self._thread_lock: int | None = None
        self.erased = False
        """Something was erased since the last :meth:`scrub`."""

    async def start(self) -> None:
        try:
            if self.path != ":memory:":  # conversations are private: owner only, whatever the umask
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = self._connect(_PATIENCE)  # workers starting together wait for each other
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.executescript(CONSOLE_SCHEMA)
            self._db.executescript(HANDOFF_SCHEMA)
            self._db.executescript(ATTACHMENTS_SCHEMA)
            with Immediate(self._db):
                migrate(self._db)
            self._db.execute("PRAGMA busy_timeout=0")  # the loop never sleeps on a lock
            if self.path != ":memory:":
                self._lock, self._thread_lock = (os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
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
                if await self._off_loop(self._queued, erase_before, time.time() - self.ttl):
                    self.erased = True
                if self.erased:
                    await self.scrub()
            await asyncio.sleep(_SWEEP_EVERY)

    async def scrub(self) -> None:
        """Leave nothing of erased conversations in the file: merge the search index's segments (they
        keep the words of deleted rows until merged) and move the write-ahead log into the database,
        emptying it. Runs after erasures, at most once a sweep."""
        self.erased = False
        await self._off_loop(self._queued, scrub)

    def _connect(self, timeout: float) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # what is erased is overwritten, not left in free pages
        return db

    def _now(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` on the loop; :class:`Busy` if SQLite's lock is taken."""
        try:
            return function(self.db, *args)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY and self._thread is not None:
                raise Busy from error
            raise StoreUnavailable(f"sqlite: {error}") from error
        except sqlite3.Error as error:
            raise StoreUnavailable(f"sqlite: {error}") from error

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        """A read on the loop; on the thread in the rare case that it finds SQLite locked."""
        try:
            return self._now(function, *args)
        except Busy:
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
            except Busy:  # a process without the lock file writes: wait for it on the thread
                pass
            finally:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
        return await self._off_loop(self._queued, function, *args)

    def _queued(self, db: sqlite3.Connection, function: Callable[..., T], *args: Any) -> T:
        """On the thread: wait for the lock file, then write."""
        if self._thread_lock is None:  # ":memory:": one connection, no other process
            return function(db, *args)
        take_turn(self._thread_lock, _PATIENCE)
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
        with Immediate(db):
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
        with Immediate(db):
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
        with Immediate(db):
            history = self._messages(db, session_id, limit)
            if history is None or unanswered(history, question):
                return history
            self._add(db, session_id, question)
        return [*history, question][-limit:]

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        return await self._write(self._ask, session_id, question, limit)

    def _delete(self, db: sqlite3.Connection, session_id: str) -> bool:
        with Immediate(db):
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    async def delete(self, session_id: str) -> bool:
        deleted = await self._write(self._delete, session_id)
        self.erased = self.erased or deleted
        return deleted

    async def count(self) -> int:
        row = await self._run(lambda db: db.execute(
            "SELECT count(*) FROM sessions WHERE last_seen > ?", (time.time() - self.ttl,)).fetchone())
        return row[0]

    def _set_feedback(self, db: sqlite3.Connection, session_id: str, message_id: str,
                      feedback: Feedback) -> Message | None:
        with Immediate(db):
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

    async def health(self) -> Health:
        try:
            await self._run(lambda db: db.execute("SELECT 1").fetchone())
        except StoreUnavailable as error:
            return Health("down", str(error))
        return Health("up")
