"""Attachments kept with their conversation in every store that keeps them (memory, SQLite, and
Redis and PostgreSQL on real servers) and in a folder: read back only by their conversation, capped
per conversation even when uploads race, and erased with it however it goes, down to the backing
storage."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest

from chatkit_core.builtins.memory_store import MemoryOptions, MemoryStore
from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.attachment_folder import FolderAttachments
from chatkit_core.chat.attachments import AttachmentsFull, StoredAttachment, new_attachment_id
from chatkit_core.models import Message, new_message_id, now_rfc3339


def attachment(text: str = "note", image: bool = False) -> StoredAttachment:
    if image:
        return StoredAttachment(id=new_attachment_id(), type="image/png", name="part.png", media_type="image/png",
                                data=b"\x89PNG fake pixels " + text.encode())
    return StoredAttachment(id=new_attachment_id(), type="text/plain", name="notes.txt", media_type="text/plain",
                            data=text.encode())


async def held(store) -> int:
    """Attachments left in the store's own storage, looked at directly."""
    if isinstance(store, MemoryStore):
        return sum(len(conversation.attachments) for conversation in store._conversations.values())
    if isinstance(store, SQLiteStore):
        return store.db.execute("SELECT count(*) FROM attachments").fetchone()[0]
    if type(store).__name__ == "RedisStore":
        count = 0
        async for key in store._redis.scan_iter(match="chatkit:session:*"):
            count += sum(1 for field in await store._redis.hkeys(key) if field.startswith(b"attachment:"))
        return count
    return await store.pool.run(lambda conn: conn.fetchval("SELECT count(*) FROM chatkit_attachments"))


async def test_kept_and_read_back_by_their_conversation_only(store) -> None:
    mine, theirs = await store.create({}), await store.create({})
    photo, notes = attachment("a", image=True), attachment("b")
    assert await store.add_attachment(mine.id, photo, 5) is True
    assert await store.add_attachment(mine.id, notes, 5) is True
    assert await store.attachments(mine.id, [notes.id, "att_unknownxxxxxxxx", photo.id]) == [notes, photo]
    assert await store.attachments(theirs.id, [photo.id, notes.id]) == []
    assert await store.add_attachment("no-such-session", attachment(), 5) is None
    assert await store.attachments("no-such-session", [photo.id]) == []


async def test_the_cap_holds_when_uploads_race(store) -> None:
    session = await store.create({})
    added = await asyncio.gather(*(store.add_attachment(session.id, attachment(str(i)), 3) for i in range(8)))
    assert sorted(added) == [False] * 5 + [True] * 3
    assert await held(store) == 3


async def test_erasing_a_conversation_erases_its_attachments(store) -> None:
    kept, erased = await store.create({}), await store.create({})
    for session in (kept, erased):
        await store.add_attachment(session.id, attachment("x" * 1000, image=True), 5)
        await store.append(session.id, Message(id=new_message_id(), role="user", content="Hi",
                                               created_at=now_rfc3339()))
    assert await held(store) == 2
    assert await store.delete(erased.id)
    assert await held(store) == 1
    assert await store.erase_inactive(time.time() + 1) >= 1  # the retention sweep takes the other
    assert await held(store) == 0


async def test_an_expired_conversation_takes_its_attachments(store) -> None:
    store.ttl = 0.3
    if hasattr(store, "_ttl_ms"):  # Redis expires keys by itself
        store._ttl_ms = 300
    session = await store.create({})
    kept = attachment()
    await store.add_attachment(session.id, kept, 5)
    await asyncio.sleep(0.5)
    assert await store.attachments(session.id, [kept.id]) == []
    assert await store.add_attachment(session.id, attachment(), 5) is None
    await store.erase_inactive(time.time() - 0.3)  # what the sweep does with expired conversations
    assert await held(store) == 0


async def test_the_memory_store_caps_all_attachments_together() -> None:
    store = MemoryStore(MemoryOptions(max_attachment_bytes=2500))
    first, second = await store.create({}), await store.create({})
    assert await store.add_attachment(first.id, attachment("x" * 2000), 5)
    with pytest.raises(AttachmentsFull):
        await store.add_attachment(second.id, attachment("y" * 1000), 5)
    await store.delete(first.id)
    assert await store.add_attachment(second.id, attachment("y" * 1000), 5)


@pytest.fixture
async def folder(tmp_path):
    sessions = MemoryStore(MemoryOptions(ttl="1h"))
    files = FolderAttachments(str(tmp_path / "uploads"), sessions, sweep_every=0.2)
    await files.start()
    yield files
    await files.close()


async def test_a_folder_keeps_them_private_and_erases_them(folder) -> None:
    sessions = folder.sessions
    mine, theirs = await sessions.create({}), await sessions.create({})
    kept = attachment("private")
    assert await folder.add_attachment(mine.id, kept, 2) is True
    assert await folder.add_attachment(mine.id, attachment(), 2) is True
    assert await folder.add_attachment(mine.id, attachment(), 2) is False
    assert await folder.attachments(mine.id, [kept.id]) == [kept]
    assert await folder.attachments(theirs.id, [kept.id]) == []
    assert await folder.attachments(mine.id, ["../" + mine.id, "/etc/passwd", ".session"]) == []
    places = list(folder.folder.iterdir())
    assert len(places) == 1 and mine.id not in str(places[0])
    assert stat.S_IMODE(places[0].stat().st_mode) == 0o700
    assert stat.S_IMODE((places[0] / kept.id).stat().st_mode) == 0o600
    await folder.forget(mine.id)
    assert list(folder.folder.iterdir()) == []


async def test_the_folder_sweep_removes_conversations_gone_otherwise(folder) -> None:
    sessions = folder.sessions
    expired, erased, live = [await sessions.create({}) for _ in range(3)]
    for session in (expired, erased, live):
        await folder.add_attachment(session.id, attachment(), 5)
    sessions._conversations[expired.id].session.last_seen = time.time() - 7200
    await sessions.delete(erased.id)  # as the console erases: the store alone
    deadline = time.monotonic() + 5
    while len(list(folder.folder.iterdir())) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert [p.name for p in folder.folder.iterdir()] == [folder._place(live.id).name]
    assert os.listdir(folder._place(live.id))  # the live one is untouched
