"""``RateLimit-Policy`` and ``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers).

Each configured limit is one policy, named by who it counts and its window::

    RateLimit-Policy: "per-ip-minute";q=60;w=60, "per-ip-hour";q=1000;w=3600
    RateLimit: "per-ip-minute";r=12;t=34, "per-ip-hour";r=980;t=3400

``q`` is the quota, ``w`` the window in seconds, ``r`` what is left and ``t`` the seconds
until more becomes available.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from limits import RateLimitItem
from limits.util import WindowStats


class Policy(NamedTuple):
    name: str
    item: RateLimitItem


def policy_name(scope: str, item: RateLimitItem) -> str:
    window = item.GRANULARITY.name
    if item.multiples != 1:
        window = f"{item.multiples}{window}"
    return f"per-{scope}-{window}"


def policy_header(policies: Sequence[Policy]) -> str:
    return ", ".join(f'"{p.name}";q={p.item.amount};w={p.item.get_expiry()}' for p in policies)


def state_header(policies: Sequence[Policy], stats: Sequence[WindowStats], now: float) -> str:
    return ", ".join(
        f'"{p.name}";r={max(0, s.remaining)};t={seconds_until(s.reset_time, now)}'
        for p, s in zip(policies, stats, strict=True)
    )


def seconds_until(moment: float, now: float) -> int:
    """Whole seconds from ``now`` to ``moment``, rounded up so a client never retries early."""
    return max(0, math.ceil(moment - now))
