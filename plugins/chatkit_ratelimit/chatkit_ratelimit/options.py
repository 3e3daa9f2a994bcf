"""The ``[rate_limit]`` keys of the ``limits`` limiter, checked when the config loads."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import msgspec
from limits import RateLimitItem, parse_many

from chatkit_core.chat.ratelimit import RateLimitOptions
from chatkit_core.platform.environment import EnvSetter

ROUTES = ("chat", "create-session")
STORAGE_SCHEMES = ("memory", "redis", "rediss", "valkey", "valkeys")
LIMIT_EXAMPLES = '"60/minute", "1000/hour" or "10 per 30 seconds"'


def _per_ip(period: str) -> EnvSetter:
    """``RATE_LIMIT_REQUESTS_PER_MINUTE=N``: the per-IP limit of that window becomes N."""

    def set_limit(table: dict[str, Any], value: str) -> None:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"must be a whole number of requests, got {value!r}")
        kept = [item for item in table.get("per_ip", RateLimitOptions().per_ip) if not item.endswith(f"/{period}")]
        table["per_ip"] = [f"{int(value)}/{period}", *kept]

    return set_limit


class LimitsOptions(RateLimitOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, str | EnvSetter]] = {
        "REDIS_URL": "storage",
        "RATE_LIMIT_REQUESTS_PER_MINUTE": _per_ip("minute"),
        "RATE_LIMIT_REQUESTS_PER_HOUR": _per_ip("hour"),
    }
    strategy: Literal["moving-window", "sliding-window", "fixed-window"] = "moving-window"
    """``moving-window`` is exact; ``sliding-window`` approximates it with two counters per
    limit; ``fixed-window`` is cheapest but admits up to twice a limit across a window edge."""
    on_storage_error: Literal["open", "closed"] = "open"
    """When the storage is unreachable: ``open`` admits requests unlimited, ``closed`` answers 503."""
    routes: dict[str, int] = msgspec.field(default_factory=lambda: {"chat": 1, "create-session": 1})
    """Limited routes and what one request costs; a route left out is not limited."""
    ipv6_prefix: int = 64
    """IPv6 clients are counted per network of this size: one host usually holds a whole /64."""
    key_prefix: str = "chatkit:ratelimit"
    """Prefix of the limiter's keys in Redis, so several deployments can share one server."""
    timeout: float = 0.5
    """Seconds a storage call may take before it counts as a storage error."""
    max_connections: int = 50
    """Redis connections per process; more concurrent requests wait for one."""

    def __post_init__(self) -> None:
        parse_limits("per_ip", self.per_ip)
        parse_limits("per_session", self.per_session)
        check_storage(self.storage)
        for route, cost in self.routes.items():
            if route not in ROUTES:
                raise ValueError(f"routes: unknown route {route!r}; limited routes are {', '.join(ROUTES)}")
            if cost < 1:
                raise ValueError(f"routes: the cost of {route!r} must be at least 1, got {cost}")
        if not 1 <= self.ipv6_prefix <= 128:
            raise ValueError(f"ipv6_prefix must be between 1 and 128, got {self.ipv6_prefix}")
        if self.timeout <= 0 or self.max_connections < 1:
            raise ValueError("timeout must be greater than 0 and max_connections at least 1")


def parse_limits(key: str, texts: list[str]) -> list[RateLimitItem]:
    """Each string as one limit; ``ValueError`` naming ``key`` and the string otherwise."""
    items = [parse_limit(key, text) for text in texts]
    windows = [(item.multiples, item.GRANULARITY.name) for item in items]
    if len(set(windows)) != len(windows):
        raise ValueError(f"{key}: two limits share one window; keep one limit per window")
    return items


def parse_limit(key: str, text: str) -> RateLimitItem:
    try:
        items = parse_many(text)
    except ValueError:
        items = []
    if len(items) != 1 or items[0].amount < 1:
        quoted = msgspec.json.encode(text).decode()
        raise ValueError(f"{key}: {quoted} is not a rate limit; write one limit per string, like {LIMIT_EXAMPLES}")
    return items[0]


def check_storage(storage: str) -> None:
    scheme = urlsplit(storage).scheme
    if scheme not in STORAGE_SCHEMES:
        # Only the scheme is echoed: the URL may hold a password.
        got = f"{scheme}://" if scheme else "a URL without a scheme"
        raise ValueError(f"storage: {got} is not a supported storage; use \"memory://\", "
                         "\"redis://HOST:PORT/DB\" (\"rediss://\" for TLS) or \"valkey://HOST:PORT/DB\"")
