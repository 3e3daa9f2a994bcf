"""Operations routes: /health and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from chatkit_core import __version__
from chatkit_core.health import Health
from chatkit_core.runtime import Runtime

PROBE_TIMEOUT = 2.0
PROBE_TTL = 5.0
"""Seconds a provider probe result is reused, so frequent health checks stay cheap."""


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _probe(part: Any) -> Health:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            return await part.health()
    except TimeoutError:
        return Health("down", "health probe timed out")
    except Exception as error:  # a probe that breaks means the part is down, not the app
        return Health("down", type(error).__name__)


class _ProbeCache:
    def __init__(self) -> None:
        self.at = 0.0
        self.results: list[Health] = []
        self.lock = asyncio.Lock()

    async def get(self, runtime: NamedDependency[Runtime]) -> list[Health]:
        async with self.lock:
            if time.monotonic() - self.at > PROBE_TTL or not self.results:
                self.results = list(await asyncio.gather(*(_probe(p) for p in runtime.components.providers)))
                self.at = time.monotonic()
            return self.results


@get("/health", summary="Liveness and the status of each provider", cache=False)
async def health(runtime: NamedDependency[Runtime]) -> dict[str, Any]:
    cache: _ProbeCache = runtime.__dict__.setdefault("probe_cache", _ProbeCache())
    probes = await cache.get(runtime)
    providers = []
    for provider, probe in zip(runtime.components.providers, probes, strict=True):
        status = (runtime.chain.status(provider.name) or probe).status
        providers.append({"name": provider.name, "type": runtime.components.provider_types[provider.name],
                          "status": status})
    store = await _probe(runtime.store)
    limiter = await _probe(runtime.components.limiter) if runtime.components.limiter else Health("up")
    healthy = (store.status == "up" and limiter.status == "up"
               and all(p["status"] in ("up", "unknown") for p in providers))
    return {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "uptime": round(time.monotonic() - runtime.started, 3),
        "memory": {"rss": rss_bytes()},
        "providers": providers,
        "sessions": {"store": runtime.components.store_type, "status": store.status, "detail": store.detail},
        "rateLimit": {"type": runtime.components.limiter_type, "status": limiter.status, "detail": limiter.detail},
    }


@get("/metrics", summary="Prometheus metrics", cache=False, media_type="text/plain; version=0.0.4")
async def metrics(runtime: NamedDependency[Runtime]) -> Response[bytes]:
    with contextlib.suppress(Exception):  # metrics must still render while the store is down
        runtime.metrics.active_sessions.set(await runtime.store.count())
    return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")


HANDLERS = [health, metrics]
