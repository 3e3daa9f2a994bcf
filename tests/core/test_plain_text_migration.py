"""A SQLite file written by 0.2, which kept text HTML-escaped, reads back as text as written."""

from __future__ import annotations

import sqlite3

from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.listing import ConversationQuery
from chatkit_core.chat.sessions import SessionStoreOptions
from chatkit_core.codec import encode
from chatkit_core.models import Feedback, Message, Source, new_message_id, now_rfc3339


def escaped_answer() -> Message:
    return Message(id=new_message_id(), role="assistant", content="Tom &amp; Jerry &lt;3 bread", provider="p",
                   model="m", created_at=now_rfc3339(), sources=[Source("Crumb &amp; Crust", "/about.html")],
                   feedback=Feedback(rating="down", comment="&quot;meh&quot;"))


async def test_an_old_file_is_migrated_once_and_searchable(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=url))
    await store.start()
    session = await store.create({})
    question = Message(id=new_message_id(), role="user", content="Fish &amp; chips?", created_at=now_rfc3339())
    await store.append(session.id, question)
    await store.append(session.id, escaped_answer())
    await store.close()
    with sqlite3.connect(tmp_path / "old.db") as db:  # as 0.2 left it: its triggers indexed the escaped text
        db.execute("PRAGMA user_version = 0")
        db.execute("UPDATE conversations SET title = 'Fish &amp; chips?'")

    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=url))
    await store.start()
    try:
        asked, answered = await store.messages(session.id)
        assert asked.content == "Fish & chips?"
        assert answered.content == "Tom & Jerry <3 bread"
        assert answered.sources == [Source("Crumb & Crust", "/about.html")]
        assert answered.feedback == Feedback(rating="down", comment='"meh"')
        page = await store.list_conversations(ConversationQuery(text="jerry"))
        assert [item.title for item in page.items] == ["Fish & chips?"]
        assert (await store.list_conversations(ConversationQuery(text="amp"))).items == []
        await store.append(session.id, Message(id=new_message_id(), role="user", content="a &amp; b",
                                               created_at=now_rfc3339()))
    finally:
        await store.close()

    store = SQLiteStore(SessionStoreOptions(store="sqlite", url=url))  # once only: new text stays as written
    await store.start()
    try:
        assert (await store.messages(session.id))[-1].content == "a &amp; b"
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert encode("&amp;") not in b"".join(row[0] for row in db.execute("SELECT body FROM messages LIMIT 2"))
