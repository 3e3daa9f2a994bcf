"""Session ids: unguessable, isolated, gone when expired, and never logged in full."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatkit_core.models import new_session_id
from tests.security.conftest import canned, new_session, sse_events
from tests.support.server import free_port


def test_ids_carry_at_least_128_random_bits_and_are_url_safe() -> None:
    ids = {new_session_id() for _ in range(2000)}
    assert len(ids) == 2000
    for session_id in list(ids)[:50]:
        assert len(base64.urlsafe_b64decode(session_id + "=" * (-len(session_id) % 4))) * 8 >= 128
        assert session_id.replace("-", "").replace("_", "").isalnum()


async def test_a_session_id_reads_only_its_own_conversation(make_client) -> None:
    async with make_client(canned()) as client:
        alice, bob = await new_session(client), await new_session(client)
        await client.post("/api/chat", json={"sessionId": alice, "message": "alice's question"})
        await client.post("/api/chat", json={"sessionId": bob, "message": "bob's question"})
        mine = (await client.get(f"/api/session/{bob}/messages")).json()["messages"]
        near_misses = [alice[:-1], alice + "A", alice.upper(), alice[1:], f"{alice}%2F..%2F{bob}", alice + "%00",
                       " " + alice, "*", ""]
        statuses = [(await client.get(f"/api/session/{guess}/messages")).status_code for guess in near_misses]
        deletes = [(await client.delete(f"/api/session/{guess}")).status_code for guess in near_misses[:4]]
        still = (await client.get(f"/api/session/{alice}/messages")).json()["messages"]
    assert all("alice" not in m["content"] for m in mine) and len(mine) == 2
    assert set(statuses) <= {404, 405} and set(deletes) <= {404}  # 405: the empty id hits another route
    assert len(still) == 2


async def test_expired_sessions_are_gone_from_the_memory_store(make_client) -> None:
    async with make_client(canned(extra='[sessions]\nstore = "memory"\nttl = 0.3\n')) as client:
        session = await new_session(client)
        await client.post("/api/chat", json={"sessionId": session, "message": "hi"})
        await asyncio.sleep(0.5)
        gone = await client.get(f"/api/session/{session}/messages")
        chat = await client.post("/api/chat", json={"sessionId": session, "message": "hi again"})
        store = client.app.state.runtime.store
        await new_session(client)
        held = list(store._conversations)
    assert gone.status_code == 404 and chat.status_code == 404
    assert session not in held and len(held) == 1


async def test_expired_and_deleted_sessions_are_gone_from_sqlite(make_client, tmp_path: Path) -> None:
    db = tmp_path / "chat.sqlite3"
    config = canned(extra=f'[sessions]\nstore = "sqlite"\nurl = "sqlite:///{db}"\nttl = 0.3\n')
    async with make_client(config) as client:
        kept = await new_session(client)
        await client.post("/api/chat", json={"sessionId": kept, "message": "to be erased"})
        assert (await client.delete(f"/api/session/{kept}")).status_code == 204
        expired = await new_session(client)
        await asyncio.sleep(0.5)
        gone = await client.get(f"/api/session/{expired}/messages")
    with sqlite3.connect(db) as conn:
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        ids = [row[0] for row in conn.execute("SELECT id FROM sessions")]
    assert gone.status_code == 404
    assert messages == 0 and kept not in ids


SECRET_TEXT = "my card number is 4111 1111 1111 1111"


@pytest.mark.parametrize("level", ["debug", "info"])
def test_logs_hold_neither_session_ids_nor_message_text(tmp_path: Path, level: str) -> None:
    config = tmp_path / "chatkit.toml"
    config.write_text(canned(extra='[logging]\nformat = "json"\n'))
    port = free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("CHATKIT_CONFIG", "OPENAI_API_KEY")}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "chatkit_core", "serve", "--config", str(config),
                                   "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env={**env, "LOG_LEVEL": level})
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, server)
        with httpx.Client(base_url=base, timeout=10) as client:
            session = client.post("/api/create-session").json()["sessionId"]
            assert client.post("/api/chat", json={"sessionId": session, "message": SECRET_TEXT}).status_code == 200
            stream = client.post("/api/chat", json={"sessionId": session, "message": SECRET_TEXT, "stream": True})
            assert sse_events(stream.text)[-1][0] == "done"
            assert client.get(f"/api/session/{session}/messages").status_code == 200
            wrong = client.post("/api/chat", json={"sessionId": session + "x", "message": SECRET_TEXT})
            assert wrong.status_code == 404
            assert client.delete(f"/api/session/{session}").status_code == 204
            assert client.get(f"/api/session/{session}/messages").status_code == 404
    finally:
        server.terminate()
        server.wait(10)
    text = log.read_text()
    assert '"request"' in text or "request" in text  # the server did log these requests
    assert session[:12] not in text
    # The whole number, not "4111" alone: timestamps such as 33.411137Z may hold those digits.
    assert "4111 1111" not in text and "card number" not in text


def _wait_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")
