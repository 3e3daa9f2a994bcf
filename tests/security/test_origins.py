"""Requests from another site's page: refused before any handler runs when they would change
something, logged once with the key to change; the server's own pages always pass."""

from __future__ import annotations

import httpx
from structlog.testing import capture_logs

from tests.security.conftest import canned, new_session
from tests.support.server import running_server

SHOP = "https://shop.example"
EVIL = "https://evil.example"
SERVER = f'[server]\nallowed_origins = ["{SHOP}"]\ntrusted_proxies = ["127.0.0.1/32"]\n'


async def test_a_foreign_page_cannot_create_or_erase_conversations(make_client) -> None:
    async with make_client(canned(extra=SERVER)) as client:
        session = await new_session(client)
        simple = await client.post("/api/create-session", headers={"Origin": EVIL})  # no body: no preflight
        erase = await client.delete(f"/api/session/{session}", headers={"Origin": EVIL})
        form = await client.post("/api/chat", headers={"Origin": EVIL, "Content-Type": "text/plain"},
                                 content=b"sessionId=x")
        for response in (simple, erase, form):
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden"
            assert "access-control-allow-origin" not in response.headers
        assert (await client.get(f"/api/session/{session}/messages")).status_code == 200  # not erased
        metrics = (await client.get("/metrics")).text
        assert "chatkit_active_sessions 1.0" in metrics  # nothing was created either
        listed = await client.post("/api/create-session", headers={"Origin": SHOP})
        assert listed.status_code == 201 and listed.headers["access-control-allow-origin"] == SHOP


async def test_the_servers_own_pages_are_same_origin(make_client) -> None:
    async with make_client(canned(extra='[server]\nallowed_origins = []\n')) as client:
        own = await client.post("/api/create-session", headers={"Origin": "http://testserver.local"})
        assert own.status_code == 201
        other_port = await client.post("/api/create-session", headers={"Origin": "http://testserver.local:9"})
        assert other_port.status_code == 403


def test_a_trusted_proxy_says_the_page_was_https() -> None:
    for trusted, expected in (('["127.0.0.1/32"]', 201), ("[]", 403)):
        extra = f'[server]\nallowed_origins = ["{SHOP}"]\ntrusted_proxies = {trusted}\n'
        with running_server(canned(extra=extra)) as url:
            host = url.removeprefix("http://")
            tls = httpx.post(f"{url}/api/create-session", headers={
                "Origin": f"https://{host}", "X-Forwarded-Proto": "https"})
            assert tls.status_code == expected, trusted  # TLS ended at the proxy, only if the proxy is trusted
            plain = httpx.post(f"{url}/api/create-session", headers={"Origin": f"https://{host}"})
            assert plain.status_code == 403


async def test_each_refused_origin_is_one_warning_naming_the_key(make_client) -> None:
    async with make_client(canned(extra=SERVER)) as client:
        with capture_logs() as logs:
            for _ in range(5):
                await client.options("/api/chat", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
                await client.post("/api/create-session", headers={"Origin": EVIL})
            await client.post("/api/create-session", headers={"Origin": "https://other.example"})
    refused = [entry for entry in logs if entry["event"] == "origin_refused"]
    assert [entry["origin"] for entry in refused] == [EVIL, "https://other.example"]
    assert all(entry["log_level"] == "warning" and "[server] allowed_origins" in entry["fix"] for entry in refused)
