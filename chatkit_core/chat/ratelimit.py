"""What a rate limiter implements."""

from __future__ import annotations

import time
from typing import ClassVar

import msgspec

from chatkit_core.chat.health import Health


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
