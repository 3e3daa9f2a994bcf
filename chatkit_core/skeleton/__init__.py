"""``chatkit plugins new NAME``: a ready-to-install provider plugin, with a passing test.

The templates beside this module are the plugin's files; ``{{name}}``, ``{{dist}}``,
``{{package}}``, ``{{Class}}`` and ``{{ENV}}`` are filled in from NAME, ``{{requires_core}}`` with
the range of ``chatkit-core`` releases this one is compatible with.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from chatkit_core import __version__
from chatkit_core.platform.config import ConfigError

# Template file -> path in the new plugin (``package`` becomes the import package).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "{{package}}/__init__.py",
    "package/provider.py.tmpl": "{{package}}/provider.py",
    "tests/test_provider.py.tmpl": "tests/test_provider.py",
}


def names(name: str) -> dict[str, str]:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"plugin name {name!r}: use lowercase letters, digits and _, starting with a letter")
    return {
        "{{name}}": name,
        "{{dist}}": "chatkit-" + name.replace("_", "-"),
        "{{package}}": "chatkit_" + name,
        "{{Class}}": "".join(part.capitalize() for part in name.split("_")),
        "{{ENV}}": name.upper(),
        "{{requires_core}}": requires_core(__version__),
    }


def requires_core(version: str) -> str:
    """``chatkit-core`` from this release up to the next minor one, which may change the hooks."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"chatkit-core>={major}.{minor},<{major}.{minor + 1}"


def render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def write(name: str, parent: Path) -> Path:
    """Write the plugin ``chatkit-NAME`` under ``parent``; its folder is returned."""
    values = names(name)
    target = parent / values["{{dist}}"]
    if target.exists():
        raise ConfigError(f"{target} already exists; choose another name or folder")
    templates = resources.files(__package__)
    for template, path in FILES.items():
        destination = target / render(path, values)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(render(templates.joinpath(template).read_text(encoding="utf-8"), values),
                               encoding="utf-8")
    return target
