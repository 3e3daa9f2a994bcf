"""web/nginx.conf served by a real nginx in front of a real ChatKit backend on loopback."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.edge import NGINX, nginx_command, render, running_nginx, site_copy
from tests.support.server import free_port, running_server

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
]

REPLY = "Streaming through the edge proxy works one small chunk at a time, as the model writes it."
CHUNK_CHARS = 4
DELAY = 0.05

BACKEND_CONFIG = f"""
[server]
trusted_proxies = ["127.0.0.1/32"]

[providers.demo]
type = "canned"
replies = ["{REPLY}"]
chunk_chars = {CHUNK_CHARS}
delay = {DELAY}

[rate_limit]
per_ip = ["1000/minute"]
"""


def limited_config(trusted: str) -> str:
    return f"""
[server]
trusted_proxies = [{trusted}]

[providers.demo]
type = "canned"

[rate_limit]
per_ip = ["2/minute"]
"""


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    with running_server(BACKEND_CONFIG) as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped site plus two assets, one with a content hash in its name."""
    root = site_copy(tmp_path_factory.mktemp("edge") / "site")
    (root / "asset.css").write_text("body { color: #123456; }\n" * 40)
    (root / "app.0123abcd.js").write_text("export const answer = 42;\n" * 40)
    return root


@pytest.fixture(scope="module")
def edge(backend: str, site: Path) -> Iterator[str]:
    with running_nginx(backend.removeprefix("http://"), site) as url:
        yield url


def new_session(client: httpx.Client, base: str) -> str:
    response = client.post(f"{base}/api/create-session")
    assert response.status_code == 201, response.text
    return response.json()["sessionId"]


