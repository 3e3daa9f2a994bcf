"""The plugin manager: built-in default plugins plus those installed under ``chatkit``.

Installed plugins load on first use (the first :func:`collect` or :func:`describe`), not
when this module is imported, and each entry point on its own: one that fails to import is
recorded in :data:`failures` and skipped, so a broken plugin never takes ChatKit down.
Whatever a plugin registers is checked when it registers (``chatkit_core.platform.checks``); a bad
registration, or a name two plugins register, is recorded and refused only where the
config uses it.

``CHATKIT_LOAD_PLUGINS`` restricts which installed distributions load: a comma-separated
list of distribution names (an empty value loads none). Built-ins always load.
Tests register throwaway plugins with ``pm.register(obj, name=...)`` and ``pm.unregister``.
"""

from __future__ import annotations

import difflib
import importlib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from chatkit_core import hookspecs
from chatkit_core.platform import checks

ENTRY_POINT_GROUP = "chatkit"

DEFAULT_PLUGINS = (
    "chatkit_core.builtins.stores",
    "chatkit_core.builtins.answer_cache",
    "chatkit_core.builtins.sanitizer",
    "chatkit_core.http.middleware",
    "chatkit_core.http.site_keys",
    "chatkit_core.builtins.host_deploy",
)

HOOKS = ("register_providers", "register_sanitizers", "register_rate_limiters", "register_session_stores",
         "register_answer_caches", "register_middleware", "register_retrievers", "register_embedders",
         "register_brokers", "register_concurrency_stores", "register_commands")

pm = pluggy.PluginManager("chatkit")
pm.add_hookspecs(hookspecs)


class PluginError(Exception):
    """A plugin problem the operator must fix; the message names the plugin and the fix."""


@dataclass(frozen=True)
class Failure:
    """An installed entry point that could not be loaded."""

    distribution: str
    version: str
    entry_point: str
    error: str
    """The last line of the error, e.g. ``ModuleNotFoundError: No module named 'x'``."""

    def describe(self) -> str:
        return (f"{self.distribution} {self.version} (entry point {self.entry_point!r}) failed to load: "
                f"{self.error}; fix or reinstall it (pip install --force-reinstall {self.distribution}), "
                f"or remove it (pip uninstall {self.distribution})")


failures: list[Failure] = []
_distributions: dict[str, metadata.Distribution] = {}
_state: dict[str, Any] = {"loaded": False, "error": None}


def load() -> None:
    """Register the built-ins and the installed plugins, once. Never raises for a broken
    plugin; raises :class:`PluginError` only for a ``CHATKIT_LOAD_PLUGINS`` naming nothing installed."""
    if not _state["loaded"]:
        _state["loaded"] = True
        for module_name in DEFAULT_PLUGINS:
            if pm.get_plugin(module_name) is None:
                pm.register(importlib.import_module(module_name), name=module_name)
        try:
            _load_installed()
        except PluginError as error:
            _state["error"] = error
    if _state["error"] is not None:
        raise _state["error"]


def _load_installed() -> None:
    wanted = os.environ.get("CHATKIT_LOAD_PLUGINS")
    if wanted is None:
        entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    else:
        entry_points = []
        for dist_name in filter(None, (name.strip() for name in wanted.split(","))):
            try:
                distribution = metadata.distribution(dist_name)
            except metadata.PackageNotFoundError:
                raise PluginError(f"CHATKIT_LOAD_PLUGINS names {dist_name!r}, which is not installed "
                                  "(a comma-separated list of installed distribution names)") from None
            entry_points += [ep for ep in distribution.entry_points if ep.group == ENTRY_POINT_GROUP]
    for entry_point in entry_points:
        if pm.get_plugin(entry_point.name) is None and not pm.is_blocked(entry_point.name):
            _load_one(entry_point)


def _load_one(entry_point: metadata.EntryPoint) -> None:
    dist = entry_point.dist
    try:
        plugin = entry_point.load()
        pm.register(plugin, name=entry_point.name)
    except (Exception, SystemExit) as error:  # any failure of a plugin's own code: report it, load the rest
        failures.append(Failure(dist.name if dist else "?", dist.version if dist else "?", entry_point.name,
                                where(error) + traceback.format_exception_only(error)[-1].strip()))
        return
    if dist is not None:
        _distributions[entry_point.name] = dist
        pm._plugin_distinfo.append((plugin, dist))  # as load_setuptools_entrypoints does


