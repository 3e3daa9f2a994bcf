"""For tests: a config from TOML text, and throwaway plugins registered for a block (the started
app and its client are :func:`chatkit_core.http.testing.app_client`)."""

from __future__ import annotations

import contextlib
import itertools
import tomllib
from collections.abc import Iterable
from typing import Any

from chatkit_core.platform.config import Config, apply_environment, decode, interpolate
from chatkit_core.platform.plugins import pm

_names = itertools.count()


def config_from(text: str = "", environ: dict[str, str] | None = None) -> Config:
    """The Config ``text`` (chatkit.toml syntax) gives with ``environ`` (default: empty)."""
    raw = interpolate(tomllib.loads(text), environ or {})
    apply_environment(raw, environ or {})
    return decode(raw)


@contextlib.contextmanager
def registered(plugins: Iterable[Any]) -> Any:
    """Register ``plugins`` (modules, classes or instances with hook implementations) for the block."""
    names = []
    try:
        for plugin in plugins:
            names.append(pm.register(plugin, name=f"testing-{next(_names)}"))
        yield
    finally:
        for name in names:
            if name is not None:
                pm.unregister(name=name)

