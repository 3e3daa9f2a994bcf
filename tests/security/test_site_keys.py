"""Site keys: right, wrong and missing keys, from allowed, other and no origins."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from chatkit_core.http.app import create_app
from chatkit_core.http.site_keys import hash_site_key
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from tests.core.conftest import config_from
from tests.security.conftest import canned, new_session, sse_events

WEB = Path(__file__).resolve().parents[2] / "web"
SHOP, OTHER, EVIL = "https://shop.example", "https://other.example", "https://evil.example"
SHOP_KEY, OTHER_KEY = "ck_pub_shop_4f9a2c", "ck_pub_other_77d01e"


def keyed(entries: dict[str, list[str]]) -> str:
    table = "\n".join(f"{json.dumps(entry)} = {json.dumps(origins)}" for entry, origins in entries.items())
    return canned(extra=f'[server]\nweb_root = "{WEB}"\nallowed_origins = ["{SHOP}", "{OTHER}", "{EVIL}"]\n'
                        f'[middleware.site_keys.keys]\n{table}\n')


KEYED = keyed({hash_site_key(SHOP_KEY): [SHOP], hash_site_key(OTHER_KEY): [OTHER]})

KEYS = {"right": SHOP_KEY, "other site's": OTHER_KEY, "wrong": "ck_pub_guess", "empty": "", "missing": None}
ORIGINS = {"allowed": SHOP, "other": EVIL, "missing": None}


def headers_for(key: str | None, origin: str | None) -> dict[str, str]:
    return {name: value for name, value in (("X-ChatKit-Site-Key", key), ("Origin", origin)) if value is not None}


@pytest.mark.parametrize("origin_kind", ORIGINS)
@pytest.mark.parametrize("key_kind", KEYS)
async def test_the_key_and_origin_matrix(make_client, key_kind: str, origin_kind: str) -> None:
    headers = headers_for(KEYS[key_kind], ORIGINS[origin_kind])
    async with make_client(KEYED) as client:
        response = await client.post("/api/create-session", headers=headers)
    known = key_kind in ("right", "other site's")
    if (key_kind == "right" and origin_kind == "allowed") or (known and origin_kind == "missing"):
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden" and error["message"].endswith(".")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    if ORIGINS[origin_kind]:  # a listed CORS origin may read the refusal, to show it
        assert response.headers["access-control-allow-origin"] == ORIGINS[origin_kind]


async def test_every_api_route_needs_the_key_and_streams_with_it(make_client) -> None:
    good = headers_for(SHOP_KEY, SHOP)
    async with make_client(KEYED) as client:
        session = await new_session(client, good)
        chat = {"sessionId": session, "message": "hi"}
        routes = [("POST", "/api/create-session", None), ("POST", "/api/chat", chat),
                  ("GET", f"/api/session/{session}/messages", None), ("DELETE", f"/api/session/{session}", None)]
        for method, path, body in routes:
            refused = await client.request(method, path, json=body, headers={"Origin": SHOP})
            assert refused.status_code == 403, (method, path)
        stream = await client.post("/api/chat", json={**chat, "stream": True}, headers=good)
        assert [name for name, _ in sse_events(stream.text)][-1] == "done"
        history = await client.get(f"/api/session/{session}/messages", headers=good)
        assert len(history.json()["messages"]) == 2
        assert (await client.delete(f"/api/session/{session}", headers=good)).status_code == 204


async def test_pages_operations_and_preflights_need_no_key(make_client) -> None:
    async with make_client(KEYED) as client:
        for path in ("/health", "/metrics", "/widget/chatkit.js", "/", "/schema/openapi.json"):
            assert (await client.get(path, headers={"Origin": EVIL})).status_code == 200, path
        preflight = await client.options("/api/chat", headers={
            "Origin": SHOP, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-chatkit-site-key"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SHOP


async def test_no_configured_keys_means_no_key_needed(make_client) -> None:
    async with make_client(canned(extra=f'[server]\nallowed_origins = ["{SHOP}"]\n')) as client:
        assert (await client.post("/api/create-session", headers={"Origin": SHOP})).status_code == 201


async def test_a_key_listed_for_any_origin_and_one_key_for_several_sites(make_client) -> None:
    config = keyed({hash_site_key(SHOP_KEY): ["*"], hash_site_key(OTHER_KEY): [SHOP, OTHER]})
    async with make_client(config) as client:
        for key, origin in ((SHOP_KEY, EVIL), (OTHER_KEY, SHOP), (OTHER_KEY, OTHER)):
            response = await client.post("/api/create-session", headers=headers_for(key, origin))
            assert response.status_code == 201, (key, origin)
        assert (await client.post("/api/create-session", headers=headers_for(OTHER_KEY, EVIL))).status_code == 403


def test_the_hash_format_is_a_salted_hmac_sha256() -> None:
    entry = hash_site_key("ck_pub_x", salt="0123456789abcdef")
    scheme, salt, digest = entry.split("$")
    assert scheme == "sha256" and salt == "0123456789abcdef"
    assert digest == hmac.new(salt.encode(), b"ck_pub_x", hashlib.sha256).hexdigest()
    assert hash_site_key("ck_pub_x") != hash_site_key("ck_pub_x")  # a fresh salt each time


@pytest.mark.parametrize(("entry", "origins", "names"), [
    pytest.param("ck_pub_plain_key", [SHOP], "is not a key hash", id="plain"),
    pytest.param("md5$abcdefgh$" + "0" * 32, [SHOP], "is not a key hash", id="md5"),
    pytest.param(hash_site_key("k"), [], "list the origins", id="no-origins"),  # salted: differs per process
    pytest.param(hash_site_key("k"), ["shop.example"], "list the origins", id="not-an-origin"),
])
def test_malformed_site_keys_are_refused_at_start_up(entry: str, origins: list[str], names: str) -> None:
    with pytest.raises(ConfigError, match=names) as refused:
        create_app(build_runtime(config_from(keyed({entry: origins}))))
    assert "middleware.site_keys.keys" in str(refused.value)


def test_the_old_server_site_keys_table_says_where_it_moved() -> None:
    old = keyed({hash_site_key(SHOP_KEY): [SHOP]}).replace("[middleware.site_keys.keys]", "[server.site_keys]")
    with pytest.raises(ConfigError, match=r"server.site_keys has moved.*\[middleware.site_keys.keys\]"):
        config_from(old)
