"""Run web/nginx.conf with a real nginx, in a temporary prefix, in front of a loopback backend.

Only what ties the file to the container is rewritten: the upstream address, the listen
port, the site root and the /tmp paths. Everything else runs as written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.deploy.conftest import ROOT
from tests.support.server import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render(backends: str | list[str], port: int, site: Path, workdir: Path) -> str:
    """web/nginx.conf for this machine; fails loudly if a rewritten line has changed.

    Several ``backends`` (host:port) stand for the replicas that Docker's DNS returns for
    ``backend`` after ``docker compose --scale backend=N``.
    """
    text = (ROOT / "web/nginx.conf").read_text()
    servers = [backends] if isinstance(backends, str) else backends
    replacements = {  # /tmp/ first: the temporary prefix may itself live under /tmp
        "/tmp/": f"{workdir}/",
        "server backend:8000;": " ".join(f"server {backend};" for backend in servers),
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "root /usr/share/nginx/html;": f"root {site};",
        "access_log /dev/stdout main;": f"access_log {workdir}/access.log main;",
    }
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"web/nginx.conf no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def site_copy(destination: Path) -> Path:
    """web/ as the web image ships it: everything but nginx.conf."""
    shutil.copytree(ROOT / "web", destination, ignore=shutil.ignore_patterns("nginx.conf"))
    return destination


def nginx_command(workdir: Path, *args: str) -> list[str]:
    # As root, nginx would switch its workers to `nobody`, who cannot read the temp prefix.
    globals_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    return [NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-g", globals_, *args]


@contextlib.contextmanager
def running_nginx(backends: str | list[str], site: Path | None = None, access_log: Path | None = None,
                  timeout: float = 10.0) -> Iterator[str]:
    """nginx with web/nginx.conf proxying to ``backends`` (host:port); yields its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        site = site or site_copy(workdir / "site")
        config = render(backends, port, site, workdir)
        if access_log:
            config = config.replace(f"{workdir}/access.log", str(access_log))
        (workdir / "nginx.conf").write_text(config)
        with serving(workdir, port, timeout):
            yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving(workdir: Path, port: int, timeout: float = 10.0) -> Iterator[None]:
    """Run nginx with ``workdir``/nginx.conf, which listens on ``port``, until the block ends."""
    with open(workdir / "error.log", "wb") as errors:
        process = subprocess.Popen(nginx_command(workdir), stdout=errors, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process, workdir / "error.log", timeout)
        yield
    finally:
        process.terminate()
        process.wait(10)


def _wait_listening(port: int, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"nginx did not listen on {port} in {timeout}s:\n{log.read_text()}")
