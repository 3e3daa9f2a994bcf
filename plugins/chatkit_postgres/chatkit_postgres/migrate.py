"""Applying :data:`chatkit_postgres.schema.MIGRATIONS`: at start-up, or ahead of it with ``chatkit db migrate``.

All pending migrations run in one transaction behind a transaction-level advisory lock, so
instances starting together take turns: the first applies them, the others then find nothing
left to do. PostgreSQL's DDL is transactional, so a migration that fails leaves the schema as it
was. A database already newer than this package (a rolling upgrade, with older instances still
running) is left alone: migrations only add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from chatkit_postgres.schema import LATEST, MIGRATIONS

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection | PoolConnectionProxy

MIGRATION_LOCK = 0x63686174_6B69746D
"""The advisory lock key ("chatkitm"), shared by every instance on the database."""
MIGRATION_TIMEOUT = 3600.0
"""Seconds a migration (or the wait for another instance's) may take, in place of the store's
statement timeout: one over a large table may take a while."""

_LEDGER = """
CREATE TABLE IF NOT EXISTS chatkit_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class Outcome(NamedTuple):
    before: int
    """The schema version found."""
    applied: list[int]
    """The versions applied now, in order."""

    @property
    def after(self) -> int:
        return self.applied[-1] if self.applied else self.before


async def migrate(conn: Conn) -> Outcome:
    """Bring the database up to :data:`LATEST`."""
    async with conn.transaction():
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT)
        await conn.execute(_LEDGER)
        before = await _version(conn)
        applied = []
        for migration in MIGRATIONS:
            if migration.version > before:
                await conn.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
                await conn.execute("INSERT INTO chatkit_migrations (version, name) VALUES ($1, $2)",
                                   migration.version, migration.name)
                applied.append(migration.version)
    return Outcome(before, applied)


async def version(conn: Conn) -> int:
    """The applied schema version; 0 for a database ChatKit never used."""
    exists = await conn.fetchval("SELECT to_regclass('chatkit_migrations') IS NOT NULL")
    return await _version(conn) if exists else 0


async def _version(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM chatkit_migrations"))


def pending(current: int) -> list[str]:
    return [f"{m.version}: {m.name}" for m in MIGRATIONS if m.version > current]


__all__ = ["LATEST", "MIGRATION_LOCK", "Outcome", "migrate", "pending", "version"]
