"""Attachments in the ``sqlite`` store: a table whose rows belong to their session, so they are
deleted with it (the visitor's erase, expiry, the console's and the retention sweep's erasures),
and overwritten in the file as they go (``secure_delete``). Large rows are written and read on
the store's background thread, never on the event loop."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from chatkit_core.builtins.sqlite_io import Immediate
from chatkit_core.chat.attachments import AttachmentStore, StoredAttachment, decode_attachment, encode_attachment

T = TypeVar("T")

ATTACHMENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS attachments (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (session_id, id)
);
"""


class SQLiteAttachments(AttachmentStore):
    """The :class:`AttachmentStore` of :class:`~chatkit_core.builtins.sqlite_store.SQLiteStore`."""

    ttl: float

    async def _off_loop(self, function: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    def _queued(self, db: sqlite3.Connection, function: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    def _alive(self, db: sqlite3.Connection, session_id: str) -> bool:
        return db.execute("SELECT 1 FROM sessions WHERE id = ? AND last_seen > ?",
                          (session_id, time.time() - self.ttl)).fetchone() is not None

    def _add_attachment(self, db: sqlite3.Connection, session_id: str, attachment: StoredAttachment,
                        max_per_session: int) -> bool | None:
        with Immediate(db):
            if not self._alive(db, session_id):
                return None
            held = db.execute("SELECT count(*) FROM attachments WHERE session_id = ?", (session_id,)).fetchone()[0]
            if held >= max_per_session:
                return False
            db.execute("INSERT INTO attachments (session_id, id, body) VALUES (?, ?, ?)",
                       (session_id, attachment.id, encode_attachment(attachment)))
        return True

    async def add_attachment(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        return await self._off_loop(self._queued, self._add_attachment, session_id, attachment, max_per_session)

    def _attachments(self, db: sqlite3.Connection, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        if not ids or not self._alive(db, session_id):
            return []
        marks = ", ".join("?" for _ in ids)
        rows = dict(db.execute(f"SELECT id, body FROM attachments WHERE session_id = ? AND id IN ({marks})",
                               (session_id, *ids)).fetchall())
        return [decode_attachment(rows[i]) for i in ids if i in rows]

    async def attachments(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        return await self._off_loop(self._attachments, session_id, ids)
