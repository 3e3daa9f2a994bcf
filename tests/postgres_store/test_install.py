"""``pip install ./plugins/chatkit_postgres`` alone, into a fresh virtualenv with the core only.

pip fetches ``asyncpg`` from the package index, so the test is skipped when it is unreachable.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.postgres

# Built the way the server builds it (migrating a new database), then used for one conversation.
SCRIPT = """
import asyncio, sys
from chatkit_core.platform.assembly import build_store
from chatkit_core.platform.config import decode
from chatkit_core.models import Message

async def main():
    store, _ = build_store(decode({"sessions": {"store": "postgres", "url": sys.argv[1]}}))
    await store.start()
    session = await store.create({})
    await store.append(session.id, Message(id="m1", role="user", content="hi", created_at="2026-01-01T00:00:00Z"))
    print([m.content for m in await store.messages(session.id)])
    await store.close()

asyncio.run(main())
"""


def registered(venv) -> tuple[set[str], set[str]]:
    rows = json.loads(venv.run("chatkit", "plugins", "--json", check=True).stdout)
    return ({name for row in rows for name in row["registers"].get("session_stores", [])},
            {name for row in rows for name in row["registers"].get("commands", [])})


def test_postgres_plugin_installs_alone_and_uninstalls(fresh_venv, postgres_url) -> None:
    fresh_venv.pip("install", str(ROOT / "plugins" / "chatkit_postgres"))
    try:
        stores, commands = registered(fresh_venv)
        assert "postgres" in stores and "db" in commands
        ran = fresh_venv.run("python", "-c", SCRIPT, postgres_url, check=True)
        assert ran.stdout.strip().splitlines()[-1] == "['hi']"  # after the log line of the migration
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-postgres")
    assert "postgres" not in registered(fresh_venv)[0]
