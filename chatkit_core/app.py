"""The Litestar application, assembled from a Config and the installed plugins."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router

from chatkit_core import __version__, api, feedback, ops
from chatkit_core.admin import Console
from chatkit_core.assembly import Components, assemble
from chatkit_core.chain import Chain
from chatkit_core.config import Config, load_config
from chatkit_core.errors import EXCEPTION_HANDLERS
from chatkit_core.logs import configure_logging
from chatkit_core.metrics import Metrics
from chatkit_core.runtime import Runtime, provide_runtime

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


def _static_routes(config: Config) -> list:
    routes = []
    widget = find_folder(config.server.widget_root, "widget")
    if widget:
        routes.append(create_static_files_router("/widget", [widget], name="widget", include_in_schema=False))
    web = find_folder(config.server.web_root, "web")
    if web:
        routes.append(create_static_files_router("/", [web], html_mode=True, name="web", include_in_schema=False))
    return routes


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

    app = Litestar(
        route_handlers=[*api.HANDLERS, *feedback.HANDLERS, *ops.HANDLERS, *_static_routes(config)],
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=config.server.max_body_bytes,
        # The JSON schema only: the HTML viewers load scripts from CDNs, which the API's CSP forbids.
        openapi_config=OpenAPIConfig(title="ChatKit", version=__version__, path="/schema",
                                     render_plugins=[JsonRenderPlugin()]),
        state=State({"runtime": runtime, "metrics": metrics}),
        plugins=[Console(config)],
        logging_config=None,
    )
    # Named middleware wraps the whole application (routing and error handling included),
    # as Litestar does for its own CORS, so 404s and refused preflights carry headers too.
    for _, middleware in reversed(components.middleware):
        app.asgi_handler = middleware(app.asgi_handler)
    return app


def app_from_environment() -> Litestar:
    """Factory for ``uvicorn --factory``: reads $CHATKIT_CONFIG like the CLI does."""
    config = load_config()
    configure_logging(config.logging.level, config.logging.format)
    return create_app(config)
