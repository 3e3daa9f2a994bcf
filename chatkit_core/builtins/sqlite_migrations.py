"""The ``sqlite`` store's file from earlier releases, brought up to this one's at start-up.

``PRAGMA user_version`` says which migrations a file has had. Each runs once, inside the
start-up write transaction, so two workers starting together never both apply it.
"""

from __future__ import annotations

import sqlite3

from chatkit_core.codec import decode_message, encode, unescaped

VERSION = 1


def migrate(db: sqlite3.Connection) -> None:
    """Apply what ``db`` has not had yet; the caller holds the write lock."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found < 1:
        _plain_text(db)
    if found < VERSION:
        db.execute(f"PRAGMA user_version = {VERSION}")


def _plain_text(db: sqlite3.Connection) -> None:
    """0.2 kept message text HTML-escaped (``Tom &amp; Jerry``); text is now kept as written."""
    for seq, body in db.execute("SELECT seq, body FROM messages").fetchall():
        fixed = encode(unescaped(decode_message(body)))
        if fixed != body:
            db.execute("UPDATE messages SET body = ? WHERE seq = ?", (fixed, seq))
    db.execute("UPDATE conversations SET title = coalesce((SELECT substr(json_extract(m.body, '$.content'), 1, 200) "
               "FROM messages m WHERE m.session_id = conversations.session_id "
               "AND json_extract(m.body, '$.role') = 'user' ORDER BY m.seq LIMIT 1), title)")
    db.execute("DELETE FROM messages_fts")  # the search index holds the text as it was: built again
    db.execute("INSERT INTO messages_fts (rowid, content) SELECT (c.seq << 32) + (m.seq & 4294967295), "
               "json_extract(m.body, '$.content') FROM messages m JOIN conversations c ON c.session_id = m.session_id")
