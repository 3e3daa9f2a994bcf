"""Security headers and CORS on every kind of response: success, errors, streams, pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.conftest import config_from
from tests.security.conftest import canned, new_session

SHOP = "https://shop.example"
EVIL = "https://evil.example"

SERVER = f"""
[server]
web_root = "{Path(__file__).resolve().parents[2] / 'web'}"
allowed_origins = ["{SHOP}"]
max_body_bytes = 2048
max_message_chars = 50
"""
LIMITED = """
type = "limits"
storage = "memory://"
per_ip = ["2/minute"]
per_session = []
routes = {"create-session" = 1}
"""


async def every_kind_of_response(client, origin: str | None) -> dict[str, object]:
    """One response of each kind the server gives, keyed by a name that says which."""
    headers = {"Origin": origin} if origin else {}
    session = await new_session(client, {} if origin == EVIL else headers)
    chat = {"sessionId": session, "message": "hello"}
    requests = {
        "create-session 201": ("POST", "/api/create-session", None),
        "chat 200": ("POST", "/api/chat", chat),
        "chat stream 200": ("POST", "/api/chat", {**chat, "stream": True}),
        "messages 200": ("GET", f"/api/session/{session}/messages", None),
        "unknown session 404": ("GET", "/api/session/nope/messages", None),
        "invalid 400": ("POST", "/api/chat", {"sessionId": session}),
        "message too long 413": ("POST", "/api/chat", {**chat, "message": "x" * 51}),
        "body too large 413": ("POST", "/api/chat", {**chat, "pad": "x" * 4096}),
        "method 405": ("PUT", "/api/chat", None),
        "unknown api 404": ("GET", "/api/nothing-here", None),
        "delete 204": ("DELETE", f"/api/session/{session}", None),
        "health 200": ("GET", "/health", None),
        "metrics 200": ("GET", "/metrics", None),
        "schema 200": ("GET", "/schema/openapi.json", None),
        "rate limited 429": ("POST", "/api/create-session", None),
    }
    responses = {}
    for name, (method, path, body) in requests.items():
        responses[name] = await client.request(method, path, json=body, headers=headers)
    responses["page 200"] = await client.get("/", headers=headers)
    responses["page 404"] = await client.get("/no-such-page.html", headers=headers)
    responses["widget 200"] = await client.get("/widget/chatkit.js", headers=headers)
    for name, response in responses.items():
        expected = int(name.rsplit(" ", 1)[1])
        if origin == EVIL and requests.get(name, ("GET",))[0] not in ("GET", "HEAD"):
            expected = 403  # another site's page may not change anything (docs/security.md)
        assert response.status_code == expected, (name, response.status_code, response.text)
    return responses


@pytest.mark.parametrize("hsts", [False, True])
async def test_every_response_carries_the_security_headers(make_client, hsts: bool) -> None:
    async with make_client(canned(extra=SERVER + f"hsts = {str(hsts).lower()}\n", rate_limit=LIMITED)) as client:
        responses = await every_kind_of_response(client, SHOP)
    assert "text/event-stream" in responses["chat stream 200"].headers["content-type"]
    for name, response in responses.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin", name
        assert ("strict-transport-security" in headers) is hsts, name
        if hsts:
            assert headers["strict-transport-security"].startswith("max-age=31536000"), name
        if name.startswith(("page", "widget")):
            continue
        assert headers["cache-control"] == "no-store", name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert "default-src 'none'" in headers["content-security-policy"], name
        assert headers["x-frame-options"] == "DENY", name
    page_csp = responses["page 200"].headers["content-security-policy"]
    assert "script-src 'self'" in page_csp and "unsafe-inline" not in page_csp and "unsafe-eval" not in page_csp
    assert "object-src 'none'" in page_csp and "connect-src 'self'" in page_csp
    assert responses["page 200"].headers["permissions-policy"] == "camera=(), microphone=(), geolocation=()"
    assert responses["widget 200"].headers["cross-origin-resource-policy"] == "cross-origin"
    assert "javascript" in responses["widget 200"].headers["content-type"]  # nosniff needs a script type


async def test_an_allowed_origin_is_echoed_exactly_without_credentials(make_client) -> None:
    async with make_client(canned(extra=SERVER, rate_limit=LIMITED)) as client:
        responses = await every_kind_of_response(client, SHOP)
    for name, response in responses.items():
        assert response.headers["access-control-allow-origin"] == SHOP, name
        assert "access-control-allow-credentials" not in response.headers, name
        assert "Origin" in response.headers["vary"], name
    assert "Retry-After" in responses["rate limited 429"].headers["access-control-expose-headers"]


async def test_a_disallowed_origin_gets_no_cors_grant_on_any_response(make_client) -> None:
    async with make_client(canned(extra=SERVER, rate_limit=LIMITED)) as client:
        responses = await every_kind_of_response(client, EVIL)
    # The widget's files are public: any page may load them with `crossorigin` (and SRI).
    assert {name: r.headers["access-control-allow-origin"] for name, r in responses.items()
            if "access-control-allow-origin" in r.headers} == {"widget 200": "*"}


PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type, x-chatkit-site-key"}


async def test_preflight_from_an_allowed_origin_is_granted(make_client) -> None:
    async with make_client(canned(extra=SERVER)) as client:
        response = await client.options("/api/chat", headers={"Origin": SHOP, **PREFLIGHT})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "x-chatkit-site-key" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("origin", "request_headers"), [
    (EVIL, PREFLIGHT),
    ("null", PREFLIGHT),
    (SHOP + ".evil.example", PREFLIGHT),
    ("http://shop.example", PREFLIGHT),
    (SHOP, {"Access-Control-Request-Method": "PATCH"}),
    (SHOP, {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-secret"}),
])
async def test_a_refused_preflight_is_a_403_without_a_grant(make_client, origin, request_headers) -> None:
    async with make_client(canned(extra=SERVER)) as client:
        response = await client.options("/api/chat", headers={"Origin": origin, **request_headers})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_star_inside_an_origin_is_not_a_wildcard(make_client) -> None:
    config = canned(extra='[server]\nallowed_origins = ["https://*.shop.example"]\n')
    async with make_client(config) as client:
        response = await client.get("/health", headers={"Origin": "https://evil.shop.example"})
        literal = await client.get("/health", headers={"Origin": "https://*.shop.example"})
    assert "access-control-allow-origin" not in response.headers
    assert literal.headers["access-control-allow-origin"] == "https://*.shop.example"


async def test_allow_any_origin_never_grants_credentials(make_client) -> None:
    async with make_client(canned(extra='[server]\nallowed_origins = ["*"]\n')) as client:
        response = await client.get("/health", headers={"Origin": EVIL, "Cookie": "a=b"})
        preflight = await client.options("/api/chat", headers={"Origin": EVIL, **PREFLIGHT})
    assert "access-control-allow-credentials" not in response.headers
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers


def test_allowed_origins_come_from_the_environment_too() -> None:
    config = config_from(canned(extra=SERVER), {"ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert config.server.allowed_origins == ["https://a.example", "https://b.example"]


async def test_environment_origins_are_the_ones_granted() -> None:
    from litestar.testing import AsyncTestClient

    from chatkit_core.http.app import create_app
    from chatkit_core.platform.assembly import build_runtime

    config = config_from(canned(extra=SERVER), {"ALLOWED_ORIGINS": "https://b.example"})
    async with AsyncTestClient(create_app(build_runtime(config))) as client:
        granted = await client.get("/health", headers={"Origin": "https://b.example"})
        refused = await client.get("/health", headers={"Origin": SHOP})
    assert granted.headers["access-control-allow-origin"] == "https://b.example"
    assert "access-control-allow-origin" not in refused.headers
