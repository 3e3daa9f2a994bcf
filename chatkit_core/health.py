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
    """Provider probes, reused for ``PROBE_TTL`` seconds and never run twice at once."""

    def __init__(self) -> None:
        self.at = 0.0
        self.results: list[Health] = []
        self.lock = asyncio.Lock()

    async def get(self, parts: Sequence[Any]) -> list[Health]:
        async with self.lock:
            if time.monotonic() - self.at > PROBE_TTL or not self.results:
                self.results = list(await asyncio.gather(*(probe(part) for part in parts)))
                self.at = time.monotonic()
            return self.results
