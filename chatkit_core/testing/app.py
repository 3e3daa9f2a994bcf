"""In-process ChatKit apps for tests: a config from TOML text, throwaway plugins, a client."""

from __future__ import annotations

import contextlib
import itertools
import tomllib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from litestar.testing import AsyncTestClient

from chatkit_core.config import Config, apply_environment, decode, interpolate
from chatkit_core.plugins import pm

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


@contextlib.asynccontextmanager
async def app_client(text: str = "", plugins: Iterable[Any] = (),
                     environ: dict[str, str] | None = None) -> AsyncIterator[AsyncTestClient]:
    """A started app for the config ``text`` with ``plugins`` registered, and a client for it.

    The app is the one ``chatkit serve`` builds (``chatkit_core.app.create_app``); its
    lifespan runs, so providers and stores are started and closed as in production.
    """
    from chatkit_core.app import create_app

    with registered(plugins):
        app = create_app(config_from(text, environ))
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            yield client
