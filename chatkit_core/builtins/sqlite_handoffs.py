"""Handoffs in the ``sqlite`` store: one row per conversation and its event log, erased with the
session by the foreign keys' cascade."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from chatkit_core.builtins.sqlite_io import Immediate
from chatkit_core.chat.handoff_store import (
    MAX_EVENTS,
    EventDraft,
    HandoffRecord,
    HandoffStore,
    StoredEvent,
    decode_record,
    encode_record,
    placeholder,
)

T = TypeVar("T")

HANDOFF_SCHEMA = """
CREATE TABLE IF NOT EXISTS handoffs (
    conversation_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    state TEXT NOT NULL, requested_at REAL NOT NULL, version INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS handoffs_open ON handoffs (requested_at) WHERE state != 'closed';
CREATE TABLE IF NOT EXISTS handoff_events (
    conversation_id TEXT NOT NULL REFERENCES handoffs (conversation_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, audience TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
"""

_LIVE = "SELECT 1 FROM sessions WHERE id = ? AND last_seen > ?"


class SQLiteHandoffs(HandoffStore):
    """Each change is one ``BEGIN IMMEDIATE`` transaction, so writers on every worker queue."""

    ttl: float

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    async def _write(self, function: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    def _read_handoff(self, db: sqlite3.Connection, conversation_id: str) -> HandoffRecord | None:
        row = db.execute("SELECT h.body, h.version FROM handoffs h JOIN sessions s ON s.id = h.session_id "
                         "WHERE h.conversation_id = ? AND s.last_seen > ?",
                         (conversation_id, time.time() - self.ttl)).fetchone()
        if row is None:
            return None
        record = decode_record(row[0])
        record.version = row[1]
        return record

    async def handoff(self, conversation_id: str) -> HandoffRecord | None:
        return await self._run(self._read_handoff, conversation_id)

    def _put_handoff(self, db: sqlite3.Connection, record: HandoffRecord,
                     draft: EventDraft | None) -> StoredEvent | None:
        with Immediate(db):
            row = db.execute("SELECT version FROM handoffs WHERE conversation_id = ?",
                             (record.conversation_id,)).fetchone()
            if (row[0] if row else 0) != record.version:
                return None
            if db.execute(_LIVE, (record.session_id, time.time() - self.ttl)).fetchone() is None:
                return None
            db.execute(
                "INSERT INTO handoffs (conversation_id, session_id, state, requested_at, version, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state, "
                "requested_at = excluded.requested_at, version = excluded.version, body = excluded.body",
                (record.conversation_id, record.session_id, record.state, record.requested_at, record.version + 1,
                 encode_record(record)))
            return _append(db, record.conversation_id, draft) if draft else placeholder(record.conversation_id)

    async def put_handoff(self, record: HandoffRecord, draft: EventDraft | None = None) -> StoredEvent | None:
        return await self._write(self._put_handoff, record, draft)

    def _add_handoff_event(self, db: sqlite3.Connection, conversation_id: str, draft: EventDraft) -> StoredEvent | None:
        with Immediate(db):
            if db.execute("SELECT 1 FROM handoffs WHERE conversation_id = ?", (conversation_id,)).fetchone() is None:
                return None
            return _append(db, conversation_id, draft)

    async def add_event(self, conversation_id: str, draft: EventDraft) -> StoredEvent | None:
        return await self._write(self._add_handoff_event, conversation_id, draft)

    async def events(self, conversation_id: str, after: int, limit: int = 100) -> list[StoredEvent]:
        rows = await self._run(lambda db: db.execute(
            "SELECT seq, kind, audience, data FROM handoff_events WHERE conversation_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?", (conversation_id, after, limit)).fetchall())
        return [StoredEvent(conversation_id=conversation_id, seq=row[0], kind=row[1], audience=row[2], data=row[3])
                for row in rows]

    def _open_handoffs(self, db: sqlite3.Connection, limit: int) -> list[HandoffRecord]:
        rows = db.execute("SELECT h.body, h.version FROM handoffs h JOIN sessions s ON s.id = h.session_id "
                          "WHERE h.state != 'closed' AND s.last_seen > ? ORDER BY h.requested_at DESC LIMIT ?",
                          (time.time() - self.ttl, limit)).fetchall()
        records = []
        for body, version in rows:
            record = decode_record(body)
            record.version = version
            records.append(record)
        return records

    async def open_handoffs(self, limit: int = 200) -> list[HandoffRecord]:
        return await self._run(self._open_handoffs, limit)


def _append(db: sqlite3.Connection, conversation_id: str, draft: EventDraft) -> StoredEvent:
    seq = db.execute("UPDATE handoffs SET last_seq = last_seq + 1 WHERE conversation_id = ? RETURNING last_seq",
                     (conversation_id,)).fetchone()[0]
    db.execute("INSERT INTO handoff_events VALUES (?, ?, ?, ?, ?)",
               (conversation_id, seq, draft.kind, draft.audience, draft.data))
    db.execute("DELETE FROM handoff_events WHERE conversation_id = ? AND seq <= ?", (conversation_id, seq - MAX_EVENTS))
    return StoredEvent(conversation_id=conversation_id, seq=seq, kind=draft.kind, audience=draft.audience,
                       data=draft.data)
