"""The console's listing, search and retention over the ``sqlite`` store.

Triggers keep the console's tables in step with the store's own writes, so the chat's
transactions stay as they are.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from chatkit_core.builtins.sqlite_io import Immediate, erase_before
from chatkit_core.chat.listing import (
    ConversationPage,
    ConversationQuery,
    ConversationSummary,
    Listing,
    decode_cursor,
    encode_cursor,
    words,
)

T = TypeVar("T")

# What the console lists and searches, kept up to date by triggers on ``messages`` so the
# chat's own writes stay as they are: per-conversation counts behind the filters (partial
# indexes keep a filtered page fast), the providers that answered, and an FTS5 index over
# message text whose rowid is the conversation's ``seq`` (high 32 bits) and the message's, so
# a search yields conversations without reading any text back.
CONSOLE_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS console_revoked (sign_in TEXT PRIMARY KEY, until REAL NOT NULL);
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


class SQLiteListing(Listing):
    """Listing, search and retention for :class:`~chatkit_core.builtins.sqlite_store.SQLiteStore`:
    the work runs on the store's background thread (it is of unbounded size)."""

    ttl: float

    async def _off_loop(self, function: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    def _queued(self, db: sqlite3.Connection, function: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

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

    erased: bool

    async def erase_inactive(self, before: float) -> int:
        erased = await self._off_loop(self._queued, erase_before, before)
        self.erased = self.erased or bool(erased)
        return erased

    async def revoke(self, sign_in: str, until: float) -> None:
        await self._off_loop(self._queued, _revoke, sign_in, until)

    async def revoked(self, sign_in: str) -> bool:
        row = await self._off_loop(lambda db: db.execute(
            "SELECT 1 FROM console_revoked WHERE sign_in = ? AND until > ?", (sign_in, time.time())).fetchone())
        return row is not None


def _revoke(db: sqlite3.Connection, sign_in: str, until: float) -> None:
    with Immediate(db):
        db.execute("DELETE FROM console_revoked WHERE until < ?", (time.time(),))
        db.execute("INSERT OR REPLACE INTO console_revoked VALUES (?, ?)", (sign_in, until))
