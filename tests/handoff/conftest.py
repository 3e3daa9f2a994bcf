"""Fixtures for handoff tests: apps with ``[handoff]`` on, every store type, an operator's headers."""

from __future__ import annotations

import msgspec
import pytest
from chatkit_redis import RedisOptions, RedisStore

from chatkit_core.builtins.memory_store import MemoryOptions, MemoryStore
from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.sessions import SessionStoreOptions
from tests.console.helpers import ADMIN, TOKEN
from tests.core.conftest import CANNED, make_client
from tests.redis_store.redis_server import redis_server

__all__ = ["make_client", "redis_server"]

OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
HANDOFF = "\n[handoff]\nenabled = true\nheartbeat = 0.3\nstream_seconds = \"3s\"\n"


def handoff_config(extra: str = "", base: str = CANNED) -> str:
    """``base`` with the console and handoffs on; ``extra`` lines go into ``[handoff]`` (replacing ours)."""
    given = {line.split("=")[0].strip() for line in extra.splitlines() if "=" in line}
    ours = "".join(line + "\n" for line in HANDOFF.splitlines() if line.split("=")[0].strip() not in given)
    return base + ADMIN + ours + extra


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request, tmp_path):
    if request.param == "memory":
        made = MemoryStore(MemoryOptions(ttl="1h"))
    elif request.param == "sqlite":
        made = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db", ttl="1h"))
    else:
        server = request.getfixturevalue("redis_server")
        made = RedisStore(msgspec.convert({"store": "redis", "url": server.url, "ttl": "1h"}, RedisOptions))
    await made.start()
    yield made
    await made.close()
