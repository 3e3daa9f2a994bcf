"""Installed from wheels, as a user would: the widget is served from any directory, and the
skeleton from ``chatkit plugins new`` installs and passes its own tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Venv
from tests.support.server import free_port

pytestmark = pytest.mark.slow  # left out of `make check`: builds wheels and virtualenvs


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT),
                    str(ROOT / "plugins" / "chatkit_ollama")], check=True, capture_output=True, text=True)
    return out


BUNDLE = ROOT / "widget" / "dist" / "chatkit.js"


def test_the_core_wheel_holds_every_package_the_widget_and_the_site(wheels):
    wheel = zipfile.ZipFile(next(wheels.glob("chatkit_core-*.whl")))
    names = set(wheel.namelist())
    assert "chatkit_core/widget/chatkit.js" in names and "chatkit_core/web/index.html" in names
    # The widget is the built bundle alone: no sources, no build files.
    assert wheel.read("chatkit_core/widget/chatkit.js") == BUNDLE.read_bytes()
    assert [n for n in names if n.startswith("chatkit_core/widget/")] == ["chatkit_core/widget/chatkit.js"]
    assert "chatkit_core/skeleton/package/provider.py.tmpl" in names
    packages = {str(path.parent.relative_to(ROOT)) for path in (ROOT / "chatkit_core").rglob("__init__.py")}
    missing = {p for p in packages if f"{p}/__init__.py" not in names}
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "chatkit = chatkit_core.testing.plugin" in zipfile.ZipFile(next(wheels.glob("chatkit_core-*.whl"))).read(
        entry_points).decode()


@contextlib.contextmanager
def serving(venv: Venv, cwd: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CHATKIT_CONFIG", "OPENAI_API_KEY", "PYTHONPATH")}
    process = subprocess.Popen([str(venv.bin / "chatkit"), "serve", "--port", str(port)], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url + "/health", timeout=1)
                break
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_installed_from_wheels_chatkit_serves_the_widget_from_an_empty_directory(fresh_venv, wheels, tmp_path):
    fresh_venv.pip("install", "--force-reinstall", "--no-deps", *map(str, wheels.glob("*.whl")))
    fresh_venv.pip("install", *map(str, wheels.glob("chatkit_ollama-*.whl")))  # its own dependencies
    empty = tmp_path / "empty"
    empty.mkdir()
    try:
        with serving(fresh_venv, empty) as url:
            widget = httpx.get(url + "/widget/chatkit.js")
            assert widget.status_code == 200 and widget.content == BUNDLE.read_bytes()
            hashed = httpx.get(url + "/widget/" + httpx.get(url + "/widget/manifest.json").json()["chatkit.js"])
            assert hashed.content == widget.content and "immutable" in hashed.headers["cache-control"]
            assert httpx.get(url + "/").status_code == 404  # no [server] web_root: no site of its own
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-ollama")


def source_copy(tmp_path: Path) -> Path:
    """What the core's wheel is built from, copied: the test may age the bundle's sources."""
    copy = tmp_path / "core"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    for name in ("chatkit_core", "web", "widget"):
        shutil.copytree(ROOT / name, copy / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "node_modules", "*.egg-info"))
    return copy


def test_the_wheel_builds_without_nodejs_from_a_fresh_bundle_and_says_what_is_missing_otherwise(tmp_path):
    """As on python:3.11-slim (deploy/backend.Dockerfile): no node or npm on the PATH."""
    copy = source_copy(tmp_path)
    no_node = tmp_path / "bin"
    no_node.mkdir()
    (no_node / "python3").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(no_node)}
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "out"),
               str(copy)]
    built = subprocess.run(command, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = zipfile.ZipFile(next((tmp_path / "out").glob("chatkit_core-*.whl")))
    assert wheel.read("chatkit_core/widget/chatkit.js") == BUNDLE.read_bytes()
    (copy / "widget" / "src" / "main.js").touch()  # an edited source: the bundle is stale
    stale = subprocess.run(command, env=env, capture_output=True, text=True)
    assert stale.returncode != 0
    assert "needs Node.js 18 or later with npm" in stale.stderr + stale.stdout


def test_a_new_plugin_skeleton_installs_and_passes_its_tests(fresh_venv, tmp_path):
    made = fresh_venv.run("chatkit", "plugins", "new", "parrot", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    plugin = tmp_path / "chatkit-parrot"
    fresh_venv.pip("install", f"{plugin}[test]")
    try:
        listed = fresh_venv.run("chatkit", "plugins", "--json", check=True).stdout
        assert '"distribution": "chatkit-parrot"' in listed
        tests = fresh_venv.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugin / "tests"),
                               cwd=plugin)
        assert tests.returncode == 0, tests.stdout[-3000:]
        assert "10 passed" in tests.stdout
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-parrot")
    again = fresh_venv.run("chatkit", "plugins", "new", "parrot", "--dir", str(tmp_path))
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = fresh_venv.run("chatkit", "plugins", "new", "Bad-Name")
    assert bad.returncode == 1 and "lowercase letters" in bad.stderr
