"""``chatkit plugins new`` without the package index: the skeleton's own tests pass in place."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.platform.conftest import Site

pytestmark = pytest.mark.slow  # left out of `make check`: builds wheels and virtualenvs


def test_the_skeleton_passes_its_tests_and_the_conformance_suite(site: Site, tmp_path):
    made = site.chatkit("plugins", "new", "kestrel", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    plugin = tmp_path / "chatkit-kestrel"
    assert sorted(str(p.relative_to(plugin)) for p in plugin.rglob("*") if p.is_file()) == [
        "README.md", "chatkit_kestrel/__init__.py", "chatkit_kestrel/provider.py", "pyproject.toml",
        "tests/test_provider.py"]
    assert 'kestrel = "chatkit_kestrel"' in (plugin / "pyproject.toml").read_text()
    # Installed as pip would: the entry point in a dist-info, the package importable.
    site.add("chatkit-kestrel", {"kestrel": "chatkit_kestrel"}, {})
    (site.path / "chatkit_kestrel").symlink_to(plugin / "chatkit_kestrel")
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "120",
                           "--select", "E,F,W,I,B,UP,SIM,RUF", "."], cwd=plugin, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site.path), str(ROOT)])}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=plugin,
                           capture_output=True, text=True, env=env, timeout=120)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "10 passed" in tests.stdout
