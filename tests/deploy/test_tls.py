"""Behind TLS as docs/deployment.md describes it: an HTTPS proxy in front of web/nginx.conf,
trusted by the backend along with nginx, so visitors keep their own address and answers
still stream through both proxies."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.edge import NGINX, running_nginx, serving
from tests.support.server import free_port, running_server

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
]

# Where the TLS proxy connects to nginx from, as Docker's gateway address does in compose.
PROXY_ADDRESS = "127.0.0.9"

TLS_PROXY = """
pid {work}/nginx.pid;
events {{}}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {work}/cert.pem;
        ssl_certificate_key {work}/key.pem;
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
        location / {{
            proxy_pass {edge};
            proxy_bind {address};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
"""


def backend_config(trusted: list[str]) -> str:
    return f"""
[server]
trusted_proxies = {trusted!r}

[providers.demo]
type = "canned"
replies = ["Served over HTTPS, streamed through two proxies, a few characters at a time."]
chunk_chars = 4
delay = 0.04

[rate_limit]
per_ip = ["2/minute"]
"""


@contextlib.contextmanager
def tls_chain(tmp_path: Path, trusted: list[str]) -> Iterator[tuple[str, ssl.SSLContext]]:
    """backend <- nginx (web/nginx.conf) <- HTTPS proxy; yields the proxy's URL and a context
    that trusts its self-signed certificate."""
    work = tmp_path / "tls"
    work.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem")],
                   check=True, capture_output=True)
    port = free_port()
    with running_server(backend_config(trusted)) as backend, running_nginx(backend.removeprefix("http://")) as edge:
        config = TLS_PROXY.format(work=work, port=port, edge=edge, address=PROXY_ADDRESS)
        (work / "nginx.conf").write_text(config)
        with serving(work, port):
            yield f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=work / "cert.pem")


def visitor(tls: ssl.SSLContext, address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address, verify=tls), timeout=15)


def create_sessions(client: httpx.Client, base: str, claimed: list[str]) -> list[int]:
    return [client.post(f"{base}/api/create-session", headers={"X-Forwarded-For": c}).status_code for c in claimed]


def test_visitors_keep_their_address_through_both_proxies(tmp_path: Path):
    trusted = ["127.0.0.1/32", f"{PROXY_ADDRESS}/32"]  # nginx, then the TLS proxy
    with tls_chain(tmp_path, trusted) as (base, tls), \
            visitor(tls, "127.0.0.2") as first, visitor(tls, "127.0.0.3") as second:
        assert create_sessions(first, base, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [201, 201, 429]
        assert create_sessions(second, base, ["203.0.113.1"]) == [201]


def test_an_untrusted_tls_proxy_makes_every_visitor_one(tmp_path: Path):
    with tls_chain(tmp_path, ["127.0.0.1/32"]) as (base, tls), \
            visitor(tls, "127.0.0.2") as first, visitor(tls, "127.0.0.3") as second:
        assert create_sessions(first, base, ["203.0.113.1", "203.0.113.2"]) == [201, 201]
        assert create_sessions(second, base, ["203.0.113.3"]) == [429]


def test_pages_and_answers_over_https(tmp_path: Path):
    with tls_chain(tmp_path, ["127.0.0.1/32", f"{PROXY_ADDRESS}/32"]) as (base, tls), \
            visitor(tls, "127.0.0.4") as client:
        page = client.get(f"{base}/")
        assert page.status_code == 200
        assert page.headers.get_list("strict-transport-security") == ["max-age=31536000; includeSubDomains"]
        session_id = client.post(f"{base}/api/create-session").json()["sessionId"]
        started, arrivals = time.monotonic(), []
        body = {"sessionId": session_id, "message": "Hello?", "stream": True}
        with client.stream("POST", f"{base}/api/chat", json=body) as response:
            assert response.headers.get_list("strict-transport-security") == ["max-age=31536000; includeSubDomains"]
            arrivals = [time.monotonic() - started for line in response.iter_lines() if line == "event: delta"]
    print(f"\nSSE over TLS and two proxies: {len(arrivals)} deltas, first {arrivals[0]:.3f}s,"
          f" last {arrivals[-1]:.3f}s")
    assert arrivals[0] < 0.5
    assert arrivals[-1] - arrivals[0] > 0.6 * (len(arrivals) - 1) * 0.04
