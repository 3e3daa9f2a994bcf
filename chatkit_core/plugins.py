"""The plugin manager: built-in default plugins plus those installed under ``chatkit``.

``CHATKIT_LOAD_PLUGINS`` restricts which installed distributions load: a comma-separated
list of distribution names (an empty value loads none). Built-ins always load.
Tests register throwaway plugins with ``pm.register(obj, name=...)`` and ``pm.unregister``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from importlib import metadata
from typing import Any

import pluggy

from chatkit_core import hookspecs

ENTRY_POINT_GROUP = "chatkit"

DEFAULT_PLUGINS = (
    "chatkit_core.builtins.stores",
    "chatkit_core.builtins.sanitizer",
    "chatkit_core.builtins.middleware",
    "chatkit_core.builtins.site_keys",
)

pm = pluggy.PluginManager("chatkit")
pm.add_hookspecs(hookspecs)


class PluginError(Exception):
    """Two plugins registered the same name, or a plugin failed to load."""


def _load_installed() -> None:
    wanted = os.environ.get("CHATKIT_LOAD_PLUGINS")
    if wanted is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return
    for dist_name in filter(None, (name.strip() for name in wanted.split(","))):
        try:
            distribution = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise PluginError(f"CHATKIT_LOAD_PLUGINS names {dist_name!r}, which is not installed") from None
        for entry_point in distribution.entry_points:
            if entry_point.group == ENTRY_POINT_GROUP and pm.get_plugin(entry_point.name) is None:
                plugin = entry_point.load()
                pm.register(plugin, name=entry_point.name)
                pm._plugin_distinfo.append((plugin, distribution))  # as load_setuptools_entrypoints does


def _load_defaults() -> None:
    for module_name in DEFAULT_PLUGINS:
        if pm.get_plugin(module_name) is None:
            pm.register(importlib.import_module(module_name), name=module_name)


_load_defaults()
_load_installed()


Registry = dict[str, tuple[Any, str]]


def collect(hook_name: str) -> Registry:
    """Everything plugins register through ``hook_name``: ``{name: (thing, plugin_name)}``.

    Each implementation is called on its own so the registry knows who registered what;
    a name registered twice is an error that names both plugins.
    """
    registry: Registry = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        impl.function(register=_registrar(registry, impl.plugin_name))
    return dict(sorted(registry.items()))


def _registrar(registry: Registry, plugin_name: str) -> Callable[..., None]:
    def register(name: Any, thing: Any = None) -> None:
        if thing is None:  # register(command): the thing carries its own name
            name, thing = name.name, name
        if name in registry and registry[name][1] != plugin_name:
            raise PluginError(f"{name!r} is registered by both {registry[name][1]} and {plugin_name}")
        registry[name] = (thing, plugin_name)

    return register


def describe() -> list[dict[str, Any]]:
    """Installed plugins with their distribution and what each registers."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    hooks = ("register_providers", "register_sanitizers", "register_rate_limiters",
             "register_session_stores", "register_middleware", "register_retrievers", "register_commands")
    registered: dict[str, dict[str, list[str]]] = {}
    for hook_name in hooks:
        for name, (_, plugin_name) in collect(hook_name).items():
            kind = hook_name.removeprefix("register_")
            registered.setdefault(plugin_name, {}).setdefault(kind, []).append(name)
    rows = []
    for plugin_name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        dist = dists.get(id(plugin))
        rows.append({
            "name": plugin_name,
            "distribution": dist.project_name if dist else "chatkit",
            "version": dist.version if dist else _core_version(),
            "builtin": plugin_name in DEFAULT_PLUGINS,
            "registers": registered.get(plugin_name, {}),
        })
    return rows


def _core_version() -> str:
    from chatkit_core import __version__

    return __version__
