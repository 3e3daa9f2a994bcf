"""The core's rooms and their doors (docs/architecture.md): what each may import, checked on the
source of every module, imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CORE = ROOT / "chatkit_core"
GROUND = {"chatkit_core.models", "chatkit_core.durations", "chatkit_core.codec", "chatkit_core.urls",
          "chatkit_core.hookspecs"}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute names (``from x import y`` counts as x and x.y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports(path) for path in sorted(CORE.rglob("*.py"))}


def offenders(room: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: sorted(i for i in used if i.startswith(forbidden))
            for name, used in MODULES.items()
            if (name == room or name.startswith(room + ".")) and any(i.startswith(forbidden) for i in used)}


def test_the_conversation_knows_no_http_and_no_assembly():
    assert offenders("chatkit_core.chat", ("litestar", "chatkit_core.http", "chatkit_core.platform",
                                           "chatkit_core.builtins", "chatkit_core.cli", "uvicorn")) == {}


def test_the_platform_knows_no_http():
    assert offenders("chatkit_core.platform", ("litestar", "chatkit_core.http", "chatkit_core.cli", "uvicorn")) == {}


def test_only_http_imports_litestar():
    outside = {name: used for name, used in MODULES.items() if not name.startswith("chatkit_core.http")}
    assert {name for name, used in outside.items() if any(i.startswith("litestar") for i in used)} == set()


def test_the_ground_stands_on_nothing_of_ours():
    for name in GROUND:
        ours = {i for i in MODULES[name] if i.startswith("chatkit_core.") and i.rpartition(".")[0] not in GROUND
                and i not in GROUND}
        assert ours == set(), name


def test_built_in_plugins_use_what_outside_plugins_can():
    assert offenders("chatkit_core.builtins", ("litestar", "chatkit_core.http", "chatkit_core.cli")) == {}


def test_no_module_is_over_the_size_a_newcomer_reads_in_one_go():
    sizes = {module_name(path): len(path.read_text().splitlines()) for path in CORE.rglob("*.py")}
    long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert long == {}


def test_every_module_is_in_a_room_or_on_the_ground():
    rooms = ("chatkit_core.chat", "chatkit_core.http", "chatkit_core.platform", "chatkit_core.builtins",
             "chatkit_core.cli", "chatkit_core.testing", "chatkit_core.skeleton")
    entry = {"chatkit_core", "chatkit_core.__main__"}
    stray = {name for name in MODULES if name not in GROUND | entry and not name.startswith(rooms)}
    assert stray == set()
