"""Handoffs in Redis, shared by every instance.

Keys, under the store's ``key_prefix``:

- ``handoff:CID``: a hash with the record (``body``, JSON), its ``version`` and the last event
  number ``seq``;
- ``handoff:CID:events``: a list of the newest events (JSON), oldest first;
- ``handoffs:open``: a sorted set of the conversations waiting or active, scored by request time.

Both per-conversation keys carry the session's TTL, refreshed by every write. A write is one Lua
script that checks the version and that the session lives, so two instances never both claim.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import msgspec

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
from chatkit_core.chat.sessions import StoreUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: record hash, event list, open set, session hash. ARGV: expected version, record JSON, state,
# requested_at, conversation id, TTL ms, event JSON without its number ("" for none), max events.
# Returns the event's number (0 without one), or -1 when the version moved or the session is gone.
_PUT = """
if tostring(redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'version', tonumber(ARGV[1]) + 1, 'body', ARGV[2])
if ARGV[3] == 'closed' then redis.call('ZREM', KEYS[3], ARGV[5])
else redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if ARGV[7] == '' then return 0 end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[7])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[8]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return seq
"""

# KEYS: record hash, event list. ARGV: event JSON, max events, TTL ms. The number, or -1 without a record.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return seq
"""

_draft = msgspec.json.Encoder().encode
_decode_draft = msgspec.json.Decoder(EventDraft).decode


class RedisHandoffs(HandoffStore):
    _redis: Redis
    _ttl_ms: int
    options: Any

    def _keys(self, session_id: str) -> tuple[str, str]:
        raise NotImplementedError

    def _init_handoffs(self) -> None:
        self._put_script = self._redis.register_script(_PUT)
        self._add_script = self._redis.register_script(_ADD)

    def _handoff_keys(self, conversation_id: str) -> tuple[str, str]:
        prefix = self.options.key_prefix
        return f"{prefix}handoff:{conversation_id}", f"{prefix}handoff:{conversation_id}:events"

    @property
    def _open_key(self) -> str:
        return f"{self.options.key_prefix}handoffs:open"

    async def handoff(self, conversation_id: str) -> HandoffRecord | None:
        record_key, _ = self._handoff_keys(conversation_id)
        async with _unavailable():
            fields = await self._redis.hmget(record_key, ["body", "version"])
            if fields[0] is None:
                return None
            record = decode_record(fields[0])
            if not await self._redis.exists(self._keys(record.session_id)[0]):
                await self.forget_handoff(conversation_id)
                return None
        record.version = int(cast("bytes", fields[1]))
        return record

    async def put_handoff(self, record: HandoffRecord, draft: EventDraft | None = None) -> StoredEvent | None:
        keys = [*self._handoff_keys(record.conversation_id), self._open_key, self._keys(record.session_id)[0]]
        args: list[str | bytes | int] = [record.version, encode_record(record), record.state, repr(record.requested_at),
                record.conversation_id, self._ttl_ms, _draft(draft) if draft else "", MAX_EVENTS]
        async with _unavailable():
            seq = int(await self._put_script(keys=keys, args=args))
        if seq < 0:
            return None
        return _stored(record.conversation_id, seq, draft) if draft else placeholder(record.conversation_id)

    async def add_event(self, conversation_id: str, draft: EventDraft) -> StoredEvent | None:
        async with _unavailable():
            seq = int(await self._add_script(keys=list(self._handoff_keys(conversation_id)),
                                             args=[_draft(draft), MAX_EVENTS, self._ttl_ms]))
        return _stored(conversation_id, seq, draft) if seq >= 0 else None

    async def events(self, conversation_id: str, after: int, limit: int = 100) -> list[StoredEvent]:
        _, events_key = self._handoff_keys(conversation_id)
        found = []
        async with _unavailable():
            items = cast("list[bytes]", await self._redis.lrange(events_key, 0, -1))
        for item in items:
            number, _, body = item.partition(b" ")
            if int(number) > after:
                found.append(_stored(conversation_id, int(number), _decode_draft(body)))
                if len(found) == limit:
                    break
        return found

    async def open_handoffs(self, limit: int = 200) -> list[HandoffRecord]:
        records = []
        async with _unavailable():
            members = cast("list[bytes]", await self._redis.zrevrange(self._open_key, 0, limit - 1))
        for member in members:
            record = await self.handoff(member.decode())
            if record is not None and record.state != "closed":
                records.append(record)
        return records

    async def forget_handoff(self, conversation_id: str) -> None:
        """Erase a conversation's handoff (its session is gone)."""
        async with _unavailable(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*self._handoff_keys(conversation_id))
            pipe.zrem(self._open_key, conversation_id)
            await pipe.execute()


def _stored(conversation_id: str, seq: int, draft: EventDraft) -> StoredEvent:
    return StoredEvent(conversation_id=conversation_id, seq=seq, kind=draft.kind, audience=draft.audience,
                       data=draft.data)



@contextlib.asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as error:
        raise StoreUnavailable(f"redis: {error}") from error
