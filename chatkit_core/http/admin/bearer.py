"""The operator API's door (routes under ``/admin/api``): the console's token as a bearer token,
``Authorization: Bearer TOKEN``, for scripts and dashboards, or the console's signed-in cookie,
for its own pages. Wrong tokens count as sign-in attempts: past the limit, a client waits."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from chatkit_core.http.admin.auth import SESSION_COOKIE, Attempts, Keys
from chatkit_core.http.client import client_ip
from chatkit_core.http.errors import APIError
from chatkit_core.platform.runtime import Runtime

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="chatkit-admin"', "Cache-Control": "no-store"}


def _unauthorized() -> APIError:
    return APIError(401, "unauthorized", "Send the console's token as a header: Authorization: Bearer TOKEN.",
                    headers=_CHALLENGE)


async def operator_api(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    keys: Keys = connection.app.state.admin_keys
    scheme, _space, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        attempts: Attempts = connection.app.state.admin_attempts
        client = _client(connection)
        wait = attempts.blocked(client)
        if wait:
            raise APIError(429, "rate_limited", "Too many wrong tokens from this address. Please wait.",
                           headers={"Retry-After": str(int(wait) + 1)}, retryAfter=int(wait) + 1)
        if keys.token_matches(given.strip()):
            return
        attempts.allow(client)  # counts the wrong token
        raise _unauthorized()
    session = connection.cookies.get(SESSION_COOKIE)
    if session and keys.session_valid(session) and not await _revoked(connection, session):
        return
    raise _unauthorized()


def _client(connection: ASGIConnection) -> str:
    runtime: Runtime = connection.app.state.runtime
    peer = connection.client.host if connection.client else None
    return client_ip(peer, connection.headers.get("x-forwarded-for"), runtime.config.server.trusted_proxies)


async def _revoked(connection: ASGIConnection, session: str) -> bool:
    runtime: Runtime = connection.app.state.runtime
    assert runtime.listing is not None  # the console is mounted only over a store that lists conversations
    return await runtime.listing.revoked(Keys.sign_in_of(session)[0])
