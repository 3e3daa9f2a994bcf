"""A started in-process app and a client for it, for tests (``chatkit_core.testing``'s fixtures)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.testing.app import config_from, registered


@contextlib.asynccontextmanager
async def app_client(text: str = "", plugins: Iterable[Any] = (),
                     environ: dict[str, str] | None = None) -> AsyncIterator[AsyncTestClient]:
    """A started app for the config ``text`` with ``plugins`` registered, and a client for it.

    The app is the one ``chatkit serve`` builds (:func:`chatkit_core.http.app.create_app`); its
    lifespan runs, so providers and stores are started and closed as in production.
    """
    with registered(plugins):
        app = create_app(build_runtime(config_from(text, environ)))
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            yield client
