"""deploy/backend.Dockerfile acted out stage by stage (see tests/deploy/rehearsal.py): its build
commands as written, then its CMD and HEALTHCHECK as its USER on a read-only root filesystem."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.rehearsal import build_stage, parse, rehearsable, run_image

REASON = "rehearsing an image needs root" if os.geteuid() != 0 else rehearsable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

DISTRIBUTIONS = {"chatkit_core", "chatkit_ollama", "chatkit_openai", "chatkit_ratelimit", "chatkit_redis",
                 "chatkit_postgres", "chatkit_knowledge"}

PROBE = """
import json, urllib.request, urllib.error
base = "http://127.0.0.1:8000"
out = {"health": json.load(urllib.request.urlopen(base + "/health", timeout=5))}
widget = urllib.request.urlopen(base + "/widget/chatkit.js", timeout=5)
out["widget"] = [widget.status, widget.headers["content-type"], len(widget.read())]
session = json.load(urllib.request.urlopen(urllib.request.Request(base + "/api/create-session", method="POST")))
chat = urllib.request.Request(base + "/api/chat", method="POST", headers={"Content-Type": "application/json"},
                              data=json.dumps({"sessionId": session["sessionId"], "message": "Hi"}).encode())
try:
    urllib.request.urlopen(chat, timeout=30)
except urllib.error.HTTPError as error:
    out["chat"] = [error.code, json.load(error)]
for path in ("/opt/chatkit/probe", "/etc/chatkit/probe", "/srv/chatkit/probe", "/tmp/probe"):
    try:
        open(path, "w").close()
        out[path] = "written"
    except OSError as error:
        out[path] = error.strerror
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("backend-image")
    stages = parse("deploy/backend.Dockerfile")
    uppers: dict[str, Path] = {}
    for stage in stages:
        build_stage(stage, work, uppers, python_bin=str(Path(sys.executable).parent))
    final = stages[-1]
    result = run_image(final, work, PROBE)
    yield {"final": final, "upper": uppers[final.name], **result}
    shutil.rmtree(work)  # a few hundred MB of wheels and venv


def test_the_image_builds_and_its_healthcheck_passes(image):
    assert image["healthy"] == "yes", image["log"][-3000:]


def test_it_runs_as_the_unprivileged_user(image):
    assert image["final"].user == "10001:10001"
    assert image["uid"] == "10001"


def test_it_serves_on_a_read_only_root_with_a_writable_tmp(image):
    probe = json.loads(image["probe"])
    assert probe["health"]["status"] in ("ok", "degraded")
    assert [p["name"] for p in probe["health"]["providers"]] == ["local"]
    assert probe["widget"][0] == 200 and "javascript" in probe["widget"][1] and probe["widget"][2] > 1000
    for path in ("/opt/chatkit/probe", "/etc/chatkit/probe", "/srv/chatkit/probe"):
        assert probe[path] == "Read-only file system", path
    assert probe["/tmp/probe"] == "written"


def test_without_ollama_the_api_still_answers_in_its_error_shape(image):
    status, body = json.loads(image["probe"])["chat"]
    assert status == 503
    assert body["error"]["code"] == "providers_unavailable"


def test_the_final_stage_holds_the_venv_without_pip_or_sources(image):
    upper: Path = image["upper"]
    assert not (upper / "wheels").exists() and not (upper / "src").exists()
    venv = upper / "opt/chatkit"
    assert not (venv / "bin/pip").exists()
    site = next(venv.glob("lib/python3.*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert installed >= DISTRIBUTIONS
    # Installed from wheels, not linked to a source tree.
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))
    assert (upper / "etc/chatkit/chatkit.toml").is_file()
    # The widget is the bundle inside the core's wheel (built in the image's Node stage).
    assert (site / "chatkit_core/widget/chatkit.js").is_file() and not (upper / "srv/chatkit/widget").exists()
    # compose mounts the knowledge volume here; a new volume takes this owner.
    assert (upper / "var/lib/chatkit/knowledge").stat().st_uid == 10001
