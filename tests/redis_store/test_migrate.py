"""Conversations that 0.2 left in Redis (text HTML-escaped) read back as text as written."""

from __future__ import annotations

import msgspec
import pytest
import redis.asyncio
from chatkit_redis import RedisOptions, RedisStore

from chatkit_core.codec import encode
from chatkit_core.models import Message, Source, new_message_id, now_rfc3339

pytestmark = pytest.mark.redis


async def started(url: str) -> RedisStore:
    store = RedisStore(msgspec.convert({"store": "redis", "url": url}, RedisOptions))
    await store.start()
    return store


async def test_old_conversations_are_migrated_once(redis_server):
    store = await started(redis_server.url)
    session = await store.create({})
    old = Message(id=new_message_id(), role="assistant", content="Tom &amp; Jerry", created_at=now_rfc3339(),
                  provider="p", model="m", sources=[Source("Crumb &amp; Crust", "/")])
    await store.append(session.id, old)
    await store.close()
    client = redis.asyncio.Redis.from_url(redis_server.url)
    await client.delete("chatkit:format")  # as 0.2 left it: no format recorded

    store = await started(redis_server.url)
    [migrated] = await store.messages(session.id)
    assert migrated.content == "Tom & Jerry" and migrated.sources == [Source("Crumb & Crust", "/")]
    assert await client.get("chatkit:format") == b"plain-text"
    typed = Message(id=new_message_id(), role="user", content="a &amp; b", created_at=now_rfc3339())
    await store.append(session.id, typed)
    await store.close()

    store = await started(redis_server.url)  # a restart migrates nothing again
    assert (await store.messages(session.id))[-1].content == "a &amp; b"
    assert encode(typed) in await client.lrange(f"chatkit:messages:{session.id}", 0, -1)
    await store.close()
    await client.aclose()
