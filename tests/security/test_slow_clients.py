"""Slowloris against a real ``chatkit serve`` held to a 1,024-file limit: while more slow
connections than it may hold trickle their headers, or finish them and trickle a body, honest
requests keep being served."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from chatkit_core.http.serving import BODY_TIMEOUT, HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT
from tests.security.conftest import canned
from tests.support.server import running_server

pytestmark = pytest.mark.slow  # left out of `make check`: a load test of many connections

SERVER_FILES = 1024
ATTACKERS = 1100


@contextlib.contextmanager
def file_limit(soft: int) -> Iterator[None]:
    """Children started inside inherit a lower soft file limit; this process keeps its own after."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


class Slowloris(threading.Thread):
    """Keeps ``count`` connections open, each sending one more header line a second, reconnecting
    whenever the server drops one."""

    OPENING = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    DRIP = b"X-Slow: 1\r\n"

    def __init__(self, base_url: str, count: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        parts = urlsplit(base_url)
        self.address = (parts.hostname, parts.port)
        self.count = count
        self.every = every
        self.stop = threading.Event()
        self.reconnects = 0

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(self.address, timeout=2)
            sock.sendall(self.OPENING)
            return sock
        except OSError:
            return None

    def run(self) -> None:
        sockets = [self._open() for _ in range(self.count)]
        while not self.stop.wait(self.every):
            for index, sock in enumerate(sockets):
                try:
                    if sock is None:
                        raise OSError
                    sock.sendall(self.DRIP)
                except OSError:
                    if sock is not None:
                        sock.close()
                    self.reconnects += 1
                    sockets[index] = self._open()
        for sock in sockets:
            if sock is not None:
                sock.close()


class SlowBody(Slowloris):
    """Headers sent whole, then a large body one byte every two seconds."""

    OPENING = (b"POST /api/create-session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 60000\r\n\r\n{")
    DRIP = b" "


@pytest.fixture
def limited_fds() -> Iterator[None]:
    needed = ATTACKERS + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the attack needs {needed} open files; the hard limit is {hard}")
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def server_limited_to(files: int) -> Iterator[str]:
    """``chatkit serve`` started under a soft limit of ``files`` open files (this process keeps its own)."""
    with contextlib.ExitStack() as stack:
        with file_limit(files):
            url = stack.enter_context(running_server(canned()))
        yield url


@pytest.mark.parametrize("kind", [Slowloris, SlowBody], ids=["slow headers", "slow bodies"])
def test_honest_requests_are_served_during_a_slowloris_attack(limited_fds: None, kind: type[Slowloris]) -> None:
    with server_limited_to(SERVER_FILES) as url:
        attack = kind(url, ATTACKERS, every=1.0 if kind is Slowloris else 2.0)
        attack.start()
        try:
            time.sleep(3)  # every attacking connection is open, trickling
            served = []
            for _ in range(20):
                with contextlib.suppress(httpx.HTTPError):
                    served.append(httpx.get(f"{url}/health", timeout=5).status_code == 200)
                time.sleep(0.5)
        finally:
            attack.stop.set()
            attack.join(60)
    print(f"health probes answered during the attack: {sum(served)} of {len(served)}")
    assert sum(served) >= 19, served
    assert attack.reconnects > 0  # the server did shed slow connections


def test_headers_have_a_deadline_and_idle_connections_close() -> None:
    with running_server(canned()) as url:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=2) as slow, \
                socket.create_connection((parts.hostname, parts.port), timeout=2) as idle:
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            began = time.monotonic()
            closed_after = None
            while time.monotonic() - began < HEADER_TIMEOUT + 5:
                try:
                    slow.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.5)
                except OSError:
                    closed_after = time.monotonic() - began
                    break
            idle.settimeout(KEEP_ALIVE_TIMEOUT + 5)
            assert idle.recv(1) == b""  # closed by the server, unanswered
    assert closed_after is not None and HEADER_TIMEOUT - 1 <= closed_after <= HEADER_TIMEOUT + 3


def test_a_request_body_has_a_deadline() -> None:
    with running_server(canned()) as url:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=2) as slow:
            slow.sendall(SlowBody.OPENING)
            began = time.monotonic()
            closed_after = None
            while time.monotonic() - began < BODY_TIMEOUT + 5:
                try:
                    slow.sendall(b" ")
                    time.sleep(0.5)
                except OSError:
                    closed_after = time.monotonic() - began
                    break
    assert closed_after is not None and BODY_TIMEOUT - 1 <= closed_after <= BODY_TIMEOUT + 3
