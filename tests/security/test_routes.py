"""Decisions by matched route, on a real server: metric labels and logs never carry ids, and
non-canonical spellings of an API path (``//api``, ``/%2fapi``, dot segments) skip nothing."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatkit_core.http.site_keys import hash_site_key
from tests.security.conftest import canned, raw_request
from tests.support.server import running_server

SHOP, EVIL, KEY = "https://shop.example", "https://evil.example", "ck_pub_shop_routes"
KEYED = canned(extra=f'[server]\nallowed_origins = ["{SHOP}", "{EVIL}"]\n'
                     f'[middleware.site_keys.keys]\n"{hash_site_key(KEY)}" = ["{SHOP}"]\n')
GOOD = {"X-ChatKit-Site-Key": KEY, "Origin": SHOP}
LABELS = {"/api/create-session", "/api/chat", "/api/session/{session_id}/messages",
          "/api/session/{session_id}", "/health", "/metrics", "unmatched"}


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("routes") / "server.log"
    with running_server(canned(), env={"LOG_LEVEL": "info"}, log=log) as url:
        yield url, log


def test_random_paths_add_no_metric_labels_and_ids_reach_no_log(logged: tuple[str, Path]) -> None:
    url, log = logged
    session = httpx.post(f"{url}/api/create-session").json()["sessionId"]
    tokens = [secrets.token_urlsafe(12) for _ in range(200)]
    paths = [f"/api/session/x/{token}/messages" for token in tokens]
    paths += [f"/api/session/%2e%2e%2f{session}/messages", f"/api/session/..%2f{session}/messages",
              f"/api/session/{session}/%2e%2e/messages", f"/api/%2e%2e/api/session/{session}/messages",
              f"//api/session/{session}/messages", f"/api/session/{session}/messages/{session}",
              f"/api/x/{session}", f"/{session}"]
    for path in paths:
        status, _, _ = raw_request(url, "GET", path)
        assert 400 <= status < 500, path
    metrics = httpx.get(f"{url}/metrics").text
    labels = set(re.findall(r'chatkit_requests_total\{[^}]*route="([^"]*)"', metrics))
    assert labels <= LABELS | {"/widget/{file_path}", "/{file_path}"}, labels
    assert len(metrics) < 20_000
    written = log.read_text()
    assert session not in metrics and session not in written
    assert not any(token in metrics or token in written for token in tokens)


@pytest.fixture(scope="module")
def keyed() -> Iterator[str]:
    with running_server(KEYED) as url:
        yield url


SPELLINGS = ["//api/{route}", "/%2fapi/{route}", "/%2Fapi/{route}", "/api/./{route}", "/api//{route}",
             "/x/../api/{route}", "/api/%2e/{route}", "///api/{route}"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_other_spellings_of_api_paths_skip_neither_site_keys_nor_headers(keyed: str, spelling: str) -> None:
    made = raw_request(keyed, "POST", spelling.format(route="create-session"), {"Origin": EVIL})
    assert made[0] in (403, 404) and b'"error"' in made[2], made
    session = httpx.post(f"{keyed}/api/create-session", headers=GOOD).json()["sessionId"]
    body = b'{"sessionId": "%s", "message": "hi"}' % session.encode()
    chat = raw_request(keyed, "POST", spelling.format(route="chat"), {"Origin": EVIL, "Content-Type":
                                                                      "application/json"}, body)
    history = raw_request(keyed, "GET", spelling.format(route=f"session/{session}/messages"), {"Origin": EVIL})
    for status, headers, answer in (made, chat, history):
        assert status in (403, 404) and b'"error"' in answer
        assert headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in headers["content-security-policy"]
    stored = httpx.get(f"{keyed}/api/session/{session}/messages", headers=GOOD).json()["messages"]
    assert stored == []


def test_the_canonical_path_still_works_with_the_key(keyed: str) -> None:
    session = httpx.post(f"{keyed}/api/create-session", headers=GOOD)
    assert session.status_code == 201
    assert httpx.post(f"{keyed}/api/create-session", headers={"Origin": EVIL}).status_code == 403
