"""Session memory on a real server: metadata is small and bounded, a flood of new sessions ends
no conversation in progress, and without a rate limiter new sessions are capped per client."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import canned
from tests.support.server import running_server

BAD_METADATA = [
    {"blob": "x" * 60_000},
    {f"k{index}": index for index in range(9)},
    {"nested": {"a": 1}},
    {"list": [1, 2]},
    {"k" * 33: 1},
    {"bad key": 1},
    {"long": "x" * 201},
]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_metadata_is_bounded_in_size_and_keys(store: str, tmp_path: Path) -> None:
    url_line = f'url = "sqlite:///{tmp_path}/s.sqlite3"' if store == "sqlite" else ""
    with running_server(canned(extra=f'[sessions]\nstore = "{store}"\n{url_line}\n')) as url:
        for metadata in BAD_METADATA:
            response = httpx.post(f"{url}/api/create-session", json={"metadata": metadata})
            assert response.status_code in (400, 413), (metadata.keys(), response.text)
            assert response.json()["error"]["code"] in ("invalid_request", "body_too_large")
        fine = {"page": "/pricing", "campaign": "spring-2026", "visits": 3, "returning": True, "ref": None}
        assert httpx.post(f"{url}/api/create-session", json={"metadata": fine}).status_code == 201


def test_new_sessions_do_not_evict_a_conversation_in_progress() -> None:
    config = canned(["Noted."], extra="[sessions]\nmax_sessions = 10\n")
    with running_server(config) as url:
        live = httpx.post(f"{url}/api/create-session").json()["sessionId"]
        for index in range(5):
            httpx.post(f"{url}/api/chat", json={"sessionId": live, "message": f"question {index}"}).raise_for_status()
        for _ in range(25):
            assert httpx.post(f"{url}/api/create-session").status_code == 201
        history = httpx.get(f"{url}/api/session/{live}/messages")
    assert history.status_code == 200 and len(history.json()["messages"]) == 10


def test_without_a_rate_limiter_new_sessions_are_capped_per_client() -> None:
    with running_server(canned()) as url:
        if time.time() % 60 > 45:  # the cap counts per clock minute: keep the 33 requests inside one
            time.sleep(61 - time.time() % 60)
        statuses = [httpx.post(f"{url}/api/create-session").status_code for _ in range(32)]
        refused = httpx.post(f"{url}/api/create-session")
    assert statuses[:30] == [201] * 30 and statuses[30:] == [429, 429]
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["retry-after"]) >= 1
    with running_server(canned(extra="[sessions]\nnew_per_minute = 0\n")) as url:
        assert {httpx.post(f"{url}/api/create-session").status_code for _ in range(35)} == {201}


def test_config_check_says_whether_new_sessions_are_capped(tmp_path: Path) -> None:
    def check(extra: str) -> str:
        (tmp_path / "c.toml").write_text(canned(extra=extra))
        result = subprocess.run([sys.executable, "-m", "chatkit_core", "config", "check", "--config",
                                 str(tmp_path / "c.toml")], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "capped at 30 a minute per client" in check("")
    assert "not capped" in check("[sessions]\nnew_per_minute = 0\n")
    assert "capped" not in check("").split("rate limiter: none", 1)[0]
