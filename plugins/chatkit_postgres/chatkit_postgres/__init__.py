"""ChatKit session store type ``postgres``: conversations, feedback and the console in PostgreSQL.

    [sessions]
    store = "postgres"
    url = "postgresql://chatkit:PASSWORD@db.internal:5432/chatkit"   # DATABASE_URL fills it when empty
    ttl = "24h"

``chatkit db migrate`` applies the schema ahead of a deployment; ``chatkit db status`` shows it.
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_postgres.command import DbCommand
from chatkit_postgres.options import PostgresOptions
from chatkit_postgres.store import PostgresStore

__all__ = ["DbCommand", "PostgresOptions", "PostgresStore"]


@hookimpl
def register_session_stores(register):
    register("postgres", PostgresStore)


@hookimpl
def register_commands(register):
    register(DbCommand())
