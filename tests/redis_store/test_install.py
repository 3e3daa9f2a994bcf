"""``pip install ./plugins/chatkit_redis`` alone, into a fresh virtualenv with the core only.

pip fetches ``redis`` from the package index, so the test is skipped when it is unreachable.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.redis

# Built the way the server builds it, then used for one conversation.
SCRIPT = """
import asyncio, sys
from chatkit_core.platform.assembly import build_store
from chatkit_core.platform.config import decode
from chatkit_core.models import Message

async def main():
    store, _ = build_store(decode({"sessions": {"store": "redis", "url": sys.argv[1]}}))
    session = await store.create({})
    await store.append(session.id, Message(id="m1", role="user", content="hi", created_at="2026-01-01T00:00:00Z"))
    print([m.content for m in await store.messages(session.id)])
    await store.close()

asyncio.run(main())
"""


def store_types(venv) -> set[str]:
    rows = json.loads(venv.run("chatkit", "plugins", "--json", check=True).stdout)
    return {name for row in rows for name in row["registers"].get("session_stores", [])}


def test_redis_plugin_installs_alone_and_uninstalls(fresh_venv, redis_server) -> None:
    fresh_venv.pip("install", str(ROOT / "plugins" / "chatkit_redis"))
    try:
        assert "redis" in store_types(fresh_venv)
        assert fresh_venv.run("python", "-c", SCRIPT, redis_server.url, check=True).stdout.strip() == "['hi']"
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-redis")
    assert "redis" not in store_types(fresh_venv)
