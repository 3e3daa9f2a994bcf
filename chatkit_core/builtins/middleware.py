"""Built-in named middleware: access log and metrics, security headers, CORS.

Each factory returns an ASGI middleware factory (``app -> app``). The core wraps them
around the whole application, routing and error handling included, so even a 404 or a
refused preflight carries the headers.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import structlog
from litestar import Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.middleware.cors import CORSMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatkit_core import hookimpl
from chatkit_core.config import Config
from chatkit_core.errors import error_body
from chatkit_core.metrics import route_label

log = structlog.get_logger("chatkit.http")

Middleware = Callable[[ASGIApp], ASGIApp]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
def access_log(config: Config) -> Middleware:
    """Request id, structured access log, request metrics."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
            request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(8)
            scope["state"]["request_id"] = request_id
            status = 500
            began = time.perf_counter()

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    MutableScopeHeaders.from_message(message)["X-Request-ID"] = request_id
                await send(message)

            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    await app(scope, receive, send_with_id)
                finally:
                    elapsed = time.perf_counter() - began
                    route = route_label(scope["path"])
                    scope["app"].state.metrics.request(scope["method"], route, status, elapsed)
                    log.info("request", method=scope["method"], route=route, status=status,
                             ms=round(elapsed * 1000, 2))

        return middleware

    return wrap


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'self'")


def security_headers(config: Config) -> Middleware:
    """Headers every response carries; API answers are never cached or framed."""
    common = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}
    if config.server.hsts:
        common["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    api = {**common, "Cache-Control": "no-store", "Content-Security-Policy": API_CSP, "X-Frame-Options": "DENY"}
    page = {**common, "Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "SAMEORIGIN",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}
    # The widget is embedded by other sites' pages, so it must be loadable cross-origin.
    # The API's CSP too: it binds nothing when the file runs as a script, only when opened.
    widget = {**common, "Cross-Origin-Resource-Policy": "cross-origin", "Cache-Control": "public, max-age=300",
              "Content-Security-Policy": API_CSP}

    def headers_for(path: str) -> dict[str, str]:
        if path.startswith("/widget/"):
            return widget
        if path.startswith(("/api/", "/health", "/metrics", "/schema")):
            return api
        return page

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            extra = headers_for(scope["path"])

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableScopeHeaders.from_message(message)
                    for name, value in extra.items():
                        if name != "Content-Security-Policy" or name not in headers:  # the console sets its own
                            headers[name] = value
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return wrap


class ExactOrigins(CORSConfig):
    """Origins match exactly: Litestar would read ``*`` inside an origin as a wildcard."""

    def is_origin_allowed(self, origin: str) -> bool:
        return self.is_allow_all_origins or origin in self.allow_origins


class RefusingCORSMiddleware(CORSMiddleware):
    """Litestar's CORS, with refused preflights answered in the API's error shape."""

    def _create_preflight_response(self, origin: str, request_headers: Headers) -> Response:
        response = super()._create_preflight_response(origin=origin, request_headers=request_headers)
        if response.status_code < 400:
            return response
        return Response(error_body("forbidden", "This website is not allowed to use the chat service."),
                        status_code=403)


def cors(config: Config) -> Middleware | None:
    """Exact-origin CORS from ``server.allowed_origins``; never with credentials."""
    if not config.server.allowed_origins:
        return None
    cors_config = ExactOrigins(
        allow_origins=config.server.allowed_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Accept", "X-ChatKit-Site-Key", "X-Request-ID"],
        expose_headers=["Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID"],
        allow_credentials=False,
        max_age=600,
    )
    return lambda app: RefusingCORSMiddleware(app=app, config=cors_config)


@hookimpl
def register_middleware(register):
    register("access_log", access_log)
    register("security_headers", security_headers)
    register("cors", cors)

