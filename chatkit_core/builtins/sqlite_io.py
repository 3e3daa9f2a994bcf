"""Writing to SQLite from several worker processes: transactions that take the write lock up
front, the lock file writers take turns through, and where the database file is."""

from __future__ import annotations

import fcntl
import sqlite3
import time


def erase_before(db: sqlite3.Connection, before: float) -> int:
    """Delete the sessions inactive since ``before``, their messages and console rows with them."""
    with Immediate(db):
        return db.execute("DELETE FROM sessions WHERE last_seen < ?", (before,)).rowcount



def scrub(db: sqlite3.Connection) -> None:
    """The words of deleted messages out of the search index, and the write-ahead log emptied."""
    with Immediate(db):
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def take_turn(descriptor: int, patience: float) -> None:
    """The lock file, waited for in steps of half a millisecond (a blocking ``flock`` would wait
    for ever behind a frozen worker); ``database is locked`` after ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked (another worker holds the lock file)") from None
            time.sleep(0.0005)


class Busy(Exception):
    """SQLite's write lock is held by another connection."""


class Immediate:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock up front so writers queue, not deadlock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def sqlite_path(url: str) -> str:
    if not url:
        return "chatkit.sqlite3"
    if not url.startswith("sqlite://"):
        raise ValueError(f"url must look like sqlite:///path/to/file.sqlite3, got {url!r}")
    return url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite:///") else url[9:]
