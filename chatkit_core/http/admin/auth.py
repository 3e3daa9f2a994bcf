"""Signing in to the console: the token, the session cookie, CSRF tokens, attempt limits.

The cookie holds an expiry time, a random id and an HMAC of both under a key derived from the
admin token, so every backend replica accepts it and changing the token signs everyone out.
Signing out revokes the id in the session store, which every replica shares, until the cookie
would have expired anyway. CSRF tokens are HMACs of the cookie (double submit, bound to the
sign-in); before sign-in, the form carries a random value that must match a short-lived
cookie. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler

from chatkit_core.durations import parse_duration
from chatkit_core.http.client import client_ip, scheme_of
from chatkit_core.platform.runtime import Runtime

SESSION_COOKIE = "chatkit_admin"
LOGIN_COOKIE = "chatkit_admin_login"
COOKIE_PATH = "/admin"


class SignInRequired(Exception):
    """The request has no valid console session."""


class CsrfRefused(Exception):
    """A change without the right CSRF token."""


class Keys:
    def __init__(self, token: str, sign_in_ttl: str | float) -> None:
        self.token = token.encode()
        self.key = hashlib.sha256(b"chatkit-admin-session\x00" + self.token).digest()
        self.ttl = parse_duration(sign_in_ttl)

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token)

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        expires = str(int(time.time() + self.ttl))
        nonce = secrets.token_urlsafe(16)
        return f"{expires}.{nonce}.{self._mac('session', f'{expires}.{nonce}')}"

    @staticmethod
    def sign_in_of(value: str) -> tuple[str, float]:
        """The random id of a valid session cookie, and when it expires."""
        expires, nonce, _ = value.split(".")
        return nonce, float(expires)

    def session_valid(self, value: str | None) -> bool:
        if not value or value.count(".") != 2:
            return False
        expires, nonce, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", f"{expires}.{nonce}")):
            return False
        return expires.isdigit() and int(expires) > time.time()

    def csrf_for(self, session: str) -> str:
        return self._mac("csrf", session)

    def csrf_valid(self, session: str | None, given: str | None) -> bool:
        return bool(session and given) and hmac.compare_digest(str(given), self.csrf_for(str(session)))


def cookie(request: Request, name: str, value: str, max_age: int) -> Cookie:
    """HttpOnly, SameSite=Strict, scoped to the console; Secure over HTTPS (as the visitor's browser
    sees it: ``X-Forwarded-Proto`` from a trusted proxy counts) or with HSTS on."""
    runtime: Runtime = request.app.state.runtime
    server = runtime.config.server
    secure = scheme_of(request.scope, tuple(server.trusted_proxies)) == "https" or server.hsts
    return Cookie(key=name, value=value, path=COOKIE_PATH, max_age=max_age, httponly=True, secure=secure,
                  samesite="strict")


class Attempts:
    """Sign-in attempts per client address in a sliding window, in this process."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def allow(self, client: str) -> float:
        """0 when allowed (and counted), else seconds until the next attempt may be made."""
        now = time.monotonic()
        if len(self._seen) > 10_000:  # forget idle addresses so the map stays bounded
            self._seen = {ip: q for ip, q in self._seen.items() if q and q[-1] > now - self.window}
        attempts = self._seen.setdefault(client, deque())
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        if len(attempts) >= self.limit:
            return attempts[0] + self.window - now
        attempts.append(now)
        return 0.0


    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: it may), without counting a try."""
        attempts = self._seen.get(client)
        now = time.monotonic()
        recent = [t for t in attempts or () if t > now - self.window]
        return recent[0] + self.window - now if len(recent) >= self.limit else 0.0


def client_of(request: Request) -> str:
    runtime: Runtime = request.app.state.runtime
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), runtime.config.server.trusted_proxies)


async def signed_in(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of every console route not marked ``public``: a valid session that was not signed out,
    and on a change a CSRF token bound to it (checked by the handler, which reads the form)."""
    if connection.route_handler.opt.get("public"):
        return
    keys: Keys = connection.app.state.admin_keys
    session = connection.cookies.get(SESSION_COOKIE)
    if not session or not keys.session_valid(session) or await is_revoked(connection, session):
        raise SignInRequired


async def is_revoked(connection: ASGIConnection, session: str) -> bool:
    runtime: Runtime = connection.app.state.runtime
    assert runtime.listing is not None  # the console is mounted only over a store that lists conversations
    return await runtime.listing.revoked(Keys.sign_in_of(session)[0])


async def revoke(request: Request, session: str) -> None:
    """End the sign-in ``session`` for every instance, until it would have expired."""
    runtime: Runtime = request.app.state.runtime
    assert runtime.listing is not None
    sign_in, expires = Keys.sign_in_of(session)
    await runtime.listing.revoke(sign_in, expires)
