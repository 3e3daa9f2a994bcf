"""The Redis session store on a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio
from chatkit_redis import RedisOptions, RedisStore

from chatkit_core.chat.listing import ConversationQuery
from chatkit_core.chat.sessions import StoreUnavailable
from chatkit_core.models import Message, new_message_id, now_rfc3339
from chatkit_core.platform.assembly import build_store
from chatkit_core.platform.config import ConfigError, decode

pytestmark = pytest.mark.redis


@contextlib.asynccontextmanager
async def store(url: str, **table) -> AsyncIterator[RedisStore]:
    instance = RedisStore(msgspec.convert({"store": "redis", "url": url, **table}, RedisOptions))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


def message(content: str, role: str = "user") -> Message:
    assistant = role == "assistant"
    return Message(id=new_message_id(), role=role, content=content, created_at=now_rfc3339(),
                   provider="canned" if assistant else None, model="canned" if assistant else None)


async def test_create_get_append_messages_delete(redis_server):
    async with store(redis_server.url) as sessions:
        session = await sessions.create({"page": "/pricing"})
        assert len(session.id) >= 43
        loaded = await sessions.get(session.id)
        assert loaded == session
        assert await sessions.messages(session.id) == []

        sent = [message("Hello"), message("Hi! How can I help?", "assistant"), message("Prices?")]
        for item in sent:
            assert await sessions.append(session.id, item)
        assert await sessions.messages(session.id) == sent
        assert await sessions.messages(session.id, limit=2) == sent[1:]
        assert (await sessions.get(session.id)).last_seen > session.last_seen
        assert await sessions.count() == 1

        assert await sessions.delete(session.id)
        assert await sessions.get(session.id) is None
        assert await sessions.messages(session.id) is None
        assert not await sessions.append(session.id, message("anyone?"))
        assert not await sessions.delete(session.id)
        assert await sessions.count() == 0


async def test_unknown_session_is_gone(redis_server):
    async with store(redis_server.url) as sessions:
        assert await sessions.get("no-such-session") is None
        assert await sessions.messages("no-such-session") is None
        assert not await sessions.append("no-such-session", message("hello"))
        client = redis.asyncio.Redis.from_url(redis_server.url)
        assert await client.keys("*") == [b"chatkit:format"]  # a refused append leaves nothing behind
        await client.aclose()


async def test_keeps_the_newest_max_messages(redis_server):
    async with store(redis_server.url, max_messages=3) as sessions:
        session = await sessions.create({})
        sent = [message(f"m{n}") for n in range(5)]
        for item in sent:
            await sessions.append(session.id, item)
        assert await sessions.messages(session.id) == sent[2:]


async def test_idle_sessions_expire_and_append_refreshes_the_ttl(redis_server):
    async with store(redis_server.url, ttl="1s") as sessions:
        kept, idle = await sessions.create({}), await sessions.create({})
        for _ in range(3):
            await asyncio.sleep(0.5)
            assert await sessions.append(kept.id, message("still here"))
        # 1.5 s after creation: the active one lives, the idle one is gone with its messages.
        assert await sessions.get(idle.id) is None
        assert await sessions.messages(idle.id) is None
        assert len(await sessions.messages(kept.id)) == 3
        assert await sessions.count() == 1
        await asyncio.sleep(1.1)
        assert await sessions.get(kept.id) is None
        client = redis.asyncio.Redis.from_url(redis_server.url)
        assert await client.zrange("chatkit:sessions", 0, -1) == [kept.id.encode()]  # trimmed lazily
        fresh = await sessions.create({})
        assert await client.zrange("chatkit:sessions", 0, -1) == [fresh.id.encode()]
        assert len(await client.keys("chatkit:session:*")) == 1
        assert await client.keys("chatkit:messages:*") == []
        await client.aclose()


async def test_two_instances_appending_to_one_conversation(redis_server):
    """Two backends write the same conversation at once: nothing lost, each writer in order."""
    async with store(redis_server.url) as first, store(redis_server.url) as second:
        session = await first.create({})

        async def write(instance: RedisStore, writer: str) -> None:
            for n in range(200):
                assert await instance.append(session.id, message(f"{writer}-{n}"))

        await asyncio.gather(write(first, "a"), write(second, "b"), write(first, "c"), write(second, "d"))
        stored = [m.content for m in await second.messages(session.id)]
        assert len(stored) == 800
        for writer in "abcd":
            assert [c for c in stored if c.startswith(writer)] == [f"{writer}-{n}" for n in range(200)]


async def test_a_new_store_object_sees_everything(redis_server):
    async with store(redis_server.url) as sessions:
        session = await sessions.create({"lang": "fr"})
        sent = [message("Bonjour"), message("Bonjour !", "assistant")]
        for item in sent:
            await sessions.append(session.id, item)
    async with store(redis_server.url) as sessions:
        assert (await sessions.get(session.id)).metadata == {"lang": "fr"}
        assert await sessions.messages(session.id) == sent


async def test_key_prefix_separates_deployments(redis_server):
    async with store(redis_server.url, key_prefix="site-a:") as a, store(redis_server.url, key_prefix="site-b:") as b:
        session = await a.create({})
        assert await b.get(session.id) is None
        assert await b.count() == 0
        client = redis.asyncio.Redis.from_url(redis_server.url)
        assert all(key.startswith(b"site-a:") or key == b"site-b:format" for key in await client.keys("*"))
        await client.aclose()


async def test_outage_raises_store_unavailable_and_recovers(redis_server):
    async with store(redis_server.url, timeout=0.3) as sessions:
        session = await sessions.create({})
        assert (await sessions.health()).status == "up"

        redis_server.stop()
        calls = [
            sessions.create({}), sessions.get(session.id), sessions.append(session.id, message("lost?")),
            sessions.messages(session.id), sessions.delete(session.id), sessions.count(),
        ]
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await call
        health = await sessions.health()
        assert health.status == "down"
        assert "redis unreachable" in health.detail
        assert str(redis_server.port) not in health.detail  # /health is public

        redis_server.start()  # same port; this server keeps nothing across restarts
        assert (await sessions.health()).status == "up"
        fresh = await sessions.create({})
        assert await sessions.append(fresh.id, message("back"))
        assert [m.content for m in await sessions.messages(fresh.id)] == ["back"]


async def test_a_hung_redis_is_unavailable_within_the_timeout(redis_server):
    async with store(redis_server.url, timeout=0.3) as sessions:
        session = await sessions.create({})
        redis_server.pause()
        try:
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(sessions.append(session.id, message("hello")), 1.0)
            assert (await sessions.health()).status == "down"
        finally:
            redis_server.resume()
        assert await sessions.append(session.id, message("hello again"))
        assert [m.content for m in await sessions.messages(session.id)][-1] == "hello again"


def test_the_core_builds_it_from_sessions_and_redis_url(redis_server):
    config = decode({"sessions": {"store": "redis", "url": redis_server.url, "ttl": "2h"}})
    built, type_name = build_store(config)
    assert type_name == "redis"
    assert isinstance(built, RedisStore)
    assert built.ttl == 7200


@pytest.mark.parametrize(("table", "message"), [
    ({"url": ""}, r"url: not a Redis URL \(no URL\)"),
    ({"url": "http://user:secret@cache:6379"}, r"url: not a Redis URL \(scheme 'http'\)"),
    ({"url": "redis://cache:6379", "timeout": 0}, "timeout must be greater than 0"),
    ({"url": "redis://cache:6379", "ttl": "soon"}, "is not a duration"),
])
def test_bad_options_are_refused(table, message):
    with pytest.raises(ConfigError, match=message):
        build_store(decode({"sessions": {"store": "redis", **table}}))


async def test_a_burst_waits_for_pooled_connections(redis_server):
    async with store(redis_server.url, max_connections=3) as sessions:
        created = await asyncio.gather(*(sessions.create({}) for _ in range(300)))
        await asyncio.gather(*(sessions.append(s.id, message("hi")) for s in created))
        assert await sessions.count() == 300


async def test_a_quick_redis_restart_costs_no_request(redis_server):
    """Pooled connections that the old server closed are replaced, not reported as an outage."""
    async with store(redis_server.url) as sessions:
        await asyncio.gather(*(sessions.create({}) for _ in range(20)))  # fill the pool
        redis_server.stop()
        redis_server.start()
        created = await asyncio.gather(*(sessions.create({}) for _ in range(20)))
        assert await sessions.count() == len(created)


async def test_ask_stores_the_question_and_returns_the_history_in_one_call(redis_server):
    async with store(redis_server.url, max_messages=4) as sessions:
        session = await sessions.create({})
        for index in range(2):
            await sessions.append(session.id, message(f"q{index}"))
            await sessions.append(session.id, message(f"a{index}", "assistant"))
        question = message("q2 with \"quotes\" and ünïcode")
        assert await sessions.ask(session.id, question, 3) == [*(await sessions.messages(session.id))[-3:]]
        assert [m.content for m in await sessions.messages(session.id)] == ["a0", "q1", "a1", question.content]

        again = await sessions.ask(session.id, message(question.content), 2)  # unanswered: stored once
        assert again[-1] == question and len(again) == 2
        assert len(await sessions.messages(session.id)) == 4
        page = await sessions.list_conversations(ConversationQuery(text="ünïcode"))
        assert [item.id for item in page.items] == [session.id]  # the question is in the console's index

        await sessions.delete(session.id)
        assert await sessions.ask(session.id, message("late"), 3) is None


async def test_appending_the_same_message_twice_in_a_row_stores_it_once(redis_server):
    async with store(redis_server.url) as sessions:
        session = await sessions.create({})
        hello = message("hello")
        assert await sessions.append(session.id, hello)
        assert await sessions.append(session.id, hello)
        assert await sessions.messages(session.id) == [hello]
