"""Building limiters the way the core does: a ``[rate_limit]`` table decoded into options."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import msgspec
from chatkit_ratelimit import LimitsLimiter, LimitsOptions


@contextlib.asynccontextmanager
async def limiter(**table) -> AsyncIterator[LimitsLimiter]:
    instance = LimitsLimiter(msgspec.convert({"type": "limits", **table}, LimitsOptions))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


def parse_header(value: str) -> dict[str, dict[str, int]]:
    """``"name";a=1;b=2, ...`` (a structured-field list) as ``{name: {a: 1, b: 2}}``."""
    items = {}
    for member in value.split(", "):
        name, *params = member.split(";")
        items[msgspec.json.decode(name)] = {key: int(number) for key, number in (p.split("=") for p in params)}
    return items
