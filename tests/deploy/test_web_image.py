"""deploy/web.Dockerfile acted out stage by stage (see tests/deploy/rehearsal.py), with
Debian's nginx in place of nginx-unprivileged's: web/nginx.conf exactly as shipped, as uid
101 on a read-only root, in front of a backend reached by the name `backend`."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.edge import NGINX
from tests.deploy.rehearsal import build_stage, parse, rehearsable, run_image

REASON = "rehearsing an image needs root" if os.geteuid() != 0 else rehearsable()
pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
    pytest.mark.skipif(shutil.which("wget") is None, reason="wget (the image's health check) is not installed"),
]

# nginx-unprivileged's CMD, which web.Dockerfile inherits.
BASE_CMD = ["nginx", "-g", "daemon off;"]

BACKEND = """
[server]
trusted_proxies = ["127.0.0.1/32"]

[providers.demo]
type = "canned"
replies = ["Fresh from the oven."]
chunk_chars = 4
delay = 0.02
"""

PROBE = """
import gzip, json, os, time, urllib.request, urllib.error
base = "http://127.0.0.1:8080"
def get(path, **headers):
    try:
        return urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=10)
    except urllib.error.HTTPError as error:
        return error
for attempt in range(100):  # the backend beside may still be starting
    if get("/health").status == 200:
        break
    time.sleep(0.2)
page = get("/")
out = {"page": [page.status, page.headers["content-security-policy"], "chatkit.js" in page.read().decode()]}
widget = get("/widget/chatkit.js", **{"Accept-Encoding": "gzip"})
out["widget"] = [widget.status, widget.headers["content-encoding"], len(gzip.decompress(widget.read()))]
out["config"] = get("/nginx.conf").status
session = json.load(urllib.request.urlopen(urllib.request.Request(base + "/api/create-session", method="POST")))
question = {"sessionId": session["sessionId"], "message": "Hi", "stream": True}
chat = urllib.request.Request(base + "/api/chat", method="POST", headers={"Content-Type": "application/json"},
                              data=json.dumps(question).encode())
events = [line.decode().strip() for line in urllib.request.urlopen(chat, timeout=30) if line.startswith(b"event:")]
out["events"] = events
for path in ("/etc/nginx/probe", "/usr/share/nginx/html/probe", "/tmp/probe"):
    try:
        open(path, "w").close()
        out[path] = "written"
    except OSError as error:
        out[path] = error.strerror
out["temp"] = sorted(name for name in os.listdir("/tmp") if name.endswith("_temp"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("web-image")
    stages = parse("deploy/web.Dockerfile")
    uppers: dict[str, Path] = {}
    for stage in stages:
        build_stage(stage, work, uppers, python_bin=str(Path(sys.executable).parent))
    final = stages[-1]
    # What Docker adds at run time: the compose network's name for the backend.
    hosts = uppers[final.name] / "etc/hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + "127.0.0.1 backend\n")
    config = work / "backend.toml"
    config.write_text(BACKEND)
    backend = " ".join(shlex.quote(word) for word in [
        "exec", sys.executable, "-m", "chatkit_core", "serve", "--config", str(config),
        "--host", "127.0.0.1", "--port", "8000"])
    result = run_image(final, work, PROBE, cmd=BASE_CMD, beside=backend)
    yield {"final": final, "upper": uppers[final.name], "site": uppers["site"], **result}
    shutil.rmtree(work)


def probe(image: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(image["probe"])
    except ValueError:
        raise AssertionError(f"{image['probe']}\n{image['log'][-3000:]}") from None


def test_the_site_stage_drops_the_server_configuration(image):
    assert (image["site"] / "site/index.html").is_file()
    assert not (image["site"] / "site/nginx.conf").exists()
    assert (image["upper"] / "etc/nginx/nginx.conf").read_text() == (ROOT / "web/nginx.conf").read_text()


def test_nginx_runs_unprivileged_and_its_healthcheck_passes(image):
    assert image["healthy"] == "yes", image["log"][-3000:]
    assert image["uid"] == "101"


def test_the_shipped_configuration_serves_the_site_and_proxies_the_backend(image):
    result = probe(image)
    status, policy, embeds_widget = result["page"]
    assert status == 200 and "script-src 'self'" in policy and embeds_widget
    assert result["widget"][:2] == [200, "gzip"]
    assert result["config"] == 404
    assert result["events"][0] == "event: start" and result["events"][-1] == "event: done"
    assert result["events"].count("event: delta") > 1


def test_it_writes_only_to_tmp(image):
    result = probe(image)
    assert result["/etc/nginx/probe"] == "Read-only file system"
    assert result["/usr/share/nginx/html/probe"] == "Read-only file system"
    assert result["/tmp/probe"] == "written"
    assert result["temp"] == ["client_temp", "fastcgi_temp", "proxy_temp", "scgi_temp", "uwsgi_temp"]
    assert "request_id=" in image["log"]  # the access log goes to the container's output
