"""Operations routes: /health and /metrics."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from chatkit_core import __version__
from chatkit_core.chat.health import Health, probe
from chatkit_core.platform.runtime import Runtime


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@get("/health", summary="Liveness and the status of each provider", cache=False)
async def health(runtime: NamedDependency[Runtime]) -> dict[str, Any]:
    probes = await runtime.probes.get(runtime.providers)
    providers = []
    for provider, checked in zip(runtime.providers, probes, strict=True):
        status = (runtime.chain.status(provider.name) or checked).status
        providers.append({"name": provider.name, "type": runtime.provider_types[provider.name],
                          "status": status})
    store = await probe(runtime.store)
    limiter = await probe(runtime.limiter) if runtime.limiter else Health("up")
    knowledge = runtime.knowledge
    index = await knowledge.health() if knowledge else None
    cache = await runtime.cache.health() if runtime.cache else None
    healthy = (store.status == "up" and limiter.status == "up" and (index is None or index.status == "up")
               and (cache is None or cache.status == "up") and all(p["status"] in ("up", "unknown") for p in providers))
    extra = {"knowledge": {"type": knowledge.type_name, "status": index.status, "detail": index.detail}
             } if knowledge and index else {}
    if runtime.cache and cache:
        extra["answerCache"] = {"type": runtime.cache.type_name, "status": cache.status, "detail": cache.detail}
    return {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "uptime": round(time.monotonic() - runtime.started, 3),
        "memory": {"rss": rss_bytes()},
        "providers": providers,
        "sessions": {"store": runtime.store_type, "status": store.status, "detail": store.detail},
        "rateLimit": {"type": runtime.limiter_type, "status": limiter.status, "detail": limiter.detail},
        **extra,
    }


@get("/metrics", summary="Prometheus metrics", cache=False, media_type="text/plain; version=0.0.4")
async def metrics(runtime: NamedDependency[Runtime]) -> Response[bytes]:
    with contextlib.suppress(Exception):  # metrics must still render while the store is down
        runtime.metrics.active_sessions.set(await runtime.store.count())
    return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")


HANDLERS = [health, metrics]
