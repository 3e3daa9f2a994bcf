"""What a rate limiter implements, and how the client's address is found."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Sequence
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


class SessionCap:
    """Without a rate limiter: at most ``per_minute`` new sessions per client address and minute.

    One process's memory only holds the current minute's counts, so it stays small.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.minute = 0
        self.counts: dict[str, int] = {}

    def hit(self, ip: str, now: float | None = None) -> int:
        """0 when allowed, else whole seconds until the next minute."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        if minute != self.minute:
            self.minute, self.counts = minute, {}
        if self.counts.get(ip, 0) >= self.per_minute:
            return max(1, 60 - int(now % 60))
        self.counts[ip] = self.counts.get(ip, 0) + 1
        return 0


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
