"""``chatkit db migrate``: apply the schema ahead of a deployment; ``chatkit db status``: show it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from chatkit_core.platform.commands import Command
from chatkit_core.platform.config import ConfigError, convert, load_config

if TYPE_CHECKING:
    import asyncpg

    from chatkit_postgres.options import PostgresOptions


def load_options(config_path: str | None) -> PostgresOptions:
    from chatkit_postgres.options import PostgresOptions

    config = load_config(config_path)
    store = config.sessions.get("store", "memory")
    if store != "postgres":
        raise ConfigError(f"sessions.store is {store!r}; `chatkit db` works on the store \"postgres\" "
                          f"({config.source})")
    return convert(config.sessions, PostgresOptions, "sessions")


class DbCommand(Command):
    name = "db"
    help = "the PostgreSQL session store's schema: `migrate` applies pending migrations, `status` shows them"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["migrate", "status"])

    def run(self, args: argparse.Namespace) -> int:
        options = load_options(args.config)
        return asyncio.run(migrate(options) if args.action == "migrate" else status(options))


@contextlib.asynccontextmanager
async def _connected(options: PostgresOptions) -> AsyncIterator[asyncpg.Connection]:
    """One connection (no pool: a command makes a few calls), driver errors as ConfigError."""
    import asyncpg

    from chatkit_postgres.connection import describe
    from chatkit_postgres.options import redact

    try:
        conn = await asyncpg.connect(dsn=options.url, timeout=options.connect_timeout)
        try:
            yield conn
        finally:
            await conn.close()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, ValueError) as error:
        raise ConfigError(f"{redact(options.url)}: {describe(error)}") from None


async def migrate(options: PostgresOptions) -> int:
    from chatkit_postgres import migrate as migrations
    from chatkit_postgres.options import redact

    async with _connected(options) as conn:
        outcome = await migrations.migrate(conn)
    where = redact(options.url)
    if outcome.applied:
        print(f"{where}: schema {outcome.before} -> {outcome.after} (applied {', '.join(map(str, outcome.applied))})")
    elif outcome.before > migrations.LATEST:
        print(f"{where}: schema {outcome.before} is newer than this chatkit-postgres knows ({migrations.LATEST}); "
              "nothing to do", file=sys.stderr)
    else:
        print(f"{where}: schema {outcome.before} is up to date")
    return 0


async def status(options: PostgresOptions) -> int:
    from chatkit_postgres import migrate as migrations
    from chatkit_postgres.options import redact

    async with _connected(options) as conn:
        current = await migrations.version(conn)
    waiting = migrations.pending(current)
    print(f"{redact(options.url)}: schema {current}, this chatkit-postgres knows {migrations.LATEST}")
    for line in waiting:
        print(f"  pending {line}")
    return 1 if waiting else 0