def stream_times(base: str, session_id: str) -> tuple[list[float], str]:
    """Seconds from sending the question to each delta event, and the final message text."""
    started = time.monotonic()
    times, final = [], ""
    body = {"sessionId": session_id, "message": "How does streaming work?", "stream": True}
    with httpx.stream("POST", f"{base}/api/chat", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in response.headers
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "delta":
                times.append(time.monotonic() - started)
            elif line.startswith("data: ") and event == "done":
                final = json.loads(line.removeprefix("data: "))["message"]["content"]
    return times, final


def test_nginx_accepts_the_configuration(tmp_path: Path):
    (tmp_path / "nginx.conf").write_text(render("127.0.0.1:9", free_port(), tmp_path, tmp_path))
    result = subprocess.run(nginx_command(tmp_path, "-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_page_is_served_with_security_headers(edge: str):
    response = httpx.get(f"{edge}/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    policy = response.headers["content-security-policy"]
    for directive in ("script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'self'"):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert "server" not in response.headers or "/" not in response.headers["server"]  # no version


def test_static_assets_are_cached_by_version_and_compressed(edge: str):
    hashed = httpx.get(f"{edge}/app.0123abcd.js", headers={"Accept-Encoding": "gzip"})
    assert hashed.headers["cache-control"] == "max-age=31536000"
    assert hashed.headers["content-encoding"] == "gzip"
    assert hashed.text.startswith("export const answer")
    assert httpx.get(f"{edge}/asset.css").headers["cache-control"] == "max-age=3600"
    assert httpx.get(f"{edge}/asset.css?v=3").headers["cache-control"] == "max-age=31536000"
    assert httpx.get(f"{edge}/missing.css").status_code == 404


def test_the_widget_comes_from_the_backend_compressed(edge: str):
    with httpx.Client() as client:
        raw = client.send(client.build_request("GET", f"{edge}/widget/chatkit.js",
                                               headers={"Accept-Encoding": "gzip"}), stream=True)
        compressed = b"".join(raw.iter_raw())
    assert raw.status_code == 200
    assert "javascript" in raw.headers["content-type"]
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(compressed) == (ROOT / "widget/dist/chatkit.js").read_bytes()
    assert len(compressed) < len(gzip.decompress(compressed)) / 2
    # The backend's own headers pass through once, untouched by the edge.
    assert raw.headers.get_list("x-content-type-options") == ["nosniff"]
    assert raw.headers["cross-origin-resource-policy"] == "cross-origin"


def test_health_is_proxied(edge: str):
    response = httpx.get(f"{edge}/health")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["providers"] == [{"name": "demo", "type": "canned", "status": "up"}]


def test_a_conversation_through_the_edge(edge: str):
    with httpx.Client(timeout=10) as client:
        session_id = new_session(client, edge)
        answer = client.post(f"{edge}/api/chat", json={"sessionId": session_id, "message": "Hello?"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"]["content"] == REPLY
        history = client.get(f"{edge}/api/session/{session_id}/messages").json()["messages"]
        assert [m["role"] for m in history] == ["user", "assistant"]
        assert client.delete(f"{edge}/api/session/{session_id}").status_code == 204
        missing = client.get(f"{edge}/api/session/{session_id}/messages")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "session_not_found"


def test_streamed_answers_arrive_progressively(edge: str, backend: str):
    chunks = -(-len(REPLY) // CHUNK_CHARS)
    with httpx.Client() as client:
        direct, direct_text = stream_times(backend, new_session(client, backend))
        proxied, proxied_text = stream_times(edge, new_session(client, edge))
    print(f"\nSSE {chunks} deltas, {DELAY}s apart: direct first {direct[0]:.3f}s last {direct[-1]:.3f}s;"
          f" through nginx first {proxied[0]:.3f}s last {proxied[-1]:.3f}s")
    assert proxied_text == direct_text == REPLY
    assert len(proxied) == chunks
    # Buffering would deliver everything at the end; streamed, the first delta comes at once.
    assert proxied[0] < 0.5
    assert proxied[-1] - proxied[0] > 0.6 * (chunks - 1) * DELAY
    assert proxied[0] - direct[0] < 0.25


def test_a_body_over_the_limit_gets_the_api_error(edge: str):
    with httpx.Client(timeout=10) as client:
        session_id = new_session(client, edge)
        response = client.post(f"{edge}/api/chat", json={"sessionId": session_id, "message": "x" * 200_000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_a_backend_that_is_down_answers_in_the_api_error_shape(site: Path):
    with running_nginx(f"127.0.0.1:{free_port()}", site) as edge:
        for method, path in (("POST", "/api/create-session"), ("GET", "/health")):
            response = httpx.request(method, f"{edge}{path}")
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/json"
            assert response.headers["retry-after"] == "5"
            assert response.json()["error"]["code"] == "service_unavailable"


def client_from(address: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (any 127.0.0.0/8 address is local)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def statuses(client: httpx.Client, edge: str, forwarded: list[str]) -> list[int]:
    """create-session once per entry, each claiming a different X-Forwarded-For."""
    return [client.post(f"{edge}/api/create-session", headers={"X-Forwarded-For": claimed}).status_code
            for claimed in forwarded]


def test_the_backend_limits_each_visitor_by_the_address_nginx_saw():
    # nginx connects to the backend from 127.0.0.1, the one trusted proxy; it appends the
    # address each visitor connected from, and only that hop counts.
    with running_server(limited_config('"127.0.0.1/32"')) as backend, \
            running_nginx(backend.removeprefix("http://")) as edge, \
            client_from("127.0.0.2") as first, client_from("127.0.0.3") as second:
        spoofed = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        assert statuses(first, edge, spoofed) == [201, 201, 429]
        assert statuses(second, edge, ["203.0.113.1"]) == [201]


def test_without_trusted_proxies_every_visitor_shares_the_proxy_address():
    with running_server(limited_config("")) as backend, \
            running_nginx(backend.removeprefix("http://")) as edge, \
            client_from("127.0.0.2") as first, client_from("127.0.0.3") as second:
        assert statuses(first, edge, ["203.0.113.1", "203.0.113.2"]) == [201, 201]
        refused = second.post(f"{edge}/api/create-session")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) > 0


def test_the_access_log_keeps_session_ids_short(backend: str, tmp_path: Path):
    log = tmp_path / "access.log"
    with running_nginx(backend.removeprefix("http://"), access_log=log) as edge, httpx.Client() as client:
        session_id = new_session(client, edge)
        assert client.get(f"{edge}/api/session/{session_id}/messages?x=1").status_code == 200
        deleted = client.delete(f"{edge}/api/session/{session_id}", headers={"X-Request-ID": "chosen-by-visitor"})
        assert deleted.status_code == 204
    lines = log.read_text().splitlines()
    # The edge's request id reaches the backend, which answers with it.
    assert lines[-1].endswith(f"request_id={deleted.headers['x-request-id']}")
    assert len(deleted.headers["x-request-id"]) == 32
    assert session_id not in log.read_text()
    assert f'"GET /api/session/{session_id[:6]}.../messages HTTP/1.1" 200' in lines[-2]
    assert f'"DELETE /api/session/{session_id[:6]}... HTTP/1.1" 204' in lines[-1]
    assert '"POST /api/create-session HTTP/1.1" 201' in lines[-3]
