"""The Litestar application, assembled from a Config and the installed plugins."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import structlog
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send

from chatkit_core import __version__, api, feedback, ops
from chatkit_core.admin import Console
from chatkit_core.assembly import Components, assemble
from chatkit_core.chain import Chain
from chatkit_core.config import Config, load_config
from chatkit_core.errors import EXCEPTION_HANDLERS, error_app
from chatkit_core.logs import configure_logging
from chatkit_core.metrics import Metrics
from chatkit_core.ratelimit import SessionCap
from chatkit_core.routing import canonical
from chatkit_core.runtime import Runtime, provide_runtime
from chatkit_core.widget_assets import widget_router

log = structlog.get_logger("chatkit.app")

PACKAGE_ROOT = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_ROOT.parent


def find_folder(configured: str, name: str) -> Path | None:
    """``configured``, else ``./name``, else the copy installed inside the package (a wheel
    ships ``widget/`` and ``web/`` as package data), else ``name`` beside the source tree."""
    candidates = [Path.cwd() / name, PACKAGE_ROOT / name, SOURCE_ROOT / name]
    for candidate in ([Path(configured)] if configured else candidates):
        if candidate.is_dir():
            return candidate
    return None


# What a site's folder may serve: pages and their assets, never its config files (nginx.conf),
# sources or dot files that happen to sit beside them.
SITE_ASSET_SUFFIXES = frozenset({
    ".html", ".htm", ".css", ".js", ".mjs", ".map", ".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif",
    ".ico", ".woff", ".woff2", ".txt", ".webmanifest",
})


class SiteAssets(BaseLocalFileSystem):
    """The local file system, showing only site assets: anything else is not found."""

    async def info(self, path, **kwargs):
        found = await super().info(path, **kwargs)
        name = Path(path).name
        if found["type"] == "file" and (name.startswith(".") or Path(name).suffix.lower() not in SITE_ASSET_SUFFIXES):
            raise FileNotFoundError(path)
        return found


def _static_routes(config: Config) -> list:
    routes = []
    if widget := widget_router(config.server.widget_root):
        routes.append(widget)
    web = find_folder(config.server.web_root, "web")
    if web:
        routes.append(create_static_files_router("/", [web], file_system=SiteAssets(), html_mode=True, name="web",
                                                 include_in_schema=False, opt={"asset": "page"}))
    return routes


class ChatKitApp(Litestar):
    """Litestar with the named middleware around all of it, routing and error handling included,
    so 404s, 405s and refused preflights pass through them and carry their headers too."""

    def install(self, middleware: list[Callable[[ASGIApp], ASGIApp]]) -> None:
        """Wrap ``middleware`` (outermost first) around the application."""
        handler: ASGIApp = _canonical_only(partial(Litestar.__call__, self))
        for wrap in reversed(middleware):
            handler = wrap(handler)
        self._outer = handler

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not hasattr(self, "_outer"):
            await super().__call__(scope, receive, send)
            return
        scope["app"] = scope["litestar_app"] = self
        scope.setdefault("state", {})
        await self._outer(scope, receive, send)


_NOT_FOUND = error_app(404)


def _canonical_only(app: ASGIApp) -> ASGIApp:
    """Refuse a path with dot or empty segments or escaped slashes: there is nothing at it."""

    async def refuse_non_canonical(scope: Scope, receive: Receive, send: Send) -> None:
        if canonical(scope):
            await app(scope, receive, send)
        else:
            await _NOT_FOUND(scope, receive, send)

    return refuse_non_canonical


def session_cap(components: Components) -> SessionCap | None:
    """The small in-process cap on new sessions, when no rate limiter is installed."""
    per_minute = getattr(components.store.options, "new_per_minute", 0)
    return SessionCap(per_minute) if components.limiter is None and per_minute else None


def create_app(config: Config | None = None, components: Components | None = None) -> Litestar:
    """The app for ``config`` (default: chatkit.toml / $CHATKIT_CONFIG / built-in defaults)."""
    config = config or load_config()
    components = components or assemble(config)
    metrics = Metrics()
    chain = Chain(components.providers, config.chain, metrics, max_tokens=config.chat.max_tokens)
    runtime = Runtime(config, components, chain, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await components.start()
        for warning in components.warnings:
            log.warning("config_warning", detail=warning)
        log.info("started", providers=[p.name for p in components.providers], store=components.store_type,
                 rate_limit=components.limiter_type, middleware=[name for name, _ in components.middleware])
        try:
            yield
        finally:
            await components.close()

    app = ChatKitApp(
        # Site keys guard the conversation API; the route says so, not the path's spelling.
        route_handlers=[Router("/", route_handlers=[*api.HANDLERS, *feedback.HANDLERS], opt={"site_key": True},
                               before_request=api.require_json), *ops.HANDLERS,
                        *_static_routes(config)],
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=config.server.max_body_bytes,
        # The JSON schema only: the HTML viewers load scripts from CDNs, which the API's CSP forbids.
        openapi_config=OpenAPIConfig(title="ChatKit", version=__version__, path="/schema",
                                     render_plugins=[JsonRenderPlugin()]),
        state=State({"runtime": runtime, "metrics": metrics, "session_cap": session_cap(components)}),
        plugins=[Console(config)],
        logging_config=None,
    )
    app.install([middleware for _, middleware in components.middleware])
    return app


def app_from_environment() -> Litestar:
    """Factory for ``uvicorn --factory``: reads $CHATKIT_CONFIG like the CLI does."""
    config = load_config()
    configure_logging(config.logging.level, config.logging.format)
    app = create_app(config)
    # The modules and the app live as long as the worker: keep them out of every full collection.
    gc.freeze()
    return app
