"""One version, written once; every package of ours names the core by its own distribution name."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import chatkit_core
from chatkit_core.skeleton import requires_core
from tests.conftest import ROOT

PYPROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml")),
              ROOT / "examples" / "chatkit_canned" / "pyproject.toml"]


def tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in names.splitlines()]


def test_the_version_is_written_once():
    version = (ROOT / "chatkit_core" / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) and chatkit_core.__version__ == version
    written = [path.relative_to(ROOT).as_posix() for path in tracked_files()
               if path.is_file() and not path.is_symlink() and path.name not in ("uv.lock", "CHANGELOG.md")
               and re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", path.read_text(errors="ignore"))]
    assert written == ["chatkit_core/VERSION"]
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()


def test_every_bundled_package_takes_its_version_from_the_core():
    for pyproject in PYPROJECTS:
        project = tomllib.loads(pyproject.read_text())["project"]
        assert project["dynamic"] == ["version"] and "version" not in project, pyproject
        if pyproject.parent != ROOT:
            link = pyproject.parent / "VERSION"
            assert link.is_symlink() and link.resolve() == ROOT / "chatkit_core" / "VERSION"


def test_no_package_of_ours_depends_on_the_bare_pypi_name():
    wanted = requires_core(chatkit_core.__version__)
    for pyproject in PYPROJECTS[1:]:
        dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        assert wanted in dependencies, pyproject
    skeleton = (ROOT / "chatkit_core" / "skeleton" / "pyproject.toml.tmpl").read_text()
    assert "{{requires_core}}" in skeleton
    for text in [*(tomllib.loads(p.read_text()) for p in PYPROJECTS)]:
        for requirement in text["project"].get("dependencies", []):
            assert not re.match(r"chatkit\s*($|[<>=!~;\[])", requirement), requirement
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == "chatkit-core"


def test_the_range_is_this_minor_release():
    assert requires_core("2.7.0") == "chatkit-core>=2.7,<2.8"
    assert requires_core("1.12.4") == "chatkit-core>=1.12,<1.13"


def test_chatkit_version_prints_it():
    shown = subprocess.run([str(Path(sys.executable).with_name("chatkit")), "--version"], capture_output=True,
                           text=True, check=True).stdout
    assert shown.strip() == f"chatkit {chatkit_core.__version__}"


def test_the_image_bootstraps_the_locked_uv():
    lock = (ROOT / "uv.lock").read_text()
    locked = re.search(r'^name = "uv"\nversion = "([^"]+)"', lock, re.M)
    assert locked is not None
    assert f'pip install "uv=={locked[1]}"' in (ROOT / "deploy" / "backend.Dockerfile").read_text()
