"""Visitors' attachments in Redis: fields of the conversation's own ``session:ID`` hash.

``attachment:ATT`` holds one attachment (msgpack), ``attachments`` how many were added. Living
in the session's hash, they share its TTL (refreshed by every message) and go with it however it
goes: the visitor's erase, expiry, the console's and the retention sweep's erasures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from chatkit_core.chat.attachments import StoredAttachment, decode_attachment, encode_attachment

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: session hash. ARGV: field, attachment, most per session. -1: gone; 0: full; 1: added.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if tonumber(redis.call('HGET', KEYS[1], 'attachments') or '0') >= tonumber(ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'attachments', 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

SESSION_FIELDS = ("created_at", "last_seen", "metadata")
"""The session hash's own fields, read without its attachments."""


class RedisAttachments:
    def __init__(self, redis: Redis, session_keys: Callable[[str], tuple[str, str]]) -> None:
        self.redis = redis
        self.session_keys = session_keys
        self._add = redis.register_script(_ADD)

    async def add(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        session_key, _ = self.session_keys(session_id)
        added = await self._add(keys=[session_key],
                                args=[f"attachment:{attachment.id}", encode_attachment(attachment), max_per_session])
        return None if added == -1 else bool(added)

    async def read(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        session_key, _ = self.session_keys(session_id)
        found = await self.redis.hmget(session_key, ["created_at", *(f"attachment:{i}" for i in ids)])
        if found[0] is None:  # the conversation is gone
            return []
        return [decode_attachment(cast(bytes, body)) for body in found[1:] if body is not None]
