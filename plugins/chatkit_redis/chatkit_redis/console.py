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

A page walks the smallest set a query names newest first by score and keeps the members the
other sets hold too. Sessions that expired or were erased by the visitor are dropped
from the index when a page meets them and by the retention sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from chatkit_core.chat.listing import (
    ConversationPage,
    ConversationQuery,
    ConversationSummary,
    Flags,
    encode_cursor,
    indexed_words,
    summary,
    words,
)
from chatkit_core.codec import decode_message, encode
from chatkit_core.models import Feedback, Message, Session

if TYPE_CHECKING:
    from redis.asyncio import Redis

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

# What a page shows of each conversation, in one round trip. KEYS: pairs of session hash and
# message list. Returns, per pair, created_at, last_seen (false when gone) and the messages.
_READ = """
local out = {}
for i = 1, #KEYS, 2 do
  local times = redis.call('HMGET', KEYS[i], 'created_at', 'last_seen')
  out[#out + 1] = times[1]
  out[#out + 1] = times[2]
  out[#out + 1] = redis.call('LRANGE', KEYS[i + 1], 0, -1)
end
return out
"""

_FLAGS = ("thumbs_down", "incomplete", "fell_back", "unsourced")
_CHUNK = 200
"""Members read per step of a page's walk."""


class ConsoleIndex:
    def __init__(self, redis: Redis, prefix: str, session_keys: Callable[[str], tuple[str, str]]) -> None:
        self.redis = redis
        self.prefix = prefix + "console:"
        self.session_keys = session_keys
        self.started = self.prefix + "started"
        self.seen = self.prefix + "seen"
        self._erase = redis.register_script(_ERASE)
        self._rate = redis.register_script(_RATE)
        self._read_many = redis.register_script(_READ)

    def _flag(self, name: str) -> str:
        return f"{self.prefix}flag:{name}"

    def _keys_of(self, session_id: str) -> str:
        return f"{self.prefix}keys:{session_id}"

    def _sets(self, message: Message, search: bool) -> list[str]:
        """The index sets one message puts its conversation in; its words only with ``search``
        (the console on), at most :data:`~chatkit_core.chat.listing.MAX_INDEXED_WORDS` of them."""
        flags = Flags.of([message])
        sets = [self._flag(name) for name in _FLAGS if getattr(flags, name)]
        sets += [f"{self.prefix}provider:{name}" for name in flags.providers]
        return sets + ([f"{self.prefix}word:{word}" for word in indexed_words(message.content)] if search else [])

    def keys(self, session_id: str, message: Message, search: bool = True) -> list[str]:
        """What storing ``message`` updates of the index, in the store's script (``_STORE``):
        started, seen, the conversation's keys set, then the sets it joins."""
        return [self.started, self.seen, self._keys_of(session_id), *self._sets(message, search)]

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        session_key, messages_key = self.session_keys(session_id)
        for _ in range(5):  # the list moved under us (an append or trim): read it again
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hget(session_key, "created_at")
                pipe.lrange(messages_key, 0, -1)
                created, items = await pipe.execute()
            if created is None:
                return None
            messages = [decode_message(item) for item in items]
            found = next((i for i, m in enumerate(messages) if m.id == message_id and m.role == "assistant"), None)
            if found is None:
                return None
            updated = messages[found]
            updated.feedback = feedback
            down = Flags.of(messages).thumbs_down
            args = [found, items[found], encode(updated), session_id, created, "1" if down else "0"]
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
        found = cast("list[bytes]", await self.redis.zrangebyscore(self.seen, "-inf", f"({before!r}"))
        gone = [item.decode() for item in found]
        for start in range(0, len(gone), 500):
            await self.erase(gone[start:start + 500])
        return len(gone)

    async def page(self, query: ConversationQuery, after: tuple[float, str] | None, limit: int,
                   alive_after: float) -> ConversationPage:
        """Newest first: walk the smallest set the query names by score, keep the members that
        every other set holds (``ZMSCORE``), until the page is full."""
        sets = [self._flag(name) for name in _FLAGS if getattr(query, name)]
        if query.provider:
            sets.append(f"{self.prefix}provider:{query.provider}")
        sets += [f"{self.prefix}word:{word}" for word in dict.fromkeys(words(query.text))]
        if len(sets) > 1:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in sets:
                    pipe.zcard(key)
                sizes = await pipe.execute()
            sets = [key for _, key in sorted(zip(sizes, sets, strict=True))]
        source, others = (sets[0], sets[1:]) if sets else (self.started, [])
        high = f"({query.until!r}" if query.until is not None else "+inf"
        if after and (query.until is None or after[0] < query.until):
            high = repr(after[0])
        low = repr(query.since) if query.since is not None else "-inf"
        found: list[ConversationSummary] = []
        size = _CHUNK if others else limit + 1
        while len(found) <= limit:
            scored = cast("list[tuple[bytes, float]]", await self.redis.zrevrangebyscore(
                source, high, low, start=0, num=size, withscores=True))
            batch = [(member.decode(), score) for member, score in scored]
            fresh = [(member, score) for member, score in batch if not after or (score, member) < after]
            if not fresh:
                break
            kept = set(await self._in_all(others, [member for member, _ in fresh]))
            taken = [(member, score) for member, score in fresh if member in kept][:limit + 1 - len(found)]
            last = taken[-1] if len(taken) == limit + 1 - len(found) else fresh[-1]
            after, high = (last[1], last[0]), repr(last[1])
            found += await self._summaries([member for member, _ in taken], alive_after)
            if len(batch) < size and last == fresh[-1]:
                break
        more = len(found) > limit
        found = found[:limit]
        return ConversationPage(items=found, next=encode_cursor(found[-1].created_at, found[-1].id) if more else None)

    async def _in_all(self, sets: list[str], ids: list[str]) -> list[str]:
        if not sets:
            return ids
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in sets:
                pipe.zmscore(key, ids)
            scores = await pipe.execute()
        return [member for index, member in enumerate(ids) if all(column[index] is not None for column in scores)]

    async def _summaries(self, ids: list[str], alive_after: float) -> list[ConversationSummary]:
        if not ids:
            return []
        replies = await self._read_many(keys=[key for session_id in ids for key in self.session_keys(session_id)])
        items, dead = [], []
        for index, session_id in enumerate(ids):
            created, seen, raw = replies[3 * index: 3 * index + 3]
            if not created or not seen or float(seen) <= alive_after:
                dead.append(session_id)
                continue
            session = Session(id=session_id, created_at=float(created), last_seen=float(seen), metadata={})
            items.append(summary(session, [decode_message(item) for item in raw]))
        if dead:
            await self.erase(dead)
        return items
