"""Listing, search, filters, feedback and retention in every session store."""

from __future__ import annotations

import asyncio
import time

import pytest

from chatkit_core.chat.listing import BadCursor, ConversationQuery
from chatkit_core.models import Feedback, Message, Source, new_message_id, now_rfc3339


def question(text: str) -> Message:
    return Message(id=new_message_id(), role="user", content=text, created_at=now_rfc3339())


def answer(text: str, provider: str = "local", **fields) -> Message:
    return Message(id=new_message_id(), role="assistant", content=text, created_at=now_rfc3339(),
                   provider=provider, model="m", **fields)


async def conversation(store, *messages: Message) -> str:
    session = await store.create({})
    for message in messages:
        assert await store.append(session.id, message)
    await asyncio.sleep(0.002)  # distinct start times, so "newest first" is observable
    return session.id


async def titles(store, **query) -> list[str]:
    page = await store.list_conversations(ConversationQuery(**query))
    return [item.title for item in page.items]


async def test_newest_first_with_cursor_pages(store):
    await store.create({})  # no message yet: not a conversation to list
    for index in range(7):
        await conversation(store, question(f"question {index}"), answer("ok"))
    seen, cursor = [], None
    while True:
        page = await store.list_conversations(ConversationQuery(), cursor=cursor, limit=3)
        seen += [item.title for item in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"question {index}" for index in reversed(range(7))]
    with pytest.raises(BadCursor):
        await store.list_conversations(ConversationQuery(), cursor="not-a-cursor")


async def test_filtered_pages_skip_erased_conversations(store):
    ids = [await conversation(store, question(f"bread {index}"), answer("ok", provider="cloud")) for index in range(9)]
    await conversation(store, question("bread elsewhere"), answer("ok", provider="local"))
    for gone in (ids[7], ids[4], ids[3]):
        assert await store.delete(gone)
    seen, cursor = [], None
    while True:
        page = await store.list_conversations(ConversationQuery(text="bread", provider="cloud"), cursor=cursor,
                                              limit=2)
        seen += [item.title for item in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"bread {index}" for index in (8, 6, 5, 2, 1, 0)]


async def test_search_needs_every_word_across_the_conversation(store):
    await conversation(store, question("Where is the pizza?"), answer("At the harbour, open late."))
    await conversation(store, question("Opening hours?"), answer("Nine to five."))
    assert await titles(store, text="pizza") == ["Where is the pizza?"]
    assert await titles(store, text="PIZZA harbour") == ["Where is the pizza?"]
    assert await titles(store, text="pizza five") == []
    assert await titles(store, text="nine") == ["Opening hours?"]


async def test_filters(store):
    fell = await conversation(store, question("fell"), answer("a", fallbacks=["local:timeout"], provider="cloud"))
    await conversation(store, question("cut"), answer("a", incomplete=True))
    await conversation(store, question("grounded"), answer("a", sources=[Source("Home", "/")]))
    assert await titles(store, fell_back=True) == ["fell"]
    assert await titles(store, incomplete=True) == ["cut"]
    assert await titles(store, unsourced=True) == ["cut", "fell"]
    assert await titles(store, provider="cloud") == ["fell"]
    assert await titles(store, provider="cloud", incomplete=True) == []
    page = await store.list_conversations(ConversationQuery(provider="cloud"))
    assert page.items[0].id == fell and page.items[0].providers == ["cloud"] and page.items[0].fell_back


async def test_date_range(store):
    await conversation(store, question("old"), answer("a"))
    middle = time.time()
    await conversation(store, question("new"), answer("a"))
    assert await titles(store, since=middle) == ["new"]
    assert await titles(store, until=middle) == ["old"]
    assert await titles(store, since=middle + 3600) == []


async def test_feedback_is_stored_replaced_and_filtered(store):
    reply = answer("Nine to five.")
    ask = question("Opening hours?")
    session_id = await conversation(store, ask, reply)
    rated = await store.set_feedback(session_id, reply.id, Feedback(rating="down", comment="Wrong"))
    assert rated is not None and rated.feedback == Feedback(rating="down", comment="Wrong")
    assert (await store.messages(session_id))[-1].feedback == Feedback(rating="down", comment="Wrong")
    assert await titles(store, thumbs_down=True) == ["Opening hours?"]
    await store.set_feedback(session_id, reply.id, Feedback(rating="up"))
    assert (await store.messages(session_id))[-1].feedback == Feedback(rating="up")
    assert await titles(store, thumbs_down=True) == []
    assert await store.set_feedback(session_id, ask.id, Feedback(rating="up")) is None  # a question
    assert await store.set_feedback(session_id, "msg_nope", Feedback(rating="up")) is None
    assert await store.set_feedback("no-such-session", reply.id, Feedback(rating="up")) is None


async def test_erased_conversations_leave_the_listing(store):
    gone = await conversation(store, question("erase me"), answer("a"))
    await conversation(store, question("keep me"), answer("a"))
    assert await store.delete(gone)
    assert await titles(store) == ["keep me"]
    assert await titles(store, text="erase") == []


async def test_retention_erases_inactive_conversations(store):
    old = await conversation(store, question("old"), answer("a"))
    cutoff = time.time()
    await asyncio.sleep(0.01)
    await conversation(store, question("recent"), answer("a"))
    assert await store.erase_inactive(cutoff) == 1
    assert await store.messages(old) is None
    assert await titles(store) == ["recent"]


async def test_redis_index_leaves_nothing_behind(store):
    if not hasattr(store, "console"):
        pytest.skip("Redis only: its index lives beside the sessions")
    rated = answer("a")
    session_id = await conversation(store, question("index me please"), rated)
    await store.set_feedback(session_id, rated.id, Feedback(rating="down"))
    assert await store._redis.keys("chatkit:console:word:*")
    assert await store.erase_inactive(time.time() + 1) == 1
    assert await store._redis.keys("chatkit:console:*") == []
