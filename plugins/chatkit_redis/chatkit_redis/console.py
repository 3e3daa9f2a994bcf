"""The console's index over the conversations in Redis: listing, filters and word search
without scanning every key.

Keys, under the store's ``key_prefix``, each a sorted set of session ids scored by the
conversation's start time unless noted:

- ``console:started``: every conversation holding a message;
- ``console:seen``: the same ids scored by last activity, for expiry and retention;
- ``console:flag:NAME``: conversations with an answer that was rated down, incomplete,
  fell back, or had no sources;
- ``console:provider:NAME``: conversations a provider answered in;
- ``console:word:WORD``: conversations whose messages contain ``WORD``;
- ``console:keys:ID`` (a set): the index keys holding ``ID``, so erasing it is exact.

A page intersects the sets a query names (``ZINTERSTORE`` into a short-lived key) and reads
it newest first by score. Sessions that expired or were erased by the visitor are dropped
from the index when a page meets them and by the retention sweep.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import msgspec
from redis.asyncio import Redis

from chatkit_core.sessions import (
    ConversationPage,
    ConversationQuery,
    ConversationSummary,
    Feedback,
    Flags,
    Message,
    Session,
    encode_cursor,
    summary,
    words,
)

# KEYS: session hash, started, seen, keys set, then the index sets to join. ARGV: id, now.
_ADD = """
local created = redis.call('HGET', KEYS[1], 'created_at')
if not created then return 0 end
redis.call('ZADD', KEYS[2], 'NX', created, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
for i = 5, #KEYS do
  redis.call('ZADD', KEYS[i], created, ARGV[1])
  redis.call('SADD', KEYS[4], KEYS[i])
end
return 1
"""

# KEYS: keys set, started, seen, session hash, message list. ARGV: id.
_ERASE = """
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('ZREM', key, ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
"""

# Replace one message if it is still what was read. KEYS: message list, down flag, keys set.
# ARGV: index, old JSON, new JSON, id, created_at, "1" to flag the conversation as rated down.
_RATE = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
  redis.call('SADD', KEYS[3], KEYS[2])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return 1
"""

_encode = msgspec.json.Encoder().encode
_decode_message = msgspec.json.Decoder(Message).decode
_FLAGS = ("thumbs_down", "incomplete", "fell_back", "unsourced")


class ConsoleIndex:
    def __init__(self, redis: Redis, prefix: str, session_keys: Callable[[str], tuple[str, str]]) -> None:
        self.redis = redis
        self.prefix = prefix + "console:"
        self.session_keys = session_keys
        self.started = self.prefix + "started"
        self.seen = self.prefix + "seen"
        self._add = redis.register_script(_ADD)
        self._erase = redis.register_script(_ERASE)
        self._rate = redis.register_script(_RATE)

    def _flag(self, name: str) -> str:
        return f"{self.prefix}flag:{name}"

    def _keys_of(self, session_id: str) -> str:
        return f"{self.prefix}keys:{session_id}"

    def _sets(self, message: Message) -> list[str]:
        """The index sets one message puts its conversation in."""
        flags = Flags.of([message])
        sets = [self._flag(name) for name in _FLAGS if getattr(flags, name)]
        sets += [f"{self.prefix}provider:{name}" for name in flags.providers]
        return sets + [f"{self.prefix}word:{word}" for word in dict.fromkeys(words(message.content))]

    async def add(self, session_id: str, message: Message) -> bool:
        """Index a stored message; True (the append succeeded either way)."""
        session_key, _ = self.session_keys(session_id)
        keys = [session_key, self.started, self.seen, self._keys_of(session_id), *self._sets(message)]
        await self._add(keys=keys, args=[session_id, repr(time.time())])
        return True

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        session_key, messages_key = self.session_keys(session_id)
        for _ in range(5):  # the list moved under us (an append or trim): read it again
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hget(session_key, "created_at")
                pipe.lrange(messages_key, 0, -1)
                created, items = await pipe.execute()
            if created is None:
                return None
            messages = [_decode_message(item) for item in items]
            found = next((i for i, m in enumerate(messages) if m.id == message_id and m.role == "assistant"), None)
            if found is None:
                return None
            updated = messages[found]
            updated.feedback = feedback
            down = Flags.of(messages).thumbs_down
            args = [found, items[found], _encode(updated), session_id, created, "1" if down else "0"]
            keys = [messages_key, self._flag("thumbs_down"), self._keys_of(session_id)]
            if await self._rate(keys=keys, args=args):
                return updated
        return None

    async def erase(self, session_ids: list[str]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                keys = [self._keys_of(session_id), self.started, self.seen, *self.session_keys(session_id)]
                await self._erase(keys=keys, args=[session_id], client=pipe)
            await pipe.execute()

    async def erase_inactive(self, before: float) -> int:
        gone = [item.decode() for item in await self.redis.zrangebyscore(self.seen, "-inf", f"({before!r}")]
        for start in range(0, len(gone), 500):
            await self.erase(gone[start:start + 500])
        return len(gone)

    async def page(self, query: ConversationQuery, after: tuple[float, str] | None, limit: int,
                   alive_after: float) -> ConversationPage:
        sets = [self._flag(name) for name in _FLAGS if getattr(query, name)]
        if query.provider:
            sets.append(f"{self.prefix}provider:{query.provider}")
        sets += [f"{self.prefix}word:{word}" for word in dict.fromkeys(words(query.text))]
        source = sets[0] if len(sets) == 1 else self.started
        temporary = None
        if len(sets) > 1:
            temporary = f"{self.prefix}tmp:{secrets.token_hex(8)}"
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zinterstore(temporary, sets, aggregate="MAX")
                pipe.expire(temporary, 30)
                await pipe.execute()
            source = temporary
        try:
            return await self._read(source, query, after, limit, alive_after)
        finally:
            if temporary:
                await self.redis.delete(temporary)

    async def _read(self, source: str, query: ConversationQuery, after: tuple[float, str] | None, limit: int,
                    alive_after: float) -> ConversationPage:
        """Newest first from ``source``, skipping what the cursor already showed and dead ids."""
        high = repr(after[0]) if after else (f"({query.until!r}" if query.until is not None else "+inf")
        if after and query.until is not None and after[0] >= query.until:
            high = f"({query.until!r}"
        low = repr(query.since) if query.since is not None else "-inf"
        found: list[ConversationSummary] = []
        offset = 0
        while len(found) <= limit:
            batch = await self.redis.zrevrangebyscore(source, high, low, start=offset, num=limit + 1,
                                                      withscores=True)
            if not batch:
                break
            offset += len(batch)
            ids = [member.decode() for member, score in batch
                   if not after or (score, member.decode()) < after]
            found += await self._summaries(ids, alive_after)
            if len(batch) < limit + 1:
                break
        more = len(found) > limit
        found = found[:limit]
        return ConversationPage(items=found, next=encode_cursor(found[-1].created_at, found[-1].id) if more else None)

    async def _summaries(self, ids: list[str], alive_after: float) -> list[ConversationSummary]:
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                session_key, messages_key = self.session_keys(session_id)
                pipe.hgetall(session_key)
                pipe.lrange(messages_key, 0, -1)
            replies = await pipe.execute()
        items, dead = [], []
        for session_id, fields, raw in zip(ids, replies[::2], replies[1::2], strict=True):
            if not fields or float(fields[b"last_seen"]) <= alive_after:
                dead.append(session_id)
                continue
            session = Session(id=session_id, created_at=float(fields[b"created_at"]),
                              last_seen=float(fields[b"last_seen"]), metadata={})
            items.append(summary(session, [_decode_message(item) for item in raw]))
        if dead:
            await self.erase(dead)
        return items
