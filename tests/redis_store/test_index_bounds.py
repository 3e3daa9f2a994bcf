"""Random words cannot make Redis keep a set per word: no word index without the console, and at
most MAX_INDEXED_WORDS words of a message with it."""

from __future__ import annotations

import random
import string

import msgspec
import pytest
import redis.asyncio
from chatkit_redis import RedisOptions, RedisStore

from chatkit_core.chat.listing import MAX_INDEXED_WORDS, ConversationQuery
from chatkit_core.models import Message, new_message_id, now_rfc3339

pytestmark = pytest.mark.redis


def random_words(count: int) -> str:
    return " ".join("".join(random.choices(string.ascii_lowercase, k=12)) for _ in range(count))


async def ask_twenty(url: str, search: bool) -> tuple[int, int]:
    store = RedisStore(msgspec.convert({"store": "redis", "url": url}, RedisOptions))
    store.search_index = search
    await store.start()
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    before = (await client.info("memory"))["used_memory"]
    try:
        session = await store.create({})
        for _ in range(20):
            question = Message(id=new_message_id(), role="user", content=random_words(500), created_at=now_rfc3339())
            await store.ask(session.id, question, 20)
        if search:
            found = await store.list_conversations(ConversationQuery(text=question.content.split()[0]))
            assert [item.id for item in found.items] == [session.id]
        words = len([key async for key in client.scan_iter(match="chatkit:console:word:*")])
        return words, (await client.info("memory"))["used_memory"] - before
    finally:
        await client.aclose()
        await store.close()


async def test_no_word_index_without_the_console(redis_server):
    words, grew = await ask_twenty(redis_server.url, search=False)
    assert words == 0
    print(f"20 questions of 500 random words, console off: {grew / 1024:.0f} KiB")


async def test_with_the_console_each_message_indexes_a_bounded_number_of_words(redis_server):
    words, grew = await ask_twenty(redis_server.url, search=True)
    assert words == 20 * MAX_INDEXED_WORDS
    print(f"20 questions of 500 random words, console on: {words} word keys, {grew / 1024:.0f} KiB")
