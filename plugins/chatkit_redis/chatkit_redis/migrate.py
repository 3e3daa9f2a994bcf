"""Conversations written by earlier releases, brought up to this one's format at start-up.

``{key_prefix}format`` records the format the keys are in. One instance migrates (it sets the
key first, with ``NX``); the others go on serving. Each message is replaced only if it is still
what was read, so an answer appended meanwhile is never overwritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from chatkit_core.codec import decode_message, encode, unescaped

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger("chatkit.redis")

PLAIN_TEXT = b"plain-text"
_MIGRATING_MS = 600_000

# Replace one message if it is still what was read. KEYS: message list. ARGV: index, old, new.
_REPLACE = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


async def migrate(redis: Redis, prefix: str) -> None:
    """Bring every conversation under ``prefix`` to plain text (0.2 kept it HTML-escaped)."""
    key = prefix + "format"
    if await redis.get(key) == PLAIN_TEXT or not await redis.set(key, b"migrating", nx=True, px=_MIGRATING_MS):
        return
    replace = redis.register_script(_REPLACE)
    changed = 0
    async for name in redis.scan_iter(match=prefix + "messages:*", count=500):
        for index, body in enumerate(await redis.lrange(name, 0, -1)):
            fixed = encode(unescaped(decode_message(body)))
            if fixed != body:
                changed += await replace(keys=[name], args=[index, body, fixed])
    await redis.set(key, PLAIN_TEXT)
    if changed:
        log.info("redis_migrated", format="plain text", messages=changed)
