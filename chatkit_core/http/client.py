"""Who is asking: the client's address behind trusted proxies, and the rate-limit guard the
conversation routes run before they do any work."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence

from litestar import Request
from litestar.types import Scope

from chatkit_core.chat.ratelimit import LimiterUnavailable, SessionCap
from chatkit_core.http.errors import APIError
from chatkit_core.http.headers import first_header
from chatkit_core.platform.runtime import Runtime


def _ip(runtime: Runtime, request: Request) -> str:
    peer = request.scope.get("client")
    forwarded = tuple(value.decode("latin-1") for name, value in request.scope["headers"]
                      if name == b"x-forwarded-for")  # read raw: a headers object costs more than the scan
    return _client_ip(peer[0] if peer else None, forwarded, tuple(runtime.config.server.trusted_proxies))


@functools.lru_cache(maxsize=4096)  # parsing addresses costs more than the rest of the rate limit check
def _client_ip(peer: str | None, forwarded: tuple[str, ...], trusted: tuple[str, ...]) -> str:
    return client_ip(peer, forwarded, list(trusted))


async def rate_limit(runtime: Runtime, request: Request, route: str, session_id: str | None = None) -> dict[str, str]:
    limiter = runtime.limiter
    if limiter is None:
        cap: SessionCap | None = request.app.state.get("session_cap")
        if route == "create-session" and cap is not None and (wait := cap.hit(_ip(runtime, request))):
            raise APIError(429, "rate_limited", f"Too many new conversations. Please wait {wait} seconds and try "
                           "again.", headers={"Retry-After": str(wait)}, retryAfter=wait)
        return {}
    try:
        decision = await limiter.hit(route, _ip(runtime, request), session_id)
    except LimiterUnavailable:
        raise APIError(503, "rate_limiter_unavailable", "The service is busy right now. Please try again shortly.",
                       headers={"Retry-After": "5"}) from None
    if decision is None:
        return {}
    if not decision.allowed:
        runtime.metrics.rate_limited.labels(route).inc()
        wait = max(1, decision.retry_after)
        raise APIError(429, "rate_limited", f"You are sending messages too quickly. Please wait {wait} seconds "
                       "and try again.", headers={**decision.headers, "Retry-After": str(wait)}, retryAfter=wait)
    return decision.headers


def client_ip(peer: str | None, forwarded_for: str | Sequence[str] | None, trusted: list[str]) -> str:
    """The client's address: the socket peer, unless that peer is a trusted proxy.

    Behind trusted proxies, every ``X-Forwarded-For`` line (a proxy may add a line of its
    own instead of extending the last) is read as one list, right to left, and the first hop
    that is not itself trusted is the client, so a visitor cannot choose its address by
    sending the header itself. Hops may be written ``ip``, ``ip:port``, ``[v6]:port`` or
    ``v6%zone``; all become the plain address. A hop that is no address at all is taken as
    coming from whoever handed it over (the proxy to its right), so it names no new client.
    """
    peer = parse_address(peer or "") or peer or "unknown"
    networks = _networks(tuple(trusted))
    lines = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for or ())
    if not lines or not _is_trusted(peer, networks):
        return peer
    handed_by = peer
    for hop in reversed([hop for line in lines for hop in line.split(",") if hop.strip()]):
        address = parse_address(hop)
        if address is None:
            return handed_by
        if not _is_trusted(address, networks):
            return address
        handed_by = address
    return handed_by


_HOP = re.compile(r"^\[(?P<bracketed>[^\]]+)\](?::\d{1,5})?$"  # [v6] or [v6]:port
                  r"|^(?P<v4>\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?$"  # v4 or v4:port
                  r"|^(?P<bare>[\w:.%-]+)$")  # v6, perhaps with a %zone


def parse_address(hop: str) -> str | None:
    """The plain IP address in one forwarded hop, or None when it holds none."""
    found = _HOP.match(hop.strip().strip('"'))
    if not found:
        return None
    text = (found["bracketed"] or found["v4"] or found["bare"]).split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


_network_cache: dict[tuple[str, ...], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = {}


def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if trusted not in _network_cache:
        _network_cache[trusted] = tuple(ipaddress.ip_network(item, strict=False) for item in trusted)
    return _network_cache[trusted]


def _is_trusted(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def scheme_of(scope: Scope, trusted: tuple[str, ...]) -> str:
    """``https`` or ``http`` as the visitor's browser sees it: ``X-Forwarded-Proto`` when a trusted
    proxy sent it (TLS ends there), else the connection's own scheme."""
    peer = scope.get("client")
    forwarded = first_header(scope, b"x-forwarded-proto")
    if forwarded is not None and peer and _is_trusted(peer[0], _networks(trusted)):
        proto = forwarded.decode("latin-1").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            return proto
    return str(scope.get("scheme", "http"))


def own_origin(scope: Scope, trusted: tuple[str, ...]) -> str:
    """This server's origin as the request addressed it, to tell a same-origin page from another site."""
    host = (first_header(scope, b"host") or b"").decode("latin-1").strip().lower()
    return f"{scheme_of(scope, trusted)}://{host}"
