"""Helpers for platform tests: throwaway distributions on a path, and the ``chatkit`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.core.conftest import make_client

__all__ = ["make_client"]


class Site:
    """A folder on ``PYTHONPATH`` holding installed-looking distributions: ``NAME.dist-info``
    with the ``chatkit`` entry points, beside the plugin's modules. importlib.metadata finds
    them exactly as it finds a pip-installed plugin."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        info = self.path / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text("[chatkit]\n" + lines)
        for module, source in modules.items():
            (self.path / f"{module}.py").write_text(textwrap.dedent(source))

    def chatkit(self, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
        environ = {key: value for key, value in os.environ.items() if key not in ("CHATKIT_CONFIG", "OPENAI_API_KEY")}
        environ.update(env, PYTHONPATH=os.pathsep.join([str(self.path), str(ROOT)]))
        return subprocess.run([sys.executable, "-m", "chatkit_core", *args], capture_output=True, text=True,
                              timeout=60, env=environ, cwd=cwd or self.path)


@pytest.fixture
def site(tmp_path) -> Site:
    path = tmp_path / "site"
    path.mkdir()
    return Site(path)
