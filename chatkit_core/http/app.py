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

from chatkit_core import __version__
from chatkit_core.chat.ratelimit import SessionCap
from chatkit_core.http import api, feedback, handoff_api, ops, uploads
from chatkit_core.http.admin import Console
from chatkit_core.http.errors import EXCEPTION_HANDLERS, error_app
from chatkit_core.http.events import StreamSlots
from chatkit_core.http.routing import canonical
from chatkit_core.http.widget_assets import widget_router
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import Config, ConfigError, load_config
from chatkit_core.platform.logs import configure_logging
from chatkit_core.platform.runtime import Runtime

log = structlog.get_logger("chatkit.app")

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
    web_root = config.server.web_root  # a site at / only when the config names its folder (the demo's does)
    if web_root:
        if not Path(web_root).is_dir():
            raise ConfigError(f"server.web_root: {web_root} is not a folder; name the folder of the site to serve "
                              "at /, or leave it empty to serve none")
        routes.append(create_static_files_router("/", [Path(web_root)], file_system=SiteAssets(), html_mode=True,
                                                 name="web", include_in_schema=False, opt={"asset": "page"}))
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


def session_cap(runtime: Runtime) -> SessionCap | None:
    """The small in-process cap on new sessions, when no rate limiter is installed."""
    per_minute = getattr(runtime.store.options, "new_per_minute", 0)
    return SessionCap(per_minute) if runtime.limiter is None and per_minute else None


def provide_runtime(state: State) -> Runtime:
    return state.runtime


def create_app(runtime: Runtime) -> Litestar:
    """The HTTP app over a built runtime (:func:`~chatkit_core.platform.assembly.build_runtime`);
    its lifespan starts and closes the runtime."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with runtime.running():
            for warning in runtime.warnings:
                log.warning("config_warning", detail=warning)
            log.info("started", providers=[p.name for p in runtime.providers], store=runtime.store_type,
                     rate_limit=runtime.limiter_type, middleware=[name for name, _ in runtime.middleware])
            yield

    config = runtime.config
    visitor = [*api.HANDLERS, *feedback.HANDLERS, *(handoff_api.HANDLERS if runtime.handoff else handoff_api.OFF)]
    app = ChatKitApp(
        # Site keys guard the conversation API; the route says so, not the path's spelling.
        route_handlers=[Router("/", route_handlers=visitor, opt={"site_key": True},
                               before_request=api.require_json),
                        Router("/", route_handlers=uploads.handlers(runtime), opt={"site_key": True}),  # multipart
                        *ops.HANDLERS, *_static_routes(config)],
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=config.server.max_body_bytes,
        # The JSON schema only: the HTML viewers load scripts from CDNs, which the API's CSP forbids.
        openapi_config=OpenAPIConfig(title="ChatKit", version=__version__, path="/schema",
                                     render_plugins=[JsonRenderPlugin()]),
        state=State({"runtime": runtime, "metrics": runtime.metrics, "session_cap": session_cap(runtime),
                     "handoff_streams": StreamSlots(config.handoff.max_streams,
                                                    config.handoff.max_streams_per_session)}),
        plugins=[Console(runtime)],
        logging_config=None,
    )
    app.install([middleware for _, middleware in runtime.middleware])
    return app


def app_from_environment() -> Litestar:
    """Factory for ``uvicorn --factory``: reads $CHATKIT_CONFIG like the CLI does."""
    config = load_config()
    configure_logging(config.logging.level, config.logging.format)
    app = create_app(build_runtime(config))
    # The modules and the app live as long as the worker: keep them out of every full collection.
    gc.freeze()
    return app
