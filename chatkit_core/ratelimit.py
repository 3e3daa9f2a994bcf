"""What a rate limiter implements, and how the client's address is found."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

import msgspec

from chatkit_core.health import Health


class RateLimitOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys of ``[rate_limit]``. Limiter types subclass this for their own keys."""

    type: str = ""
    storage: str = "memory://"
    per_ip: list[str] = msgspec.field(default_factory=lambda: ["60/minute", "1000/hour"])
    per_session: list[str] = msgspec.field(default_factory=lambda: ["20/minute", "300/hour"])


class Decision(msgspec.Struct, kw_only=True):
    """A limiter's answer for one request.

    ``headers`` go on the response whether allowed or not (``RateLimit``,
    ``RateLimit-Policy``); ``retry_after`` is whole seconds until a refused request may
    succeed.
    """

    allowed: bool
    retry_after: int = 0
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class LimiterUnavailable(Exception):
    """The limiter's storage is down and the limiter is set to fail closed."""


class RateLimiter:
    """Base class for rate limiter types.

    ``hit`` is called once per limited request: ``route`` is ``"create-session"`` or
    ``"chat"``, ``ip`` the client address (already resolved through trusted proxies), and
    ``session_id`` the conversation for chat requests. It returns None for routes it does
    not limit.
    """

    Options: ClassVar[type[RateLimitOptions]] = RateLimitOptions

    def __init__(self, options: RateLimitOptions) -> None:
        self.options = options

    async def start(self) -> None:
        """Open storage connections. Runs once at app start-up."""

    async def close(self) -> None:
        """Close storage connections. Runs once at app shutdown."""

    async def hit(self, route: str, ip: str, session_id: str | None = None) -> Decision | None:
        raise NotImplementedError

    async def health(self) -> Health:
        return Health("up")


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The client's address: the socket peer, unless that peer is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For`` is read right to left and the first hop
    that is not itself trusted is the client, so a visitor cannot choose its address by
    sending the header itself.
    """
    peer = peer or "unknown"
    networks = _networks(tuple(trusted))
    if not forwarded_for or not _is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


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
