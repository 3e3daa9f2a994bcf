"""Visitor IP addresses are never stored with conversations."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import CANNED, config_from


async def test_the_store_holds_no_client_address(tmp_path: Path):
    config = config_from(CANNED.replace("[chain]", '[server]\ntrusted_proxies = ["0.0.0.0/0"]\n[chain]')
                         + f'[sessions]\nstore = "sqlite"\nurl = "sqlite:///{tmp_path}/s.db"\n')
    headers = {"x-forwarded-for": "203.0.113.77"}
    async with AsyncTestClient(create_app(build_runtime(config)), raise_server_exceptions=False) as client:
        session = (await client.post("/api/create-session", headers=headers)).json()["sessionId"]
        answer = (await client.post("/api/chat", headers=headers,
                                    json={"sessionId": session, "message": "Hello"})).json()["message"]
        rated = await client.post(f"/api/session/{session}/messages/{answer['id']}/feedback", headers=headers,
                                  json={"rating": "up", "comment": "fine"})
        assert rated.status_code == 200
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert b"Hello" in stored  # the conversation is there
    assert b"203.0.113.77" not in stored and b"testclient" not in stored
