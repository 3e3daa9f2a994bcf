"""Every error in the contract, with its status, code and a readable message."""

import asyncio

import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.ratelimit import Decision, RateLimiter
from chatkit_core.chat.sessions import SessionStore, StoreUnavailable
from chatkit_core.platform.plugins import pm
from tests.core.conftest import CANNED, new_session


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"].endswith(".")
    return error


async def test_session_lifecycle(client):
    created = await client.post("/api/create-session", json={"metadata": {"page": "/"}})
    assert created.status_code == 201 and created.json()["expiresAt"].endswith("Z")
    session = created.json()["sessionId"]
    reply = await client.post("/api/chat", json={"sessionId": session, "message": "  hi  "})
    assert reply.status_code == 200
    message = reply.json()["message"]
    assert set(message) >= {"id", "role", "content", "createdAt", "provider", "model"}
    history = (await client.get(f"/api/session/{session}/messages")).json()
    assert history["sessionId"] == session
    user, answer = history["messages"]
    assert (user["role"], user["content"], user["provider"], user["model"]) == ("user", "hi", None, None)
    assert answer == message
    assert (await client.delete(f"/api/session/{session}")).status_code == 204
    error_of(await client.get(f"/api/session/{session}/messages"), 404, "session_not_found")


@pytest.mark.parametrize("body, field", [
    ({"message": "x"}, "sessionId"),
    ({"sessionId": "s"}, "message"),
    ({"sessionId": 5, "message": "x"}, "sessionId"),
    ({"sessionId": "s", "message": ["x"]}, "message"),
    ({"sessionId": "s", "message": "x", "stream": "yes"}, "stream"),
    ({"sessionId": "s", "message": "   "}, "message"),
])
async def test_invalid_request_names_the_field(client, body, field):
    if body.get("sessionId") == "s":
        body["sessionId"] = await new_session(client)
    assert error_of(await client.post("/api/chat", json=body), 400, "invalid_request")["field"] == field


@pytest.mark.parametrize("raw", [b"{", b"[]", b"", b"null", b'"text"', b"\xff\xfe"])
async def test_malformed_bodies_are_invalid_requests(client, raw):
    response = await client.post("/api/chat", content=raw, headers={"content-type": "application/json"})
    error_of(response, 400, "invalid_request")


@pytest.mark.parametrize("session", ["nope", "x" * 43, "%00", "a" * 500, "é", "sess ion"])
async def test_unknown_or_malformed_sessions(client, session):
    error_of(await client.post("/api/chat", json={"sessionId": session, "message": "hi"}), 404, "session_not_found")
    error_of(await client.post("/api/chat", json={"sessionId": "../" + session, "message": "hi"}), 404,
             "session_not_found")
    error_of(await client.get(f"/api/session/{session}/messages"), 404, "session_not_found")
    error_of(await client.delete(f"/api/session/{session}"), 404, "session_not_found")


async def test_expired_session_is_not_found(make_client):
    async with make_client(CANNED + '\n[sessions]\nttl = "0.3s"') as client:
        session = await new_session(client)
        await asyncio.sleep(0.4)
        error_of(await client.post("/api/chat", json={"sessionId": session, "message": "hi"}), 404,
                 "session_not_found")


async def test_size_limits(make_client):
    toml = CANNED + "\n[server]\nmax_message_chars = 10\nmax_body_bytes = 2048"
    async with make_client(toml) as client:
        session = await new_session(client)
        too_long = await client.post("/api/chat", json={"sessionId": session, "message": "x" * 11})
        assert error_of(too_long, 413, "message_too_long")["limit"] == 10
        huge = await client.post("/api/chat", json={"sessionId": session, "message": "x" * 5000})
        error_of(huge, 413, "body_too_large")
        messages = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
        assert messages == []


class StrictLimiter(RateLimiter):
    """Admits two chat requests, then refuses with a 7 s wait."""

    seen = 0

    async def hit(self, route, ip, session_id=None):
        if route != "chat":
            return None
        StrictLimiter.seen += 1
        headers = {"RateLimit-Policy": '"test";q=2;w=60', "RateLimit": f'"test";r={max(0, 2 - self.seen)};t=7'}
        return Decision(allowed=self.seen <= 2, retry_after=7, headers=headers)


class LimiterPlugin:
    @hookimpl
    def register_rate_limiters(self, register):
        register("strict", StrictLimiter)


async def test_rate_limited(make_client):
    StrictLimiter.seen = 0
    pm.register(LimiterPlugin(), name="strict-limiter")
    try:
        async with make_client(CANNED.replace('type = "none"', 'type = "strict"')) as client:
            session = await new_session(client)
            for _ in range(2):
                ok = await client.post("/api/chat", json={"sessionId": session, "message": "hi"})
                assert ok.status_code == 200 and ok.headers["ratelimit-policy"] == '"test";q=2;w=60'
            refused = await client.post("/api/chat", json={"sessionId": session, "message": "hi"})
            assert error_of(refused, 429, "rate_limited")["retryAfter"] == 7
            assert refused.headers["retry-after"] == "7" and refused.headers["ratelimit"] == '"test";r=0;t=7'
            assert "7 seconds" in refused.json()["error"]["message"]
            roles = [m["role"] for m in (await client.get(f"/api/session/{session}/messages")).json()["messages"]]
            assert roles == ["user", "assistant"] * 2
            metrics = (await client.get("/metrics")).text
            assert 'chatkit_rate_limited_total{route="chat"} 1.0' in metrics
    finally:
        pm.unregister(name="strict-limiter")


class BrokenStore(SessionStore):
    async def create(self, metadata):
        raise StoreUnavailable("down")

    async def get(self, *args):
        raise StoreUnavailable("down")

    append = messages = delete = count = get

    async def health(self):
        from chatkit_core.chat.health import Health

        return Health("down", "unreachable")


class BrokenStorePlugin:
    @hookimpl
    def register_session_stores(self, register):
        register("broken", BrokenStore)


async def test_store_outage_is_a_clear_503(make_client):
    pm.register(BrokenStorePlugin(), name="broken-store")
    try:
        async with make_client(CANNED + '\n[sessions]\nstore = "broken"') as client:
            error_of(await client.post("/api/create-session"), 503, "store_unavailable")
            error_of(await client.post("/api/chat", json={"sessionId": "s" * 43, "message": "hi"}), 503,
                     "store_unavailable")
            error_of(await client.get("/api/session/abc/messages"), 503, "store_unavailable")
            health = (await client.get("/health")).json()
            assert health["status"] == "degraded" and health["sessions"]["status"] == "down"
    finally:
        pm.unregister(name="broken-store")


async def test_unknown_routes_and_methods(client):
    error_of(await client.get("/api/nothing-here"), 404, "not_found")
    error_of(await client.get("/api/chat"), 405, "method_not_allowed")


async def test_health_and_metrics(client):
    health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["version"] and health["uptime"] >= 0
    assert health["memory"]["rss"] > 10_000_000
    assert health["providers"] == [{"name": "demo", "type": "canned", "status": "up"}]
    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain") and "chatkit_requests_total" in metrics.text


async def test_openapi_schema_is_served(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert {"/api/chat", "/api/create-session", "/health"} <= set(schema["paths"])
