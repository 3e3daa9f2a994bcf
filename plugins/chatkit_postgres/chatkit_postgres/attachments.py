"""Visitors' attachments in ``chatkit_attachments`` (migration 3): rows of their session, deleted
with it by cascade however the conversation goes (the visitor's erase, expiry, the console's and
the retention sweep's erasures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatkit_core.chat.attachments import StoredAttachment, decode_attachment, encode_attachment

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection | PoolConnectionProxy

# The session row first, as every write takes it: two uploads to one conversation queue there, so
# its cap holds.
_LOCK = "SELECT 1 FROM chatkit_sessions WHERE id = $1 AND last_seen > $2 FOR UPDATE"
_HELD = "SELECT count(*) FROM chatkit_attachments WHERE session_id = $1"
_ADD = "INSERT INTO chatkit_attachments (session_id, id, body) VALUES ($1, $2, $3)"
_READ = """
SELECT a.id, a.body FROM chatkit_attachments a JOIN chatkit_sessions s ON s.id = a.session_id
WHERE a.session_id = $1 AND s.last_seen > $2 AND a.id = ANY($3::text[])
"""


async def add(conn: Conn, session_id: str, cutoff: float, attachment: StoredAttachment,
              max_per_session: int) -> bool | None:
    async with conn.transaction():
        if await conn.fetchval(_LOCK, session_id, cutoff) is None:
            return None
        if await conn.fetchval(_HELD, session_id) >= max_per_session:
            return False
        await conn.execute(_ADD, session_id, attachment.id, encode_attachment(attachment))
    return True


async def read(conn: Conn, session_id: str, cutoff: float, ids: list[str]) -> list[StoredAttachment]:
    rows = {row[0]: row[1] for row in await conn.fetch(_READ, session_id, cutoff, ids)}
    return [decode_attachment(rows[i]) for i in ids if i in rows]
