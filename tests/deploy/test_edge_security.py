"""Attacks through web/nginx.conf in front of a real backend: non-canonical API paths, and
forwarded-for hops written with ports and zones."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from chatkit_core.http.site_keys import hash_site_key
from tests.deploy.edge import NGINX, running_nginx
from tests.security.conftest import raw_request
from tests.support.server import running_server

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
]

SHOP, EVIL, KEY = "https://shop.example", "https://evil.example", "ck_pub_edge_key"
KEYED = f"""
[server]
trusted_proxies = ["127.0.0.1/32"]
allowed_origins = ["{SHOP}", "{EVIL}"]
[middleware.site_keys.keys]
"{hash_site_key(KEY)}" = ["{SHOP}"]
[providers.demo]
type = "canned"
[rate_limit]
type = "none"
"""


@pytest.fixture(scope="module")
def edge() -> Iterator[str]:
    with running_server(KEYED) as backend, running_nginx(backend.removeprefix("http://")) as url:
        yield url


@pytest.mark.parametrize("spelling", ["//api/{}", "/%2fapi/{}", "/%2Fapi/{}", "/api/./{}", "/api//{}",
                                      "/x/../api/{}", "/api/%2e/{}", "/widget/..%2fapi/{}"])
def test_non_canonical_api_paths_skip_nothing_through_nginx(edge: str, spelling: str) -> None:
    made = raw_request(edge, "POST", spelling.format("create-session"), {"Origin": EVIL})
    assert made[0] in (403, 404) and json.loads(made[2])["error"]["code"] in ("not_found", "forbidden"), made
    session = httpx.post(f"{edge}/api/create-session", headers={"X-ChatKit-Site-Key": KEY, "Origin": SHOP})
    session_id = session.json()["sessionId"]
    history = raw_request(edge, "GET", spelling.format(f"session/{session_id}/messages"), {"Origin": EVIL})
    assert history[0] in (403, 404) and b"messages" not in history[2]
    assert history[1]["cache-control"] == "no-store"


def test_canonical_paths_still_pass_through_nginx(edge: str) -> None:
    good = {"X-ChatKit-Site-Key": KEY, "Origin": SHOP}
    assert httpx.post(f"{edge}/api/create-session", headers=good).status_code == 201
    assert httpx.post(f"{edge}/api/create-session", headers={"Origin": EVIL}).status_code == 403
    assert httpx.get(f"{edge}/?q=a//b").status_code == 200


LIMITED = """
[server]
trusted_proxies = ["127.0.0.1/32", "127.0.0.2/32"]
[providers.demo]
type = "canned"
[rate_limit]
per_ip = ["3/minute"]
"""


def test_one_visitor_behind_an_outer_proxy_is_one_key_however_its_hop_is_written() -> None:
    """127.0.0.2 stands for a trusted proxy in front of nginx that writes ``ip:port`` hops."""
    hops = ["198.51.100.7:40001", "198.51.100.7:40002", "198.51.100.7", "[::ffff:198.51.100.7]:40003",
            "198.51.100.7:40004", "198.51.100.7:40005"]
    with running_server(LIMITED) as backend, running_nginx(backend.removeprefix("http://")) as edge, \
            httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as proxy:
        statuses = [proxy.post(f"{edge}/api/create-session", headers={"X-Forwarded-For": hop}).status_code
                    for hop in hops]
        other = proxy.post(f"{edge}/api/create-session", headers={"X-Forwarded-For": "198.51.100.8:40001"})
    assert statuses == [201, 201, 201, 429, 429, 429]
    assert other.status_code == 201


def test_the_console_passes_through_the_edge_and_odd_spellings_do_not() -> None:
    token = "edge-console-token-0123456789"
    with running_server(KEYED + f'[admin]\ntoken = "{token}"\n') as backend, \
            running_nginx(backend.removeprefix("http://")) as url:
        page = httpx.get(url + "/admin/login")
        assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
        signed_out = httpx.get(url + "/admin/conversations")
        assert signed_out.status_code in (302, 303, 401), signed_out.status_code
        for odd in ("//admin/conversations", "/%2fadmin/conversations", "/admin/../admin/conversations"):
            status, _, body = raw_request(url, "GET", odd)
            assert status in (400, 404), (odd, status)
            assert b"<table" not in body
