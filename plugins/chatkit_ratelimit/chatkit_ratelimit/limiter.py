"""The ``limits`` rate limiter: per-IP limits on every limited route, per-session on chat."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import structlog
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError
from limits.util import WindowStats

from chatkit_core.chat.health import Health
from chatkit_core.chat.ratelimit import Decision, LimiterUnavailable, RateLimiter
from chatkit_ratelimit.headers import Policy, policy_header, policy_name, seconds_until, state_header
from chatkit_ratelimit.locks import KeyLocks
from chatkit_ratelimit.options import LimitsOptions, parse_limits
from chatkit_ratelimit.storage import open_storage

if TYPE_CHECKING:
    from chatkit_ratelimit.window import MovingWindows

log = structlog.get_logger("chatkit.ratelimit")
T = TypeVar("T")

STRATEGIES: dict[str, type[MovingWindowRateLimiter | SlidingWindowCounterRateLimiter | FixedWindowRateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "sliding-window": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}


class Check(NamedTuple):
    """One limit applied to one client: the policy and the key it is counted under."""

    policy: Policy
    identifiers: tuple[str, str, str]


class LimitsLimiter(RateLimiter):
    """Counts requests in ``limits`` storage; a request passes only if every limit has room.

    All limits are checked before any is spent, under a per-key lock, so inside one process
    a refused request costs nothing. Across processes sharing Redis each spend is atomic, so
    a limit never admits more than its quota; a request that loses a race for the last unit
    between check and spend is refused but may have spent a unit of its other limits.
    """

    Options = LimitsOptions
    options: LimitsOptions

    def __init__(self, options: LimitsOptions) -> None:
        super().__init__(options)
        self._policies = {
            scope: [Policy(policy_name(scope, item), item) for item in parse_limits(f"per_{scope}", texts)]
            for scope, texts in (("ip", options.per_ip), ("session", options.per_session))
        }
        self._storage, self._pool = open_storage(
            options.storage, options.key_prefix, options.timeout, options.max_connections
        )
        self._strategy = STRATEGIES[options.strategy](self._storage)
        self._windows: MovingWindows | None = None
        """Redis moving windows: all checked and spent in one script, one round trip."""
        if self._pool is not None and options.strategy == "moving-window":
            from chatkit_ratelimit.window import MovingWindows  # redis-py loads only for Redis storage

            self._windows = MovingWindows(self._pool, options.key_prefix)
        self._locks = KeyLocks()
        self._outage: str | None = None
        """Why the storage failed, while it is failing."""

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, route: str, ip: str, session_id: str | None = None) -> Decision | None:
        cost = self.options.routes.get(route)
        checks = self._checks(ip, session_id)
        if cost is None or not checks:
            return None
        try:
            async with self._locks.hold(check.identifiers for check in checks):
                decision = await self._decide(checks, cost)
        except StorageError as error:
            return self._storage_failed(error)
        self._storage_back()
        return decision

    async def health(self) -> Health:
        if await self._storage.check():
            self._storage_back()
            return Health("up")
        self._outage = self._outage or "no answer to PING"
        return Health("down", f"rate limit storage unreachable ({self._outage})")

    def _checks(self, ip: str, session_id: str | None) -> list[Check]:
        # Strategies keep different data under a key, so each has its own keys: changing
        # the strategy (even mid rolling deploy) never meets another strategy's data.
        strategy = self.options.strategy
        client = client_key(ip, self.options.ipv6_prefix)
        checks = [Check(policy, (strategy, "ip", client)) for policy in self._policies["ip"]]
        if session_id is not None:
            # The session id is the conversation's secret; storage only ever sees a digest.
            digest = hashlib.blake2b(session_id.encode(), digest_size=16).hexdigest()
            checks += [Check(policy, (strategy, "session", digest)) for policy in self._policies["session"]]
        return checks

    async def _decide(self, checks: Sequence[Check], cost: int) -> Decision:
        if self._windows is not None:
            now = time.time()
            allowed, stats = await self._windows.spend([(c.policy.item, c.identifiers) for c in checks], cost, now)
            if not allowed:
                return self._refusal(checks, stats, cost)
            return Decision(allowed=True, headers=self._headers(checks, stats, now))
        before = await self._stats(checks)
        if any(stats.remaining < cost for stats in before):
            return self._refusal(checks, before, cost)
        spent = await self._all(self._strategy.hit(c.policy.item, *c.identifiers, cost=cost) for c in checks)
        if not all(spent):  # another process took the last unit between the check and the spend
            return self._refusal(checks, await self._stats(checks), cost)
        return Decision(allowed=True, headers=self._headers(checks, await self._stats(checks)))

    async def _stats(self, checks: Sequence[Check]) -> list[WindowStats]:
        return await self._all(self._strategy.get_window_stats(c.policy.item, *c.identifiers) for c in checks)

    async def _all(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        """Every call's result: concurrently over Redis; one after another in memory, where
        nothing waits and a task per call would cost more than the call."""
        if self._pool is not None:
            return list(await asyncio.gather(*calls))
        return [await call for call in calls]

    def _refusal(self, checks: Sequence[Check], stats: Sequence[WindowStats], cost: int) -> Decision:
        now = time.time()
        waits = [seconds_until(s.reset_time, now) for s in stats if s.remaining < cost]
        return Decision(allowed=False, retry_after=max([1, *waits]), headers=self._headers(checks, stats, now))

    def _headers(self, checks: Sequence[Check], stats: Sequence[WindowStats], now: float | None = None
                 ) -> dict[str, str]:
        policies = [check.policy for check in checks]
        return {
            "RateLimit-Policy": policy_header(policies),
            "RateLimit": state_header(policies, stats, time.time() if now is None else now),
        }

    def _storage_failed(self, error: StorageError) -> Decision:
        cause = error.storage_error
        if self._outage is None:
            log.warning("rate_limit_storage_unreachable", error=str(cause) or repr(cause),
                        on_storage_error=self.options.on_storage_error)
        # /health is public: name the failure, keep addresses for the logs.
        self._outage = type(cause).__name__
        if self.options.on_storage_error == "closed":
            raise LimiterUnavailable(f"rate limit storage unreachable ({self._outage})") from error
        return Decision(allowed=True)

    def _storage_back(self) -> None:
        if self._outage is not None:
            log.info("rate_limit_storage_recovered")
            self._outage = None


@functools.lru_cache(maxsize=4096)  # parsing an address costs more than the rest of the key
def client_key(ip: str, ipv6_prefix: int) -> str:
    """What a client is counted under: its IPv4 address, or its IPv6 network.

    An IPv6 host usually has a whole /64 to pick addresses from, so counting single
    addresses would let it step around every limit. IPv4-mapped addresses count as IPv4.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)
