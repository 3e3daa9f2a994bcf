"""What request handlers reach through dependency injection: the assembled app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from litestar.datastructures import State

from chatkit_core.answer_cache import CachedAnswers
from chatkit_core.assembly import Components
from chatkit_core.chain import Chain
from chatkit_core.config import Config
from chatkit_core.health import ProbeCache
from chatkit_core.metrics import Metrics
from chatkit_core.sanitize import Sanitizers
from chatkit_core.sessions import SessionStore


@dataclass
class Runtime:
    config: Config
    components: Components
    chain: Chain
    metrics: Metrics
    started: float = field(default_factory=time.monotonic)
    probes: ProbeCache = field(default_factory=ProbeCache)

    def __post_init__(self) -> None:
        # A provider that just failed is probed afresh by the next /health.
        self.chain.failure_listeners.append(self.probes.forget)
        if self.components.cache is not None:
            self.components.cache.metrics = self.metrics

    @property
    def store(self) -> SessionStore:
        return self.components.store

    @property
    def cache(self) -> CachedAnswers | None:
        return self.components.cache

    @property
    def sanitizers(self) -> Sanitizers:
        return self.components.sanitizers


def provide_runtime(state: State) -> Runtime:
    return state.runtime