def where(error: BaseException) -> str:
    """``file.py, line N: `` of the plugin code that raised ``error`` (the innermost frame outside
    the import machinery), so a plugin author sees where to look."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}, line {error.lineno}: "
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if "importlib" not in frame.filename and "<frozen" not in frame.filename]
    return f"{frames[-1].filename}, line {frames[-1].lineno}: " if frames else ""


def unmarked_hooks() -> list[tuple[str, str]]:
    """``(plugin_name, function)`` for each function a plugin defines with a hook's name but without
    ``@hookimpl``: pluggy ignores those silently."""
    load()
    found = []
    for plugin_name, plugin in pm.list_name_plugin():
        for name in HOOKS:
            function = getattr(plugin, name, None)
            if callable(function) and not hasattr(function, "chatkit_impl"):
                found.append((plugin_name, name))
    return found


def owner(plugin_name: str) -> str:
    """Who to blame for ``plugin_name``, for messages: its distribution and entry point."""
    if plugin_name in DEFAULT_PLUGINS:
        return f"chatkit (built-in {plugin_name})"
    dist = _distributions.get(plugin_name)
    return f"{dist.name} (entry point {plugin_name!r})" if dist else f"plugin {plugin_name!r}"


@dataclass
class Registry:
    """What plugins register through one hook, with what is wrong with it."""

    hook: str
    entries: dict[str, tuple[Any, str]] = field(default_factory=dict)
    """Usable registrations: ``{name: (thing, plugin_name)}``."""
    clashes: dict[str, list[str]] = field(default_factory=dict)
    """Names several plugins register: ``{name: [plugin_name, ...]}``; these are not usable."""
    invalid: dict[str, str] = field(default_factory=dict)
    """Registrations refused when registered: ``{name: problem naming the plugin}``."""
    errors: list[str] = field(default_factory=list)
    """Hook implementations that raised, each naming its plugin."""
    everything: dict[str, list[str]] = field(default_factory=dict)
    """Every name each plugin registered, valid or not: ``{plugin_name: [name, ...]}``."""
    by_plugin: dict[str, list[str]] = field(default_factory=dict)
    """The errors, refusals and clashes above, under each plugin they concern."""

    def blame(self, plugin_name: str, problem: str) -> None:
        self.by_plugin.setdefault(plugin_name, []).append(problem)

    @property
    def kind(self) -> str:
        return checks.KINDS[self.hook]

    def problem(self, name: str) -> str | None:
        """Why ``name`` cannot be used, naming the plugins and the fix; None when it can."""
        if name in self.clashes:
            return clash_message(self.hook, name, self.clashes[name])
        return self.invalid.get(name)

    def unknown(self) -> str:
        """For a name nothing registered: the plugins that may have, had they loaded."""
        return "; ".join([*load_problems(), *self.errors])


def clash_message(hook: str, name: str, plugin_names: list[str]) -> str:
    owners = " and ".join(owner(plugin) for plugin in plugin_names)
    return (f"{checks.KINDS[hook]} {name!r} is registered by both {owners}; "
            "uninstall one of them (pip uninstall)")


def registry(hook_name: str) -> Registry:
    """Call every implementation of ``hook_name`` on its own, so the registry knows who
    registered what, and check each registration as it is made."""
    load()
    found = Registry(hook_name)
    by_name: dict[str, list[str]] = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin_name = impl.plugin_name
        try:
            impl.function(register=_registrar(found, by_name, plugin_name))
        except Exception as error:  # a plugin's hook raising must not take the others down
            found.errors.append(f"{owner(plugin_name)}: its {hook_name} raised "
                                f"{traceback.format_exception_only(error)[-1].strip()}")
            found.blame(plugin_name, found.errors[-1])
    for name, plugins in by_name.items():
        if len(plugins) > 1:
            found.clashes[name] = sorted(plugins)
            found.entries.pop(name, None)
            for plugin_name in plugins:
                found.blame(plugin_name, clash_message(hook_name, name, found.clashes[name]))
    found.entries = dict(sorted(found.entries.items()))
    return found


def _registrar(found: Registry, by_name: dict[str, list[str]], plugin_name: str) -> Callable[..., None]:
    def register(name: Any, thing: Any = None) -> None:
        if thing is None:  # register(command): the thing carries its own name
            name, thing = getattr(name, "name", name), name
        name = str(name)
        found.everything.setdefault(plugin_name, []).append(name)
        if plugin_name not in by_name.setdefault(name, []):
            by_name[name].append(plugin_name)
        problem = checks.check(found.hook, name, thing)
        if problem:
            found.invalid[name] = f"{owner(plugin_name)} registers {found.kind} {name!r}, but {problem}"
            found.blame(plugin_name, found.invalid[name])
        else:
            found.entries[name] = (thing, plugin_name)

    return register


def collect(hook_name: str) -> dict[str, tuple[Any, str]]:
    """The usable registrations of ``hook_name``: ``{name: (thing, plugin_name)}``."""
    return registry(hook_name).entries


def unknown_hooks() -> list[tuple[str, str, str]]:
    """``(plugin_name, hook_name, suggestion)`` for each implementation of a hook ChatKit does
    not have, such as a misspelled ``register_provider``. Like ``pm.check_pending()``, which
    stops at the first, but reporting every one."""
    load()
    found = []
    for hook_name, caller in vars(pm.hook).items():
        if hook_name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                hint = difflib.get_close_matches(hook_name, HOOKS, n=1)
                found.append((impl.plugin_name, hook_name, hint[0] if hint else ""))
    return found


def load_problems() -> list[str]:
    """Plugins that failed to load and hooks ChatKit does not have, one sentence each."""
    return [problem for problems in _load_problems_by_plugin().values() for problem in problems]


def _load_problems_by_plugin() -> dict[str, list[str]]:
    load()
    found: dict[str, list[str]] = {}
    for failure in failures:
        found.setdefault(failure.entry_point, []).append(failure.describe())
    for plugin, hook, hint in unknown_hooks():
        found.setdefault(plugin, []).append(f"{owner(plugin)} implements {hook}, which is not a ChatKit hook"
                                            + (f" (did you mean {hint}?)" if hint else ""))
    for plugin, hook in unmarked_hooks():
        found.setdefault(plugin, []).append(f"{owner(plugin)} defines {hook} without @hookimpl, so it is never "
                                            "called: decorate it with chatkit_core.hookimpl")
    return found


def problems_by_plugin() -> dict[str, list[str]]:
    """Everything wrong with the installed plugins, one sentence each, under each plugin concerned."""
    found = _load_problems_by_plugin()
    for hook_name in HOOKS:
        for plugin_name, sentences in registry(hook_name).by_plugin.items():
            found.setdefault(plugin_name, []).extend(sentences)
    return found


def problems() -> list[str]:
    """Everything wrong with the installed plugins, one sentence each, for the operator."""
    return list(dict.fromkeys(p for sentences in problems_by_plugin().values() for p in sentences))


def describe() -> list[dict[str, Any]]:
    """Installed plugins with their distribution and what each registers, then the ones that
    failed to load."""
    load()
    concerns = problems_by_plugin()
    registered: dict[str, dict[str, list[str]]] = {}
    for hook_name in HOOKS:
        for plugin_name, names in registry(hook_name).everything.items():
            registered.setdefault(plugin_name, {})[hook_name.removeprefix("register_")] = sorted(names)
    rows = []
    for plugin_name, _plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        dist = _distributions.get(plugin_name)
        rows.append({
            "name": plugin_name,
            "distribution": dist.name if dist else "chatkit-core",
            "version": dist.version if dist else _core_version(),
            "builtin": plugin_name in DEFAULT_PLUGINS,
            "registers": registered.get(plugin_name, {}),
            "problems": concerns.get(plugin_name, []),
        })
    rows += [{"name": failure.entry_point, "distribution": failure.distribution, "version": failure.version,
              "builtin": False, "registers": {}, "problems": concerns.get(failure.entry_point, []),
              "error": failure.error} for failure in failures]
    return rows


def _core_version() -> str:
    from chatkit_core import __version__

    return __version__
