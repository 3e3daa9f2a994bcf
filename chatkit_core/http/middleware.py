"""Built-in named middleware: access log and metrics, security headers, CORS.

Each factory returns an ASGI middleware factory (``app -> app``). The core wraps them
around the whole application, routing and error handling included, so even a 404 or a
refused preflight carries the headers. What a response is (API, page, widget) and how it
is named in logs and metrics come from the route it matched, never from the raw path.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import structlog
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from chatkit_core import hookimpl
from chatkit_core.http.client import own_origin
from chatkit_core.http.errors import error_app
from chatkit_core.http.headers import encode, first_header, set_headers
from chatkit_core.http.routing import template_of
from chatkit_core.platform.config import Config

log = structlog.get_logger("chatkit.http")

Middleware = Callable[[ASGIApp], ASGIApp]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def access_log(config: Config) -> Middleware:
    """Request id, structured access log, request metrics."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
            request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(8)
            id_header = ((b"x-request-id", request_id.encode()),)
            scope["state"]["request_id"] = request_id
            status = 500
            began = time.perf_counter()

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    set_headers(message, id_header)
                await send(message)

            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    await app(scope, receive, send_with_id)
                finally:
                    elapsed = time.perf_counter() - began
                    route = template_of(scope)  # a route template: ids never become labels
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
    # The widget is embedded by other sites' pages, so it must be loadable cross-origin: also as a
    # CORS request (`<script integrity=… crossorigin>`) from any page, as a CDN serves it; it is
    # public and sent without credentials. Then the widget can also read its manifest on a page
    # whose origin the API refuses, and tell the site's developer so.
    # The API's CSP too: it binds nothing when the file runs as a script, only when opened.
    widget = {**common, "Cross-Origin-Resource-Policy": "cross-origin", "Access-Control-Allow-Origin": "*",
              "Cache-Control": "public, max-age=300", "Content-Security-Policy": API_CSP}
    # Its content-hashed name never holds other bytes.
    hashed = {**widget, "Cache-Control": "public, max-age=31536000, immutable"}

    by_asset = {"widget": encode(widget), "widget-hashed": encode(hashed), "page": encode(page)}
    api_headers = encode(api)
    # The console sets its own policy; CORS (either side of this) grants an allowed origin exactly.
    kept = (b"content-security-policy", b"access-control-allow-origin")

    def headers_for(scope: Scope, status: int) -> list[tuple[bytes, bytes]]:
        """Routed to the site's pages or the widget, their headers; anything else the API's strict ones."""
        handler = scope.get("route_handler")
        asset = handler.opt.get("asset", "") if handler is not None else ""
        # Only the hashed file is immutable; a miss (say, a newer release's hash) is not.
        if asset == "widget-hashed" and status >= 400:
            asset = "widget"
        return by_asset.get(asset, api_headers)

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":  # routed by now, if at all
                    set_headers(message, headers_for(scope, message["status"]), keep=kept)
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return wrap


ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
ALLOW_HEADERS = ("Content-Type", "Accept", "X-ChatKit-Site-Key", "X-Request-ID")
EXPOSE_HEADERS = ("Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID")
# Request headers a browser may send cross-origin without asking (the CORS safelist).
_SAFELISTED = {"accept", "accept-language", "content-language", "content-type"}
_REFUSED_PREFLIGHT = error_app(403, "forbidden", "This website is not allowed to use the chat service.")


_FOREIGN_REQUEST = error_app(403, "forbidden", "This website is not allowed to use the chat service.")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RefusalLog:
    """A warning for each refused origin, naming it and the key to change, at most once a minute per
    origin and for a bounded number of origins, so a flood of refusals cannot flood the logs."""

    def __init__(self, every: float = 60.0, remembered: int = 1000) -> None:
        self.every = every
        self.remembered = remembered
        self.last: dict[str, float] = {}

    def refused(self, origin: str, what: str) -> None:
        now = time.monotonic()
        if now - self.last.get(origin, -self.every) < self.every:
            return
        if len(self.last) >= self.remembered:
            self.last.clear()
        self.last[origin] = now
        log.warning("origin_refused", origin=origin[:200], request=what,
                    fix=f"add {origin[:200]!r} to [server] allowed_origins (or ALLOWED_ORIGINS) if that site "
                        "embeds the chat")


def cors(config: Config) -> Middleware:
    """CORS for ``server.allowed_origins``, matched exactly (``*``: any); never with credentials.

    A preflight from an unlisted origin, or asking for another method or header, gets 403
    ``forbidden`` in the API's error shape and no grant. A request that changes something
    (any method but GET and HEAD) from a page of another site that is not listed is refused the
    same way before any handler runs, whether or not the browser asked first: a form or a
    bodiless POST needs no preflight. The server's own pages (same origin) are always allowed.
    Each refusal is logged as a warning naming the origin and the key to change.
    """
    origins = frozenset(config.server.allowed_origins)
    any_origin = "*" in origins
    trusted = tuple(config.server.trusted_proxies)
    allowed_headers = {name.lower() for name in ALLOW_HEADERS} | _SAFELISTED
    refusals = RefusalLog()

    def grant(origin: str) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": "*" if any_origin else origin, "Vary": "Origin"}

    exposed = (b"access-control-expose-headers", ", ".join(EXPOSE_HEADERS).encode())
    any_grant = [*encode(grant("*")), exposed]

    def preflight_allowed(headers: Headers) -> bool:
        method = headers.get("access-control-request-method")
        asked = {name.strip().lower() for name in headers.get("access-control-request-headers", "").split(",")}
        return (method is None or method in ALLOW_METHODS) and asked - {""} <= allowed_headers

    def preflight(origin: str) -> ASGIApp:
        body_headers = {**grant(origin), "Access-Control-Allow-Methods": ", ".join(ALLOW_METHODS),
                        "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS), "Access-Control-Max-Age": "600"}
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 204, "headers": [
            (name.lower().encode(), value.encode()) for name, value in body_headers.items()]}

        empty: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}

        async def granted(scope: Scope, receive: Receive, send: Send) -> None:
            await send(start)
            await send(empty)

        return granted

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or (raw_origin := first_header(scope, b"origin")) is None:
                await app(scope, receive, send)
                return
            origin = raw_origin.decode("latin-1")
            listed = any_origin or origin in origins
            if scope["method"] == "OPTIONS":
                if listed and preflight_allowed(Headers.from_scope(scope)):
                    await preflight(origin)(scope, receive, send)
                    return
                if not listed:
                    refusals.refused(origin, "preflight")
                await _REFUSED_PREFLIGHT(scope, receive, send)
                return
            if not listed and scope["method"] not in _SAFE_METHODS and origin != own_origin(scope, trusted):
                refusals.refused(origin, scope["method"])
                await _FOREIGN_REQUEST(scope, receive, send)
                return
            if not listed:
                await app(scope, receive, send)
                return
            granted = any_grant if any_origin else [*encode(grant(origin)), exposed]

            async def send_with_grant(message: Message) -> None:
                if message["type"] == "http.response.start":
                    set_headers(message, granted)
                await send(message)

            await app(scope, receive, send_with_grant)

        return middleware

    return wrap


@hookimpl
def register_middleware(register):
    register("access_log", access_log)
    register("security_headers", security_headers)
    register("cors", cors)

