"""Experiments: A/B variants of the system prompt, the chain, provider options and retrieval
settings, each conversation in one variant for its whole life.

Each ``[experiments.NAME.variants.VARIANT]`` table becomes a :class:`Variant` holding the pieces
its turns use (a chain, a system prompt, knowledge options, an answer cache), built once at
start-up by :mod:`chatkit_core.platform.variants`. A conversation's first turn is assigned a
variant of the running experiment by a stable hash of its session id and the experiment's name
over the weights; every answer records it (``Message.variant``) and later turns read it back
from the history, so changing the weights or ending the experiment (``enabled = false``) never
moves a conversation that has been answered to another variant. What each variant's turns come
to is counted in ``/metrics`` here, under the config's names only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import msgspec
import structlog

from chatkit_core.chat.answer_cache import CachedAnswers
from chatkit_core.chat.chain import Chain
from chatkit_core.chat.knowledge import RetrieverOptions
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import Provider
from chatkit_core.models import Message, VariantTag

log = structlog.get_logger("chatkit.experiments")


class Variant:
    """One arm of an experiment: the pieces its turns use instead of the base config's."""

    def __init__(self, experiment: str, name: str, weight: int, *, chain: Chain, system_prompt: str,
                 knowledge: RetrieverOptions | None, cache: CachedAnswers | None, changes: list[str]) -> None:
        self.tag = VariantTag(experiment, name)
        self.weight = weight
        self.chain = chain
        self.system_prompt = system_prompt
        self.knowledge = knowledge
        """Retrieval settings (``top_k``, ``min_score``…); None without a knowledge base."""
        self.cache = cache
        """The answer cache under this variant's own keys; None when the cache is off."""
        self.changes = changes
        """The config keys the variant overrides, for ``config check``."""

    @property
    def experiment(self) -> str:
        return self.tag.experiment

    @property
    def name(self) -> str:
        return self.tag.name


def named(variant: Variant | None) -> dict[str, str]:
    """A variant's names for a log line; nothing outside experiments."""
    return {"experiment": variant.experiment, "variant": variant.name} if variant else {}


def bucket(experiment: str, session_id: str, total: int) -> int:
    """A number in ``[0, total)``, the same for a session and experiment in every process and
    release (BLAKE2b, not Python's salted ``hash``), uniform over session ids."""
    digest = hashlib.blake2b(f"{experiment}\x00{session_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % total


class Experiment:
    def __init__(self, name: str, enabled: bool, variants: list[Variant]) -> None:
        self.name = name
        self.enabled = enabled
        """False once ended: no new conversation joins it, running ones keep their variant."""
        self.variants = variants
        self.total = sum(variant.weight for variant in variants)

    def assign(self, session_id: str) -> Variant | None:
        """The variant of a new conversation; None (the base config) when the experiment has ended."""
        if not self.enabled or self.total == 0:
            return None
        point = bucket(self.name, session_id, self.total)
        for variant in self.variants:
            if point < variant.weight:
                return variant
            point -= variant.weight
        raise AssertionError("bucket() is below the total weight")


def _last_answer(messages: list[Message]) -> Message | None:
    return next((m for m in reversed(messages) if m.role == "assistant"), None)


class Experiments:
    """Every configured experiment (at most one running), and the outcomes of their variants."""

    def __init__(self, experiments: list[Experiment], metrics: Metrics) -> None:
        self.experiments = {experiment.name: experiment for experiment in experiments}
        self.metrics = metrics
        self.running = next((experiment for experiment in experiments if experiment.enabled), None)
        metrics.variants([(v.experiment, v.name) for e in experiments for v in e.variants])

    def find(self, tag: VariantTag | msgspec.UnsetType | None) -> Variant | None:
        """The configured variant ``tag`` names; None for none, or for one no longer in the config."""
        if not isinstance(tag, VariantTag):
            return None
        experiment = self.experiments.get(tag.experiment)
        found = next((v for v in experiment.variants if v.name == tag.name), None) if experiment else None
        if found is None:
            log.warning("variant_gone", experiment=tag.experiment[:64], variant=tag.name[:64])
        return found

    def providers(self) -> list[Provider]:
        """Every provider a variant's chain uses, each once."""
        found = {id(p): p for e in self.experiments.values() for v in e.variants for p in v.chain.providers}
        return list(found.values())

    async def turn(self, session_id: str, recent: list[Message], window: int,
                   everything: Callable[[], Awaitable[list[Message] | None]]) -> Variant | None:
        """The variant this turn is answered in: the one of the conversation's answers, else (nothing
        answered yet) one assigned now. ``recent`` is the history up to the new question, at most
        ``window`` messages; ``everything`` reads the whole conversation, asked only when answers
        may lie before the window."""
        if not self.experiments:
            return None
        answer = _last_answer(recent)
        if answer is None and len(recent) >= window:
            answer = _last_answer(await everything() or [])
        if answer is None:
            return self.running.assign(session_id) if self.running else None
        variant = self.find(answer.variant)
        if variant is not None and len(recent) > 1 and recent[-2] is answer:
            self.metrics.variant_outcome(variant.experiment, variant.name, "follow_up")
        return variant

    # Outcomes, in /metrics

    def answered(self, variant: Variant | None, message: Message, grounded: bool) -> None:
        """A stored answer; ``grounded``: a knowledge base exists, so no source means a decline."""
        if variant is None:
            return
        experiment, name = variant.experiment, variant.name
        ttft = (message.usage or {}).get("ttftMs")
        self.metrics.variant_answer(experiment, name, len(message.content),
                                    float(ttft) if isinstance(ttft, int | float) else None)
        if message.incomplete:
            self.metrics.variant_outcome(experiment, name, "error")
        elif grounded and not message.sources:
            self.metrics.variant_outcome(experiment, name, "declined")
        if message.fallbacks:
            self.metrics.variant_outcome(experiment, name, "fallback")

    def failed(self, variant: Variant | None) -> None:
        """A turn that ended with no answer at all (every provider failed)."""
        if variant is not None:
            self.metrics.variant_outcome(variant.experiment, variant.name, "error")

    def rated(self, message: Message, rating: str) -> None:
        """A first rating of an answer, counted for the configured variant it names."""
        variant = self.find(message.variant)
        if variant is not None:
            self.metrics.variant_rating(variant.experiment, variant.name, rating)

    def handoff(self, messages: list[Message]) -> None:
        """The hook for handing a conversation to a person: the handoff feature calls it (through
        :meth:`chatkit_core.chat.turn.Conversation.handoff_asked`) when a visitor asks for one."""
        answer = _last_answer(messages)
        variant = self.find(answer.variant) if answer is not None else None
        if variant is not None:
            self.metrics.variant_outcome(variant.experiment, variant.name, "handoff")
