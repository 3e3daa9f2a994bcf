"""The site file `chatkit deploy host` writes, in Debian's own nginx.conf, served by the real
nginx in front of a real backend: pages, a conversation, a streamed answer, refusals, HTTPS."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.edge import NGINX, nginx_command
from tests.deploy.host import (
    DEBIAN_NGINX,
    DOMAIN,
    certificate,
    debian_nginx,
    delta_times,
    deploy_host,
    enable_tls,
    host_nginx,
)
from tests.deploy.test_nginx import CHUNK_CHARS, DELAY, REPLY, new_session, stream_times
from tests.security.conftest import raw_request
from tests.support.server import free_port, running_server

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
    pytest.mark.skipif(not DEBIAN_NGINX.is_file(), reason="Debian's /etc/nginx/nginx.conf is not here"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
]

BACKEND = f"""
[server]
allowed_origins = ["https://{DOMAIN}"]
trusted_proxies = ["127.0.0.1/32"]

[providers.demo]
type = "canned"
replies = ["{REPLY}"]
chunk_chars = {CHUNK_CHARS}
delay = {DELAY}

[rate_limit]
per_ip = ["1000/minute"]
"""


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    with running_server(BACKEND) as url:
        yield url


def written(folder: Path, port: int) -> Path:
    """The site file `chatkit deploy host` writes for BACKEND and ``port``."""
    config = folder / "chatkit.toml"
    config.write_text(BACKEND)
    result = deploy_host(config, folder / "out", port)
    assert result.returncode == 0, result.stderr
    return folder / "out" / "nginx-chatkit.conf"


@pytest.fixture(scope="module")
def site_file(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(tmp_path_factory.mktemp("host"), int(backend.rsplit(":", 1)[1]))


@pytest.fixture(scope="module")
def edge(site_file: Path) -> Iterator[tuple[str, Path]]:
    with host_nginx(site_file) as (http, _, workdir):
        yield http, workdir


@pytest.fixture(scope="module")
def tls_edge(site_file: Path) -> Iterator[tuple[str, str, ssl.SSLContext]]:
    with host_nginx(site_file, tls=True) as (http, https, workdir):
        yield http, https, ssl.create_default_context(cafile=workdir / "fullchain.pem")


def test_debian_nginx_accepts_the_site_with_and_without_tls(site_file: Path, tmp_path: Path):
    """nginx -t as on a server: only the log folder moves here (nginx -t creates the log file)."""
    (tmp_path / "sites").mkdir()
    site = tmp_path / "sites" / "chatkit"
    site.write_text(site_file.read_text().replace("/var/log/nginx/", f"{tmp_path}/"))
    (tmp_path / "nginx.conf").write_text(debian_nginx(tmp_path))
    plain = subprocess.run(nginx_command(tmp_path, "-t"), capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    enable_tls(site)
    certificate(tmp_path, DOMAIN)
    site.write_text(site.read_text().replace(f"/etc/letsencrypt/live/{DOMAIN}/", f"{tmp_path}/"))
    with_tls = subprocess.run(nginx_command(tmp_path, "-t"), capture_output=True, text=True)
    assert with_tls.returncode == 0, with_tls.stderr


def test_pages_get_the_edge_security_headers_and_no_hsts_over_http(edge: tuple[str, Path]):
    http, workdir = edge
    (workdir / "www" / "index.html").write_text("<!doctype html><title>Chat</title>")
    page = httpx.get(f"{http}/", headers={"Host": DOMAIN})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-cache"
    for header, value in (("x-content-type-options", "nosniff"), ("x-frame-options", "SAMEORIGIN"),
                          ("referrer-policy", "strict-origin-when-cross-origin")):
        assert page.headers[header] == value
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "strict-transport-security" not in page.headers
    assert page.headers["server"] == "nginx"  # no version
    # The packaged demo site behind the backend never shows: / is this folder's.
    assert httpx.get(f"{http}/menu.html").status_code == 404


def test_a_conversation_and_a_streamed_answer_through_the_host_nginx(edge: tuple[str, Path], backend: str):
    http, workdir = edge
    with httpx.Client(timeout=10) as client:
        session_id = new_session(client, http)
        answer = client.post(f"{http}/api/chat", json={"sessionId": session_id, "message": "Hello?"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["message"]["content"] == REPLY
        direct, _ = stream_times(backend, new_session(client, backend))
        proxied, text = stream_times(http, new_session(client, http))
        assert client.get(f"{http}/widget/chatkit.js").status_code == 200
        assert client.get(f"{http}/health").json()["status"] == "ok"
    chunks = -(-len(REPLY) // CHUNK_CHARS)
    assert text == REPLY and len(proxied) == chunks
    assert proxied[0] < 0.5 and proxied[0] - direct[0] < 0.25  # unbuffered: the first delta at once
    assert proxied[-1] - proxied[0] > 0.6 * (chunks - 1) * DELAY
    log = (workdir / "chatkit.access.log").read_text()
    assert '"POST /api/chat HTTP/1.1" 200' in log and session_id not in log


@pytest.mark.parametrize("spelling", ["//api/create-session", "/%2fapi/create-session", "/api/./create-session",
                                      "/x/../api/create-session", "/widget/..%2fapi/create-session"])
def test_non_canonical_paths_are_refused(edge: tuple[str, Path], spelling: str):
    status, headers, body = raw_request(edge[0], "POST", spelling)
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert headers["cache-control"] == "no-store"


def test_the_api_error_shape_while_the_backend_is_down(tmp_path: Path):
    with host_nginx(written(tmp_path, free_port())) as (http, _, _):
        response = httpx.post(f"{http}/api/create-session")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"


def test_with_tls_on_plain_http_redirects(tls_edge: tuple[str, str, ssl.SSLContext]):
    http, _, _ = tls_edge
    for path in ("/", "/api/create-session?x=1", "/.well-known/acme-challenge/token"):
        response = httpx.get(f"{http}{path}")
        assert response.status_code == 301
        assert response.headers["location"] == f"https://{DOMAIN}{path}"


def test_with_tls_every_https_response_carries_hsts_and_answers_stream(tls_edge: tuple[str, str, ssl.SSLContext]):
    _, https, tls = tls_edge
    hsts = ["max-age=31536000; includeSubDomains"]
    with httpx.Client(verify=tls, timeout=10) as client:
        assert client.get(f"{https}/").headers.get_list("strict-transport-security") == hsts  # a 404 too
        created = client.post(f"{https}/api/create-session")
        assert created.status_code == 201
        assert created.headers.get_list("strict-transport-security") == hsts
        times, text = delta_times(client, https, created.json()["sessionId"])
        refused = client.get(f"{https}//api/session/x/messages")
        assert refused.status_code == 404 and refused.headers.get_list("strict-transport-security") == hsts
    assert text == REPLY
    assert times[0] < 0.5 and times[-1] - times[0] > 0.6 * (len(times) - 1) * DELAY
