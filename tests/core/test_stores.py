"""The session store contract, in the built-in stores (memory: bounded, expiring; sqlite: durable,
shared) and in PostgreSQL's, on a real server."""

import asyncio
import fcntl
import sqlite3
import subprocess
import sys
import time

import msgspec
import pytest
from chatkit_postgres import PostgresOptions, PostgresStore

from chatkit_core.builtins import sqlite_store
from chatkit_core.builtins.memory_store import MemoryOptions, MemoryStore
from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions, StoreUnavailable
from chatkit_core.models import Message, new_message_id, now_rfc3339


def message(text: str, role: str = "user") -> Message:
    return Message(id=new_message_id(), role=role, content=text, created_at=now_rfc3339())


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request, tmp_path):
    if request.param == "memory":
        made = MemoryStore(MemoryOptions(ttl="1h", max_messages=5))
    elif request.param == "sqlite":
        made = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db", ttl="1h",
                                               max_messages=5))
    else:
        made = PostgresStore(msgspec.convert({"store": "postgres", "url": request.getfixturevalue("postgres_url"),
                                              "ttl": "1h", "max_messages": 5}, PostgresOptions))
    await made.start()
    yield made
    await made.close()


async def test_conversation_round_trip(store):
    session = await store.create({"page": "/pricing"})
    assert len(session.id) >= 43 and (await store.get(session.id)).metadata == {"page": "/pricing"}
    for index in range(7):
        assert await store.append(session.id, message(f"m{index}"))
    kept = await store.messages(session.id)
    assert [m.content for m in kept] == ["m2", "m3", "m4", "m5", "m6"]  # max_messages, oldest dropped
    assert [m.content for m in await store.messages(session.id, limit=2)] == ["m5", "m6"]
    assert await store.count() == 1
    assert await store.delete(session.id)
    assert await store.get(session.id) is None and await store.messages(session.id) is None
    assert not await store.append(session.id, message("late"))
    assert not await store.delete(session.id)


async def test_idle_sessions_expire_and_activity_refreshes(store):
    store.ttl = 0.3
    idle = await store.create({})
    busy = await store.create({})
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await store.append(busy.id, message("still here"))
    assert await store.get(idle.id) is None
    assert await store.get(busy.id) is not None
    assert await store.count() == 1


class Composed(SessionStore):
    """A store with only the required methods: ``ask`` comes from the base class."""

    def __init__(self, inner: SessionStore) -> None:
        super().__init__(inner.options)
        self.inner = inner

    async def create(self, metadata):
        return await self.inner.create(metadata)

    async def append(self, session_id, message):
        return await self.inner.append(session_id, message)

    async def messages(self, session_id, limit=None):
        return await self.inner.messages(session_id, limit)

    async def delete(self, session_id):
        return await self.inner.delete(session_id)


@pytest.mark.parametrize("composed", [False, True], ids=["native", "base-class"])
async def test_ask_stores_the_question_and_returns_the_history_ending_with_it(store, composed):
    asker = Composed(store) if composed else store
    session = await asker.create({})
    for index in range(3):
        await store.append(session.id, message(f"q{index}"))
        await store.append(session.id, message(f"a{index}", "assistant"))
    history = await asker.ask(session.id, message("q3"), 3)
    assert [m.content for m in history] == ["q2", "a2", "q3"]
    assert [m.content for m in await store.messages(session.id)] == ["q1", "a1", "q2", "a2", "q3"]  # at most 5

    again = await asker.ask(session.id, message("q3"), 3)  # unanswered, asked again: stored once
    assert [m.content for m in again] == ["q2", "a2", "q3"] and again[-1].id == history[-1].id
    assert [m.content for m in await store.messages(session.id)] == ["q1", "a1", "q2", "a2", "q3"]

    other = await asker.ask(session.id, message("something else"), 3)
    assert [m.content for m in other] == ["a2", "q3", "something else"]
    assert [m.content for m in await store.messages(session.id)] == ["a1", "q2", "a2", "q3", "something else"]
    await store.delete(session.id)
    assert await asker.ask(session.id, message("late"), 3) is None


async def test_memory_store_evicts_the_least_recently_active():
    store = MemoryStore(MemoryOptions(max_sessions=3))
    first, second, third = [await store.create({}) for _ in range(3)]
    await store.append(first.id, message("keep me"))
    await store.create({})
    assert await store.get(second.id) is None
    assert await store.get(first.id) is not None and await store.get(third.id) is not None


async def test_every_append_keeps_the_newest_max_messages(store):
    session = await store.create({})
    for index in range(12):
        assert await store.append(session.id, message(f"m{index}"))
        assert [m.content for m in await store.messages(session.id)] == [f"m{i}" for i in range(index + 1)][-5:]


