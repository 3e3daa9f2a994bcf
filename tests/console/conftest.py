"""Fixtures for the console tests: each session store type, on real backing services (redis-server,
PostgreSQL)."""

from __future__ import annotations

import msgspec
import pytest
from chatkit_postgres import PostgresOptions, PostgresStore
from chatkit_redis import RedisOptions, RedisStore

from chatkit_core.builtins.memory_store import MemoryOptions, MemoryStore
from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.sessions import SessionStoreOptions
from tests.redis_store.redis_server import redis_server

__all__ = ["redis_server"]


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
async def store(request, tmp_path):
    if request.param == "memory":
        made = MemoryStore(MemoryOptions(ttl="1h", max_messages=6))
    elif request.param == "sqlite":
        made = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db", ttl="1h",
                                               max_messages=6))
    elif request.param == "redis":
        server = request.getfixturevalue("redis_server")
        made = RedisStore(msgspec.convert({"store": "redis", "url": server.url, "ttl": "1h", "max_messages": 6},
                                          RedisOptions))
    else:
        made = PostgresStore(msgspec.convert({"store": "postgres", "url": request.getfixturevalue("postgres_url"),
                                              "ttl": "1h", "max_messages": 6}, PostgresOptions))
    await made.start()
    yield made
    await made.close()
