"""The host install on this machine: `chatkit deploy host` and what it writes, the site file
inside Debian's own nginx.conf, and a streamed answer timed through any client."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.deploy.edge import serving
from tests.support.server import free_port

DEBIAN_NGINX = Path("/etc/nginx/nginx.conf")
DOMAIN = "chat.example.com"


def deploy_host(config: Path, out: Path, port: int | None = None, domain: str = DOMAIN,
                *extra: str) -> subprocess.CompletedProcess:
    """`chatkit deploy host` as an operator runs it."""
    command = [sys.executable, "-m", "chatkit_core", "deploy", "host", "--config", str(config),
               "--domain", domain, "--out", str(out), *(["--port", str(port)] if port else []), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def tls_command(site: str) -> str:
    """The command the site file's own comment gives for turning its #tls lines on."""
    match = re.search(r"#\s+(sed -i '[^']+' )/etc/nginx/sites-available/chatkit", site)
    assert match, "the site file no longer says how to turn HTTPS on"
    return match[1]


def enable_tls(path: Path) -> None:
    subprocess.run(f"{tls_command(path.read_text())}{path}", shell=True, check=True)


def debian_nginx(workdir: Path) -> str:
    """Debian's nginx.conf, running from ``workdir``: its sites-enabled is ``workdir``/sites."""
    text = DEBIAN_NGINX.read_text()
    replacements = {  # the master runs as whoever runs the test (edge.nginx_command sets user)
        "user www-data;": "",
        # Modules load relative to the prefix, which moved; the site needs none of them.
        "include /etc/nginx/modules-enabled/*.conf;": "",
        "pid /run/nginx.pid;": f"pid {workdir}/nginx.pid;",
        "/var/log/nginx/": f"{workdir}/",
        "include /etc/nginx/sites-enabled/*;": f"include {workdir}/sites/*;",
    }
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"{DEBIAN_NGINX} no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def site_in_prefix(text: str, workdir: Path, port: int, tls_port: int) -> str:
    """The site file with what ties it to a server moved into ``workdir``: the listen ports,
    the log, the page and ACME folders and the certificate. Everything else runs as written."""
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/var/log/nginx/": f"{workdir}/",
        "root /var/www/chatkit;": f"root {workdir}/www;",
        "root /var/www/letsencrypt;": f"root {workdir}/letsencrypt;",
        f"/etc/letsencrypt/live/{DOMAIN}/": f"{workdir}/",
    }
    for old, new in replacements.items():  # the #tls lines hold theirs before they are turned on
        if old not in text:
            raise AssertionError(f"the site file no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def certificate(folder: Path, *names: str) -> Path:
    """A self-signed certificate for ``names`` (fullchain.pem, privkey.pem); returns the cert."""
    san = ",".join(f"IP:{n}" if n[0].isdigit() else f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
                    "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")],
                   check=True, capture_output=True)
    return folder / "fullchain.pem"


@contextlib.contextmanager
def host_nginx(site_file: Path, tls: bool = False) -> Iterator[tuple[str, str, Path]]:
    """Debian's nginx with ``site_file`` as its one site; yields the http and https base URLs
    (https only with ``tls``: the #tls lines on, a self-signed certificate for 127.0.0.1) and
    the prefix, which holds the pages folder (www), the certificate and the access log."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for folder in ("sites", "www", "letsencrypt"):
            (workdir / folder).mkdir()
        site = workdir / "sites" / "chatkit"
        site.write_text(site_file.read_text())
        if tls:
            enable_tls(site)
            certificate(workdir, "127.0.0.1", DOMAIN)
        port, tls_port = free_port(), free_port()
        site.write_text(site_in_prefix(site.read_text(), workdir, port, tls_port))
        (workdir / "nginx.conf").write_text(debian_nginx(workdir))
        with serving(workdir, port):
            yield f"http://127.0.0.1:{port}", f"https://127.0.0.1:{tls_port}", workdir


def delta_times(client: httpx.Client, base: str, session_id: str) -> tuple[list[float], str]:
    """Seconds from asking to each delta event of a streamed answer, and the answer's text."""
    started, times, final, event = time.monotonic(), [], "", ""
    body = {"sessionId": session_id, "message": "How does streaming work?", "stream": True}
    with client.stream("POST", f"{base}/api/chat", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "delta":
                times.append(time.monotonic() - started)
            elif line.startswith("data: ") and event == "done":
                final = json.loads(line.removeprefix("data: "))["message"]["content"]
    return times, final