async def test_sqlite_survives_a_restart(tmp_path):
    options = SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/chat.db")
    store = SQLiteStore(options)
    await store.start()
    session = await store.create({})
    await store.append(session.id, message("before restart"))
    await store.close()

    reopened = SQLiteStore(options)
    await reopened.start()
    assert [m.content for m in await reopened.messages(session.id)] == ["before restart"]
    await reopened.close()


WRITER = """
import asyncio, sys
from chatkit_core.builtins import sqlite_store
from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.models import Message, new_message_id, now_rfc3339
from chatkit_core.chat.sessions import SessionStoreOptions
async def main(url, session_id, tag):
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=url, max_messages=1000))
    await store.start()
    for index in range(100):
        ok = await store.append(session_id, Message(id=new_message_id(), role="user",
                                content=f"{tag}-{index}", created_at=now_rfc3339()))
        assert ok
    await store.close()
asyncio.run(main(*sys.argv[1:]))
"""


async def test_sqlite_is_safe_with_several_worker_processes(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=url, max_messages=1000))
    await store.start()
    session = await store.create({})
    started = time.monotonic()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, session.id, tag]) for tag in "ab"]
    assert [await asyncio.to_thread(w.wait) for w in writers] == [0, 0]
    contents = [m.content for m in await store.messages(session.id)]
    await store.close()
    assert len(contents) == 200
    for tag in "ab":  # each writer's messages, all there and in its own order
        assert [c for c in contents if c.startswith(tag)] == [f"{tag}-{i}" for i in range(100)]
    assert time.monotonic() - started < 60


async def test_sqlite_waits_for_another_writer_without_blocking_the_loop(tmp_path):
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db"))
    await store.start()
    session = await store.create({})
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker holds the write lock
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    writing = asyncio.create_task(store.append(session.id, message("waits its turn")))
    await asyncio.sleep(0.3)
    assert not writing.done() and ticks >= 10  # the loop ran on while the write waited
    other.execute("COMMIT")
    assert await asyncio.wait_for(writing, 2)
    ticker.cancel()
    other.close()
    assert [m.content for m in await store.messages(session.id)] == ["waits its turn"]
    await store.close()


async def test_sqlite_writers_queue_on_the_lock_file_and_go_the_moment_it_is_free(tmp_path):
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db"))
    await store.start()
    session = await store.create({})
    with open(tmp_path / "s.db.lock", "w") as other:  # another worker's turn to write
        fcntl.flock(other, fcntl.LOCK_EX)
        writing = asyncio.create_task(store.append(session.id, message("next in line")))
        assert await store.get(session.id) is not None  # reads go on
        await asyncio.sleep(0.3)
        assert not writing.done()
        released = time.monotonic()
        fcntl.flock(other, fcntl.LOCK_UN)
        assert await asyncio.wait_for(writing, 2)
    assert time.monotonic() - released < 0.05  # next in line at once, not after a sleep of SQLite's busy handler
    assert [m.content for m in await store.messages(session.id)] == ["next in line"]
    await store.close()


async def test_sqlite_in_memory_needs_no_lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url="sqlite://:memory:", ttl="1h"))
    await store.start()
    session = await store.create({})
    assert await store.append(session.id, message("kept"))
    assert await store.erase_inactive(time.time() - 60) == 0
    assert await store.erase_inactive(time.time() + 60) == 1
    await store.close()
    assert list(tmp_path.iterdir()) == []


async def test_sqlite_locked_for_too_long_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "_PATIENCE", 0.2)
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db"))
    await store.start()
    session = await store.create({})
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable, match="locked"):
        await store.append(session.id, message("never stored"))
    other.execute("ROLLBACK")
    other.close()
    assert await store.messages(session.id) == []
    await store.close()


def test_sqlite_url_forms():
    from chatkit_core.builtins.sqlite_io import sqlite_path as _sqlite_path

    assert _sqlite_path("sqlite:///data/chat.db") == "data/chat.db"
    assert _sqlite_path("sqlite:////var/lib/chatkit.db") == "/var/lib/chatkit.db"
    with pytest.raises(ValueError, match="sqlite:///"):
        _sqlite_path("postgres://x")


async def test_sqlite_lock_file_held_for_too_long_is_unavailable(tmp_path, monkeypatch):
    """A frozen worker holding the lock file does not hang the others for ever."""
    monkeypatch.setattr(sqlite_store, "_PATIENCE", 0.2)
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db"))
    await store.start()
    session = await store.create({})
    with open(tmp_path / "s.db.lock", "w") as frozen:
        fcntl.flock(frozen, fcntl.LOCK_EX)
        with pytest.raises(StoreUnavailable, match="locked"):
            await asyncio.wait_for(store.append(session.id, message("never stored")), 5)
    assert await store.append(session.id, message("stored once the lock is free"))
    assert [m.content for m in await store.messages(session.id)] == ["stored once the lock is free"]
    await store.close()
