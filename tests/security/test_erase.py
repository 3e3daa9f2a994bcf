"""Erasing a conversation leaves none of its words in the SQLite file; a rating counts once."""

from __future__ import annotations

import os
from pathlib import Path

from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.listing import ConversationQuery
from chatkit_core.chat.sessions import SessionStoreOptions
from chatkit_core.models import Message, new_message_id, now_rfc3339
from tests.security.conftest import canned, new_session

SECRET = "zebraquarkpassword"


def on_disk(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.glob("s.db*") if path.is_file())


async def test_an_erased_conversation_leaves_nothing_on_disk(tmp_path):
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db"))
    await store.start()
    try:
        kept = await store.create({})
        await store.append(kept.id, Message(id=new_message_id(), role="user", content="keep this one",
                                            created_at=now_rfc3339()))
        for _ in range(3):  # several segments in the search index, as a busy console has
            session = await store.create({})
            await store.append(session.id, Message(id=new_message_id(), role="user", created_at=now_rfc3339(),
                                                   content=f"my {SECRET} is in here"))
            await store.delete(session.id)
        assert SECRET.encode() in on_disk(tmp_path)  # deleted, but still in the log and the index
        assert store.erased
        await store.scrub()
        assert SECRET.encode() not in on_disk(tmp_path)
        assert [item.id for item in (await store.list_conversations(ConversationQuery(text="keep"))).items] == [
            kept.id]
    finally:
        await store.close()


async def test_rating_an_answer_again_counts_once(make_client):
    async with make_client(canned()) as client:
        session = await new_session(client)
        answer = (await client.post("/api/chat", json={"sessionId": session, "message": "hi"})).json()["message"]
        url = f"/api/session/{session}/messages/{answer['id']}/feedback"
        for rating in ("up", "up", "up", "down", "up"):
            assert (await client.post(url, json={"rating": rating})).status_code == 200
        metrics = (await client.get("/metrics")).text
    counted = [line for line in metrics.splitlines() if line.startswith("chatkit_feedback_total{")]
    assert counted == ['chatkit_feedback_total{provider="demo",rating="up"} 1.0'], counted


async def test_the_conversation_files_are_the_owners_only_whatever_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        store = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db"))
        await store.start()
        session = await store.create({})
        await store.append(session.id, Message(id=new_message_id(), role="user", content="my address",
                                               created_at=now_rfc3339()))
        await store.close()
    finally:
        os.umask(previous)
    files = sorted(tmp_path.iterdir())
    assert [path.name for path in files][:2] == ["s.db", "s.db.lock"]
    assert {path.name: path.stat().st_mode & 0o777 for path in files} == dict.fromkeys(
        (path.name for path in files), 0o600)
