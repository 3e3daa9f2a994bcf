"""``chatkit plugins new NAME --kind KIND``: each kind's plugin passes its own tests in place, and a
NAME something installed already uses is refused, naming what has it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatkit_core import hookimpl, skeleton
from chatkit_core.cli import PLUGIN_KINDS, parser
from chatkit_core.platform.config import ConfigError
from chatkit_core.skeleton.clashes import KINDS
from chatkit_core.testing.app import registered
from tests.conftest import ROOT
from tests.platform.conftest import Site

# What each kind writes beside pyproject.toml and README.md, and how many of its tests pass.
FILES = {"provider": ("provider.py", 10), "retriever": ("retriever.py", 7), "store": ("store.py", 13),
         "sanitizer": ("sanitizer.py", 9), "middleware": ("middleware.py", 4)}


def test_every_kind_the_cli_offers_has_templates():
    assert set(PLUGIN_KINDS) == set(KINDS) == set(FILES)
    for kind, (module, _) in FILES.items():
        written = [path for _, path in skeleton.templates(kind)]
        assert written == ["pyproject.toml", "README.md", "package/__init__.py", f"package/{module}",
                           f"tests/test_{kind}.py"], kind


def make(site: Site, tmp_path: Path, name: str, kind: str) -> Path:
    made = site.chatkit("plugins", "new", name, "--kind", kind, "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert f"a {kind} plugin" in made.stdout
    return tmp_path / f"chatkit-{name.replace('_', '-')}"


@pytest.mark.slow  # left out of `make check`: runs each plugin's own test suite in a subprocess
@pytest.mark.parametrize("kind", FILES)
def test_each_kind_passes_its_own_tests_in_place(site: Site, tmp_path, kind):
    name = f"{kind}_kestrel_long_name"[:skeleton.MAX_NAME]  # the longest: its lines still fit
    plugin = make(site, tmp_path, name, kind)
    package = f"chatkit_{name}"
    module, passed = FILES[kind]
    assert sorted(str(p.relative_to(plugin)) for p in plugin.rglob("*") if p.is_file()) == sorted([
        "README.md", f"{package}/__init__.py", f"{package}/{module}", "pyproject.toml", f"tests/test_{kind}.py"])
    assert f'{name} = "{package}"' in (plugin / "pyproject.toml").read_text()
    assert "{{" not in "".join(p.read_text() for p in plugin.rglob("*") if p.is_file())
    # Installed as pip would: the entry point in a dist-info, the package importable.
    site.add(f"chatkit-{name.replace('_', '-')}", {name: package}, {})
    (site.path / package).symlink_to(plugin / package)
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "120",
                           "--select", "E,F,W,I,B,UP,SIM,RUF", "."], cwd=plugin, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    listed = site.chatkit("plugins", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site.path), str(ROOT)])}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=plugin,
                           capture_output=True, text=True, env=env, timeout=180)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert f"{passed} passed" in tests.stdout


@pytest.mark.parametrize(("name", "kind", "taken_by"), [
    ("ollama", "provider", "provider type 'ollama' is registered by chatkit-ollama"),
    ("memory", "store", "session store type 'memory' is registered by chatkit (built-in"),
    ("html", "sanitizer", "sanitizer 'html' is registered by chatkit (built-in"),
    ("cors", "middleware", "middleware 'cors' is registered by chatkit (built-in"),
    ("sqlite", "retriever", "retriever type 'sqlite' is registered by chatkit-knowledge"),
    ("ollama", "store", "the distribution chatkit-ollama"),  # another kind: the distribution is taken
    ("knowledge", "provider", "the entry point 'knowledge' in the 'chatkit' group belongs to chatkit-knowledge"),
    ("core", "middleware", "the module chatkit_core exists"),
])
def test_a_name_something_installed_has_is_refused_naming_it(tmp_path, name, kind, taken_by):
    with pytest.raises(ConfigError, match=f"^plugin name {name!r} is taken: .*choose another name$") as refused:
        skeleton.write(name, tmp_path, kind)
    assert taken_by in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # nothing written


class Hush:
    def clean_input(self, text: str) -> str:
        return text

    def clean_output(self, text: str) -> str:
        return text


class HushPlugin:
    @hookimpl
    def register_sanitizers(self, register):
        register("hush", Hush())


def test_a_name_a_plugin_registers_is_refused_for_that_kind_only(tmp_path):
    with registered([HushPlugin()]), pytest.raises(ConfigError, match=r"sanitizer 'hush' is registered by plugin"):
        skeleton.write("hush", tmp_path, "sanitizer")
    with registered([HushPlugin()]):
        assert skeleton.write("hush", tmp_path, "provider") == tmp_path / "chatkit-hush"


def test_the_command_says_what_has_the_name_in_one_line(site: Site, tmp_path):
    refused = site.chatkit("plugins", "new", "ollama", "--dir", str(tmp_path))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: plugin name 'ollama' is taken: provider type 'ollama' is registered by "
                                     "chatkit-ollama (entry point 'ollama')")
    assert len(refused.stderr.splitlines()) == 1 and list(tmp_path.iterdir()) == [site.path]


def test_bad_names_kinds_and_existing_folders_are_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="lowercase letters"):
        skeleton.write("Bad-Name", tmp_path)
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["plugins", "new", "kestrel", "--kind", "limiter"])
    assert exited.value.code == 2 and "invalid choice: 'limiter'" in capsys.readouterr().err
    skeleton.write("kestrel", tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        skeleton.write("kestrel", tmp_path, "store")


def test_the_command_writes_a_provider_unless_told_otherwise(tmp_path, capsys):
    for arguments in (["kestrel"], ["falcon", "--kind", "middleware"]):
        args = parser().parse_args(["plugins", "new", *arguments, "--dir", str(tmp_path)])
        assert args.run(args) == 0
    assert (tmp_path / "chatkit-kestrel" / "chatkit_kestrel" / "provider.py").exists()
    assert (tmp_path / "chatkit-falcon" / "chatkit_falcon" / "middleware.py").exists()
    assert "chatkit-falcon, a middleware plugin: pip install -e" in capsys.readouterr().out
