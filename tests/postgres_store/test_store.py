"""The PostgreSQL session store on a real server: options, migrations, outages, several instances."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
from chatkit_postgres import PostgresOptions, PostgresStore
from chatkit_postgres.migrate import LATEST, MIGRATION_LOCK

from chatkit_core.chat.listing import ConversationQuery
from chatkit_core.chat.sessions import StoreUnavailable
from chatkit_core.models import Feedback, Message, new_message_id, now_rfc3339
from tests.support.postgres import PASSWORD, PostgresServer

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def store(url: str, **table) -> AsyncIterator[PostgresStore]:
    instance = PostgresStore(msgspec.convert({"store": "postgres", "url": url, **table}, PostgresOptions))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


def message(content: str, role: str = "user") -> Message:
    assistant = role == "assistant"
    return Message(id=new_message_id(), role=role, content=content, created_at=now_rfc3339(),
                   provider="canned" if assistant else None, model="canned" if assistant else None)


async def rows(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_a_fresh_database_gets_the_schema_once(postgres_url):
    async with store(postgres_url) as first, store(postgres_url) as second:
        session = await first.create({"page": "/menu"})
        assert (await second.get(session.id)).metadata == {"page": "/menu"}
    applied = await rows(postgres_url, "SELECT version FROM chatkit_migrations ORDER BY version")
    assert [row[0] for row in applied] == list(range(1, LATEST + 1))


async def test_instances_starting_together_migrate_once(postgres_url):
    """The advisory lock: while one holds it, another start waits, then finds nothing to apply."""
    holder = await asyncpg.connect(postgres_url)
    await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    starting = [asyncio.create_task(store(postgres_url).__aenter__()) for _ in range(3)]
    await asyncio.sleep(0.5)
    assert not any(task.done() for task in starting)  # all wait for the lock
    await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    await holder.close()
    started = await asyncio.wait_for(asyncio.gather(*starting), 10)
    for instance in started:
        await instance.close()
    applied = await rows(postgres_url, "SELECT version FROM chatkit_migrations")
    assert [row[0] for row in applied] == list(range(1, LATEST + 1))


async def test_values_postgres_cannot_hold_as_text_are_stored(postgres_url):
    async with store(postgres_url) as sessions:
        session = await sessions.create({"note": "nul \x00 inside"})
        said = message("a NUL \x00 in a question, and ünïcode")
        assert await sessions.append(session.id, said)
        assert (await sessions.get(session.id)).metadata == {"note": "nul \x00 inside"}
        assert await sessions.messages(session.id) == [said]


async def test_two_instances_appending_to_one_conversation(postgres_url):
    async with store(postgres_url) as first, store(postgres_url) as second:
        session = await first.create({})

        async def write(instance: PostgresStore, writer: str) -> None:
            for n in range(100):
                assert await instance.append(session.id, message(f"{writer}-{n}"))

        await asyncio.gather(write(first, "a"), write(second, "b"), write(first, "c"), write(second, "d"))
        stored = [m.content for m in await second.messages(session.id)]
        assert len(stored) == 400
        for writer in "abcd":
            assert [c for c in stored if c.startswith(writer)] == [f"{writer}-{n}" for n in range(100)]
        assert (await rows(postgres_url, "SELECT messages FROM chatkit_sessions"))[0][0] == 400


async def test_appending_the_same_message_twice_stores_it_once(postgres_url):
    """A write retried after its acknowledgement was lost is not stored twice."""
    async with store(postgres_url) as sessions:
        session = await sessions.create({})
        hello = message("hello")
        assert await sessions.append(session.id, hello)
        assert await sessions.append(session.id, hello)
        assert await sessions.messages(session.id) == [hello]


async def test_the_console_counts_follow_trims_and_ratings(postgres_url):
    """A conversation matches a filter while an answer it keeps carries the flag."""
    async with store(postgres_url, max_messages=2) as sessions:
        session = await sessions.create({})
        cut = Message(id=new_message_id(), role="assistant", content="Half an", created_at=now_rfc3339(),
                      provider="canned", incomplete=True)
        await sessions.append(session.id, message("Opening hours?"))
        await sessions.append(session.id, cut)
        assert [item.id for item in (await sessions.list_conversations(ConversationQuery(incomplete=True))).items] \
            == [session.id]
        await sessions.set_feedback(session.id, cut.id, Feedback(rating="down"))
        await sessions.set_feedback(session.id, cut.id, Feedback(rating="down", comment="again"))
        assert (await sessions.list_conversations(ConversationQuery(thumbs_down=True))).items[0].thumbs_down
        await sessions.append(session.id, message("Still there?"))
        await sessions.append(session.id, message("Hello?"))  # the cut-off, rated answer is trimmed
        for query in (ConversationQuery(incomplete=True), ConversationQuery(thumbs_down=True)):
            assert (await sessions.list_conversations(query)).items == []
        counts = await rows(postgres_url, "SELECT messages, down, incomplete, unsourced, title FROM chatkit_sessions")
        assert tuple(counts[0]) == (2, 0, 0, 0, "Opening hours?")


async def test_ratings_and_trimming_appends_at_once_never_deadlock(postgres_url):
    async with store(postgres_url, max_messages=2) as first, store(postgres_url, max_messages=2) as second:
        session = await first.create({})
        answers = [message(f"a{n}", "assistant") for n in range(30)]

        async def rate() -> None:
            for answer in answers:
                await second.set_feedback(session.id, answer.id, Feedback(rating="down"))

        async def write() -> None:
            for answer in answers:
                await first.append(session.id, answer)

        await asyncio.wait_for(asyncio.gather(write(), rate(), rate()), 30)
        counts = await rows(postgres_url, "SELECT messages, down FROM chatkit_sessions")
        kept = await first.messages(session.id)
        assert tuple(counts[0]) == (2, sum(m.feedback is not None for m in kept))


async def test_a_write_that_cannot_finish_leaves_nothing_behind(postgres_url):
    """A statement cancelled by its timeout (another transaction holds the conversation) rolls
    back whole: no message, no trim, no new activity time."""
    async with store(postgres_url, statement_timeout=0.3, max_messages=2) as sessions:
        session = await sessions.create({})
        first, second = message("one"), message("two", "assistant")
        await sessions.append(session.id, first)
        await sessions.append(session.id, second)
        before = await rows(postgres_url, "SELECT last_seen, messages, title FROM chatkit_sessions")
        blocker = await asyncpg.connect(postgres_url)
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM chatkit_sessions FOR UPDATE")
        with pytest.raises(StoreUnavailable):
            await sessions.append(session.id, message("three"))
        with pytest.raises(StoreUnavailable):
            await sessions.ask(session.id, message("four"), 10)
        with pytest.raises(StoreUnavailable):
            await sessions.delete(session.id)
        await transaction.rollback()
        await blocker.close()
        assert await sessions.messages(session.id) == [first, second]
        assert await rows(postgres_url, "SELECT last_seen, messages, title FROM chatkit_sessions") == before


async def test_an_outage_is_unavailable_and_recovers_without_a_restart(own_postgres: PostgresServer):
    url = own_postgres.create_database("chat")
    async with store(url, connect_timeout=0.5) as sessions:
        session = await sessions.create({})
        assert await sessions.append(session.id, message("before"))
        assert (await sessions.health()).status == "up"

        own_postgres.stop()
        calls = [sessions.create({}), sessions.get(session.id), sessions.append(session.id, message("lost?")),
                 sessions.ask(session.id, message("lost?"), 5), sessions.messages(session.id),
                 sessions.delete(session.id), sessions.count()]
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(call, 5)
        health = await sessions.health()
        assert health.status == "down" and health.detail.startswith("postgres unreachable (")
        assert PASSWORD not in health.detail and str(own_postgres.port) not in health.detail

        own_postgres.start()
        assert (await sessions.health()).status == "up"
        assert [m.content for m in await sessions.messages(session.id)] == ["before"]
        assert await sessions.append(session.id, message("after"))
        assert [m.content for m in await sessions.messages(session.id)] == ["before", "after"]


async def test_a_quick_restart_costs_no_request(own_postgres: PostgresServer):
    """Pooled connections the old server closed are replaced, not reported as an outage."""
    url = own_postgres.create_database("chat")
    async with store(url) as sessions:
        created = await asyncio.gather(*(sessions.create({}) for _ in range(10)))  # fill the pool
        own_postgres.crash()
        own_postgres.start()
        assert all(await asyncio.gather(*(sessions.append(s.id, message("back")) for s in created)))
        assert await sessions.count() == 10


async def test_a_hung_server_is_unavailable_within_the_timeouts(own_postgres: PostgresServer):
    url = own_postgres.create_database("chat")
    async with store(url, statement_timeout=0.3, connect_timeout=0.3, pool_timeout=0.3) as sessions:
        session = await sessions.create({})
        own_postgres.pause()
        try:
            began = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await sessions.append(session.id, message("hello"))
            assert time.monotonic() - began < 3
            assert (await sessions.health()).status == "down"
        finally:
            own_postgres.resume()
        for _ in range(50):  # the connection cut off mid-call is replaced
            with contextlib.suppress(StoreUnavailable):
                if await sessions.append(session.id, message("hello again")):
                    break
            await asyncio.sleep(0.1)
        assert [m.content for m in await sessions.messages(session.id)][-1] == "hello again"


async def test_a_server_down_at_start_up_is_waited_for(own_postgres: PostgresServer):
    url = own_postgres.create_database("chat")
    own_postgres.stop()
    async with store(url, connect_timeout=0.5) as sessions:  # starts all the same
        with pytest.raises(StoreUnavailable):
            await sessions.create({})
        assert (await sessions.health()).status == "down"
        own_postgres.start()
        session = await sessions.create({})  # migrates first
        assert await sessions.append(session.id, message("first"))
    applied = await rows(url, "SELECT version FROM chatkit_migrations")
    assert [row[0] for row in applied] == list(range(1, LATEST + 1))


@pytest.mark.parametrize(("change", "reason"), [
    (lambda url: url.replace(PASSWORD, "wrong"), "password authentication failed"),
    (lambda url: url.rsplit("/", 1)[0] + "/nowhere", 'database "nowhere" does not exist'),
])
async def test_a_misconfigured_database_stops_the_start(postgres_url, change, reason):
    with pytest.raises(StoreUnavailable, match=reason) as refused:
        async with store(change(postgres_url)):
            pass
    assert PASSWORD not in str(refused.value) and "wrong" not in str(refused.value)


async def test_retention_runs_on_the_instance_holding_the_lease(postgres_url):
    async with store(postgres_url, sweep_lease=0.5) as first, store(postgres_url, sweep_lease=0.5) as second:
        for _ in range(3):
            session = await first.create({})
            await first.append(session.id, message("old"))
        assert await first.erase_inactive(time.time() + 1) == 3
        late = await second.create({})
        await second.append(late.id, message("old too"))
        assert await second.erase_inactive(time.time() + 1) == 0  # the first holds the turn
        assert await second.get(late.id) is not None
        assert await first.erase_inactive(time.time() + 1) == 1  # and keeps it
        await asyncio.sleep(0.7)  # the first stops sweeping: its lease runs out
        again = await second.create({})
        await second.append(again.id, message("old as well"))
        assert await second.erase_inactive(time.time() + 1) == 1
        leases = await rows(postgres_url, "SELECT name, holder FROM chatkit_leases")
        assert [(row[0], row[1]) for row in leases] == [("retention", second.holder)]

