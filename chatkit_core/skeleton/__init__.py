"""``chatkit plugins new NAME --kind KIND``: a ready-to-install plugin of one kind, with tests
that exercise it for real.

``pyproject.toml.tmpl`` serves every kind; each kind has its own folder of templates beside this
module (``provider/``, ``retriever/``, …) whose ``package/`` becomes the import package.
``{{name}}``, ``{{dist}}``, ``{{package}}``, ``{{Class}}`` and ``{{ENV}}`` are filled in from NAME,
``{{requires_core}}`` with the range of ``chatkit-core`` releases this one is compatible with.
A NAME something installed already uses is refused (:mod:`chatkit_core.skeleton.clashes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from chatkit_core import __version__
from chatkit_core.platform.config import ConfigError
from chatkit_core.skeleton.clashes import KINDS, refuse_clashes

MAX_NAME = 20
"""Longer names would push the plugin's lines past 120 characters."""
MORE_DEPENDENCIES = {"provider": ', "httpx>=0.27"'}
"""What a kind's plugin needs beside ``chatkit-core``, as TOML list items."""


def names(name: str, kind: str = "provider") -> dict[str, str]:
    if not re.fullmatch(rf"[a-z][a-z0-9_]{{0,{MAX_NAME - 1}}}", name):
        raise ConfigError(f"plugin name {name!r}: use lowercase letters, digits and _, starting with a letter "
                          f"(at most {MAX_NAME})")
    if kind not in KINDS:
        raise ConfigError(f"plugin kind {kind!r}: choose one of {', '.join(KINDS)}")
    return {
        "{{name}}": name,
        "{{dist}}": "chatkit-" + name.replace("_", "-"),
        "{{package}}": "chatkit_" + name,
        "{{Class}}": "".join(part.capitalize() for part in name.split("_")),
        "{{ENV}}": name.upper(),
        "{{kind}}": KINDS[kind],
        "{{requires_core}}": requires_core(__version__),
        "{{more_dependencies}}": MORE_DEPENDENCIES.get(kind, ""),
    }


def requires_core(version: str) -> str:
    """``chatkit-core`` from this release up to the next minor one, which may change the hooks."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"chatkit-core>={major}.{minor},<{major}.{minor + 1}"


def render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def templates(kind: str) -> Iterator[tuple[Traversable, str]]:
    """Each template of ``kind`` with the path it takes in the plugin (``package/`` as is)."""
    here = resources.files(__package__)
    yield here / "pyproject.toml.tmpl", "pyproject.toml"

    def walk(folder: Traversable, path: PurePosixPath) -> Iterator[tuple[Traversable, str]]:
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if entry.is_dir():
                yield from walk(entry, path / entry.name)
            elif entry.name.endswith(".tmpl"):
                yield entry, str(path / entry.name.removesuffix(".tmpl"))

    yield from walk(here / kind, PurePosixPath())


def write(name: str, parent: Path, kind: str = "provider") -> Path:
    """Write the ``kind`` plugin ``chatkit-NAME`` under ``parent``; its folder is returned."""
    values = names(name, kind)
    target = parent / values["{{dist}}"]
    if target.exists():
        raise ConfigError(f"{target} already exists; choose another name or folder")
    refuse_clashes(name, kind, values["{{dist}}"], values["{{package}}"])
    for template, path in templates(kind):
        destination = target / render(path.replace("package/", "{{package}}/", 1), values)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(render(template.read_text(encoding="utf-8"), values), encoding="utf-8")
    return target
