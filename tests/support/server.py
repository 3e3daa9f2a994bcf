"""Run a real ChatKit server in a subprocess for tests that need one over the network."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    config_toml: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
    timeout: float = 30.0,
    log: Path | None = None,
) -> Iterator[str]:
    """Start ``chatkit serve`` with ``config_toml`` on a free loopback port; yield its URL.

    The server's output goes to a log file (``log``, if given) whose tail is shown if it fails to start.
    """
    port = port or free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "chatkit.toml"
        config_path.write_text(config_toml)
        log_path = log or Path(tmp) / "server.log"
        child_env = {**os.environ, "LOG_LEVEL": "warning", **(env or {})}
        for name in ("CHATKIT_CONFIG", "OPENAI_API_KEY", "OLLAMA_BASE_URL", "REDIS_URL"):
            if env is None or name not in env:
                child_env.pop(name, None)
        command = [sys.executable, "-m", "chatkit_core", "serve", "--config", str(config_path),
                   "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env)
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base_url, process, log_path, timeout)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(base_url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chatkit serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base_url + "/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"chatkit serve did not answer /health in {timeout}s:\n{log_path.read_text()[-3000:]}")


SITE = Path(__file__).resolve().parents[2] / "web"


def with_site(config_toml: str, folder: Path = SITE) -> str:
    """``config_toml`` serving the sample site (or ``folder``) at ``/``, as the demo config does."""
    line = f'web_root = "{folder}"'
    if "[server]\n" in config_toml:
        return config_toml.replace("[server]\n", f"[server]\n{line}\n", 1)
    return config_toml + f"\n[server]\n{line}\n"
