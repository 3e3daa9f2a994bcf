"""A real ``redis-server`` on a free loopback port, which tests can stop and restart."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.server import free_port

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` process without persistence, in its own directory.

    ``stop`` kills it the way a crash would; ``start`` brings it back on the same port, empty.
    """

    def __init__(self, directory: Path, *, password: str = "", unix_socket: bool = False, ipv6: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.password = password
        self.socket = directory / "redis.sock" if unix_socket else None
        self.ipv6 = ipv6
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", *(["::1"] if self.ipv6 else []),
                   "--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        if self.socket is not None:
            command += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        if self.password:
            command += ["--requirepass", self.password]
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child keeps it open
        with log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{(self.directory / 'redis.log').read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)  # a password-protected server answers NOAUTH: it is up all the same
                return reply.startswith(b"+PONG") or (bool(self.password) and reply.startswith(b"-NOAUTH"))
        except OSError:
            return False


@pytest.fixture
def redis_server(tmp_path: Path):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.resume()
            server.stop()
