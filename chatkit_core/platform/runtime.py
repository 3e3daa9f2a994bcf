"""The running pieces a config asks for, built once (:func:`~chatkit_core.platform.assembly.
build_runtime`) and shared by ``chatkit serve``, every CLI command and the tests."""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from chatkit_core.chat.answer_cache import CachedAnswers
from chatkit_core.chat.chain import Chain
from chatkit_core.chat.experiments import Experiments
from chatkit_core.chat.handoff import HandoffDesk
from chatkit_core.chat.health import ProbeCache
from chatkit_core.chat.knowledge import Knowledge
from chatkit_core.chat.listing import Listing
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import Provider
from chatkit_core.chat.ratelimit import RateLimiter
from chatkit_core.chat.sanitize import Sanitizers
from chatkit_core.chat.sessions import SessionStore
from chatkit_core.chat.turn import Conversation
from chatkit_core.chat.uploads import Uploads
from chatkit_core.platform.config import Config, ConfigError

log = structlog.get_logger("chatkit.runtime")


@dataclass(kw_only=True)
class Runtime:
    """Built without opening a connection; :meth:`start` opens them and :meth:`close` closes them."""

    config: Config
    providers: list[Provider]
    provider_types: dict[str, str]
    """Each provider's name and the type it was built from."""
    store: SessionStore
    store_type: str
    limiter: RateLimiter | None
    limiter_type: str
    sanitizers: Sanitizers
    sanitizer_names: list[str]
    middleware: list[tuple[str, Any]]
    """Named middleware, outermost first, as the HTTP app installs it."""
    knowledge: Knowledge | None
    cache: CachedAnswers | None
    chain: Chain
    metrics: Metrics
    conversation: Conversation
    experiments: Experiments
    """Every ``[experiments.NAME]``, its variants' pieces built (empty without experiments)."""
    handoff: HandoffDesk | None = None
    """Talking to a person (``[handoff] enabled``)."""
    uploads: Uploads | None = None
    """Visitors' attachments (``[uploads] enabled``)."""
    warnings: list[str] = field(default_factory=list)
    probes: ProbeCache = field(default_factory=ProbeCache)
    started: float = field(default_factory=time.monotonic)

    @property
    def listing(self) -> Listing | None:
        """The store's listing and search for the console, when it has them."""
        return self.store if isinstance(self.store, Listing) else None

    def parts(self) -> list[Any]:
        """What opens connections, in the order it starts (and the reverse of how it closes)."""
        optional = [part for part in (self.limiter, self.knowledge and self.knowledge.retriever, self.cache,
                                      self.chain.slot_store) if part]
        variants = [p for p in self.experiments.providers() if p not in self.providers]  # their own options
        extras = [part for part in (self.handoff, self.uploads) if part]
        return [*self.providers, *variants, self.store, *optional, *extras]

    async def start(self) -> None:
        for part in self.parts():
            await part.start()

    async def close(self) -> None:
        for part in reversed(self.parts()):
            try:
                await part.close()
            except Exception:  # one failing close must not keep the others open
                log.exception("close_failed", part=type(part).__name__)

    async def try_start(self) -> None:
        """Start and close again everything that opens connections or files but the providers (whose
        servers ``config check --probe`` asks), so that a part that cannot start fails here, in one
        line naming its key and the reason, rather than when serving."""
        knowledge = self.knowledge
        parts: list[tuple[str, str, Any]] = [
            ("sessions", self.store_type, self.store), ("rate_limit", self.limiter_type, self.limiter),
            ("knowledge", knowledge.type_name if knowledge else "", knowledge.retriever if knowledge else None),
            ("cache", self.cache.type_name if self.cache else "", self.cache)]
        for key, type_name, part in parts:
            if part is None:
                continue
            try:
                await part.start()
            except Exception as error:
                reason = traceback.format_exception_only(error)[-1].strip()
                raise ConfigError(f"{key}: the {type_name} {key.replace('_', ' ')} could not start: {reason}") from None
            finally:
                with contextlib.suppress(Exception):
                    await part.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        await self.start()
        try:
            yield self
        finally:
            await self.close()
