"""Raw request paths, sent byte for byte: traversal, NUL bytes and broken escapes, on a real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.security.conftest import canned
from tests.support.server import running_server

PATHS = [
    "/widget/../pyproject.toml", "/widget/..%2f..%2fpyproject.toml", "/widget/%2e%2e/%2e%2e/pyproject.toml",
    "/..%2fpyproject.toml", "/%2e%2e/chatkit_core/config.py", "/examples/..%2f..%2fchatkit_core%2fconfig.py",
    "/widget/..%5c..%5cpyproject.toml", "//etc/passwd", "/widget//etc/passwd", "/.git/config",
    "/widget/chatkit.js%00.html", "/index.html%00", "/%00", "/%ff", "/%", "/api/session/%ff/messages",
    "/api/session/%/messages", "/api/session/a%00b/messages", "/api/session/%2e%2e/messages", "/api/chat?x=%ff",
    "/" + "a" * 4000, "/widget/" + "b" * 300, "/api/session/" + "%41" * 2000 + "/messages",
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server(canned()) as url:
        yield url


def raw_get(base_url: str, path: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    return int(status.split(" ", 2)[1]), headers, body


@pytest.mark.parametrize("path", PATHS)
def test_odd_paths_get_a_4xx_and_nothing_outside_the_served_folders(base_url: str, path: str) -> None:
    status, headers, body = raw_get(base_url, path)
    assert 400 <= status < 500, (status, body[:200])
    assert headers["x-content-type-options"] == "nosniff" and "content-security-policy" in headers
    assert b"[project]" not in body and b"class ServerConfig" not in body and b"root:" not in body
    assert b'"error"' in body
