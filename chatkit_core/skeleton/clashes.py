"""Names a new plugin may not take: what an installed plugin registers for the same kind, an
installed distribution, an entry point of the ``chatkit`` group, an importable package. A plugin
that took one would be refused as a clash, skipped at loading, or shadowed on import."""

from __future__ import annotations

import contextlib
import importlib.util
from importlib import metadata

from chatkit_core.platform.checks import KINDS as HOOK_KINDS
from chatkit_core.platform.config import ConfigError
from chatkit_core.platform.plugins import ENTRY_POINT_GROUP, owner, registry

HOOKS = {"provider": "register_providers", "retriever": "register_retrievers", "store": "register_session_stores",
         "sanitizer": "register_sanitizers", "middleware": "register_middleware"}
KINDS = {kind: HOOK_KINDS[hook] for kind, hook in HOOKS.items()}
"""Each kind ``chatkit plugins new`` writes, and what its NAME is (``provider type``, …)."""


def clashes(name: str, kind: str, dist: str, package: str) -> list[str]:
    """What already uses ``name`` (or the distribution and package it makes), one phrase each."""
    found = [f"{KINDS[kind]} {name!r} is registered by {owner(plugin)}"
             for plugin, registered in registry(HOOKS[kind]).everything.items() if name in registered]
    with contextlib.suppress(metadata.PackageNotFoundError):
        found.append(f"the distribution {dist} {metadata.version(dist)} is installed")
    found += [f"the entry point {name!r} in the {ENTRY_POINT_GROUP!r} group belongs to "
              f"{entry_point.dist.name if entry_point.dist else 'an installed distribution'}"
              for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a broken package of that name: taken all the same
        spec = None
        found.append(f"the module {package} cannot be imported")
    if spec is not None:
        found.append(f"the module {package} exists ({spec.origin or 'a namespace package'})")
    return list(dict.fromkeys(found))


def refuse_clashes(name: str, kind: str, dist: str, package: str) -> None:
    found = clashes(name, kind, dist, package)
    if found:
        raise ConfigError(f"plugin name {name!r} is taken: {'; '.join(found)}; choose another name")
