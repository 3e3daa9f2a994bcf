"""Health status shared by providers, stores and limiters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

Status = Literal["up", "down", "cooldown", "unknown"]


class Health(msgspec.Struct, frozen=True):
    status: Status
    detail: str = ""


PROBE_TIMEOUT = 2.0
PROBE_TTL = 5.0
"""Seconds a provider probe result is reused, so frequent health checks stay cheap."""


async def probe(part: Any) -> Health:
    """``part.health()``, bounded in time; a probe that breaks means the part is down."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            return await part.health()
    except TimeoutError:
        return Health("down", "health probe timed out")
    except Exception as error:  # the part is down, not the app
        return Health("down", type(error).__name__)


class ProbeCache:
    """Provider probes, each reused for ``PROBE_TTL`` seconds, never run twice at once.

    :meth:`forget` drops one provider's result when a request to it failed, so the next
    ``/health`` probes it again instead of repeating a stale ``up``.
    """

    def __init__(self) -> None:
        self.results: dict[str, tuple[float, Health]] = {}
        self.lock = asyncio.Lock()

    async def get(self, parts: Sequence[Any]) -> list[Health]:
        async with self.lock:
            stale = [part for part in parts if not self._fresh(part.name)]
            for part, result in zip(stale, await asyncio.gather(*(probe(part) for part in stale)), strict=True):
                self.results[part.name] = (time.monotonic(), result)
            return [self.results[part.name][1] for part in parts]

    def forget(self, name: str) -> None:
        self.results.pop(name, None)

    def _fresh(self, name: str) -> bool:
        checked = self.results.get(name)
        return checked is not None and time.monotonic() - checked[0] <= PROBE_TTL
