"""[admin] retention: conversations idle for longer are erased by the running app."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from tests.core.conftest import CANNED, config_from, new_session


@pytest.mark.parametrize("store", ["memory", "sqlite", "postgres"])
async def test_idle_conversations_are_erased_after_the_retention_period(store, tmp_path, request):
    url = {"memory": "", "sqlite": f"sqlite:///{tmp_path}/s.db"}.get(store)
    if url is None:
        url = request.getfixturevalue("postgres_url")
    config = config_from(CANNED + f'[sessions]\nstore = "{store}"\nurl = "{url}"\n[admin]\nretention = "2s"\n')
    async with AsyncTestClient(create_app(build_runtime(config)), raise_server_exceptions=False) as client:
        old = await new_session(client)
        await client.post("/api/chat", json={"sessionId": old, "message": "Erase me later"})
        await asyncio.sleep(1.2)
        fresh = await new_session(client)
        await client.post("/api/chat", json={"sessionId": fresh, "message": "Still here"})
        for _ in range(60):
            if (await client.get(f"/api/session/{old}/messages")).status_code == 404:
                break
            await asyncio.sleep(0.1)
        assert (await client.get(f"/api/session/{old}/messages")).status_code == 404
        assert (await client.get(f"/api/session/{fresh}/messages")).status_code == 200


def test_retention_must_be_a_duration():
    with pytest.raises(ConfigError, match=r"admin\.retention"):
        config_from(CANNED + '[admin]\nretention = "a month"\n')
