"""Built-in session stores: ``memory`` (one process) and ``sqlite`` (durable, several workers)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from chatkit_core import hookimpl
from chatkit_core.health import Health
from chatkit_core.sessions import Message, Session, SessionStore, SessionStoreOptions, StoreUnavailable


class MemoryOptions(SessionStoreOptions, kw_only=True, forbid_unknown_fields=True):
    max_sessions: int = 100_000
    """Beyond this a session is dropped: the oldest that never got a message, else the least
    recently active one."""


class _Conversation:
    __slots__ = ("messages", "session")

    def __init__(self, session: Session, max_messages: int) -> None:
        self.session = session
        self.messages: deque[Message] = deque(maxlen=max_messages)


class MemoryStore(SessionStore):
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

    async def delete(self, session_id: str) -> bool:
        self._unused.pop(session_id, None)
        return self._conversations.pop(session_id, None) is not None

    async def count(self) -> int:
        self._expire()
        return len(self._conversations)


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

_encode = msgspec.json.Encoder().encode
_decode_message = msgspec.json.Decoder(Message).decode
_decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode


class SQLiteStore(SessionStore):
    """Sessions in a SQLite file in WAL mode.

    Several worker processes may share the file: each opens its own connection, writes are
    short ``BEGIN IMMEDIATE`` transactions, and a busy timeout waits out the others. Calls
    run on one thread per store so the event loop never blocks on the disk.
    """

    def __init__(self, options: SessionStoreOptions) -> None:
        super().__init__(options)
        self.path = _sqlite_path(options.url)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatkit-sqlite")
        self._db: sqlite3.Connection | None = None
        self._last_sweep = 0.0

    async def start(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        self._db = db

    async def _run(self, function, *args):
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"sqlite: {error}") from error

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("sqlite store is not open")
        return self._db

    async def create(self, metadata: dict[str, Any]) -> Session:
        session = self._new_session(metadata)
        await self._run(self._insert, session)
        return session

    def _insert(self, session: Session) -> None:
        with self._transaction():
            self.db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                            (session.id, session.created_at, session.last_seen, _encode(session.metadata)))
            if session.created_at - self._last_sweep > 60:
                self._last_sweep = session.created_at
                self.db.execute("DELETE FROM sessions WHERE last_seen < ?", (session.created_at - self.ttl,))

    def _transaction(self):
        return _Immediate(self.db)

    def _row(self, session_id: str) -> Session | None:
        row = self.db.execute("SELECT id, created_at, last_seen, metadata FROM sessions WHERE id = ? AND last_seen > ?",
                              (session_id, time.time() - self.ttl)).fetchone()
        if row is None:
            return None
        return Session(id=row[0], created_at=row[1], last_seen=row[2], metadata=_decode_metadata(row[3]))

    async def get(self, session_id: str) -> Session | None:
        return await self._run(self._row, session_id)

    def _append(self, session_id: str, message: Message) -> bool:
        now = time.time()
        with self._transaction():
            updated = self.db.execute("UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen > ?",
                                      (now, session_id, now - self.ttl)).rowcount
            if not updated:
                return False
            self.db.execute("INSERT INTO messages (session_id, body) VALUES (?, ?)", (session_id, _encode(message)))
            self.db.execute(
                "DELETE FROM messages WHERE session_id = ? AND seq NOT IN "
                "(SELECT seq FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?)",
                (session_id, session_id, self.options.max_messages))
        return True

    async def append(self, session_id: str, message: Message) -> bool:
        return await self._run(self._append, session_id, message)

    def _messages(self, session_id: str, limit: int | None) -> list[Message] | None:
        if self._row(session_id) is None:
            return None
        rows = self.db.execute("SELECT body FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT ?",
                               (session_id, limit or -1)).fetchall()
        return [_decode_message(row[0]) for row in reversed(rows)]

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        return await self._run(self._messages, session_id, limit)

    def _delete(self, session_id: str) -> bool:
        with self._transaction():
            return self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    async def delete(self, session_id: str) -> bool:
        return await self._run(self._delete, session_id)

    async def count(self) -> int:
        row = await self._run(lambda: self.db.execute(
            "SELECT count(*) FROM sessions WHERE last_seen > ?", (time.time() - self.ttl,)).fetchone())
        return row[0]

    async def health(self) -> Health:
        try:
            await self._run(lambda: self.db.execute("SELECT 1").fetchone())
        except StoreUnavailable as error:
            return Health("down", str(error))
        return Health("up")


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
