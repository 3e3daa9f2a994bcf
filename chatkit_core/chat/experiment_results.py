"""What each experiment variant's conversations came to, counted from the stored conversations
(every answer carries its variant), so results survive restarts, are the same on every instance,
and stay readable once an experiment has ended.

Rates come with a 95% Wilson score interval; below :data:`MIN_SAMPLE` cases a rate is reported
as not enough data yet (docs/operators.md, "Experiments").
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

from chatkit_core.chat.experiments import Experiments
from chatkit_core.chat.handoff_store import HandoffStore, conversation_id_of
from chatkit_core.chat.listing import ConversationQuery, Listing
from chatkit_core.chat.sessions import SessionStore
from chatkit_core.models import Message

MIN_SAMPLE = 30
"""Fewest cases (ratings for the share of thumbs up, answers for the other rates) before a rate
and its interval are shown: with fewer, the interval is too wide to tell variants apart."""
MAX_CONVERSATIONS = 10_000
"""The newest stored conversations read; beyond this the results are a sample (said so)."""
MAX_VALUES = 10_000
"""Most first-token times and lengths kept per variant for the percentiles (a uniform sample)."""
Z = 1.959964
"""95% two-sided."""


def wilson(hits: int, n: int, z: float = Z) -> tuple[float, float]:
    """The Wilson score interval of ``hits`` out of ``n`` (``(0, 1)`` for no cases): unlike
    p ± z·se it stays within 0 and 1 and is honest for small samples and rates near 0 or 1."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.n)

    @property
    def enough(self) -> bool:
        return self.n >= MIN_SAMPLE


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


class Sample:
    """A uniform sample of at most ``size`` of the values added (reservoir sampling), so
    percentiles take bounded memory however many answers there are."""

    def __init__(self, size: int = MAX_VALUES) -> None:
        self.size = size
        self.values: list[float] = []
        self.seen = 0
        self._random = random.Random(0)  # the same answers give the same sample

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
        elif (slot := self._random.randrange(self.seen)) < self.size:
            self.values[slot] = value

    def percentile(self, share: float) -> float | None:
        return percentile(self.values, share)


@dataclass
class VariantResult:
    name: str
    weight: int
    conversations: int = 0
    questions: int = 0
    answers: int = 0
    up: int = 0
    down: int = 0
    declined: int = 0
    handoffs: int = 0
    followed_up: int = 0
    """Answers the visitor asked another question after."""
    fallbacks: int = 0
    errors: int = 0
    """Answers cut off, and questions left without an answer (every provider failed)."""
    ttft_ms: Sample = field(default_factory=Sample)
    chars: Sample = field(default_factory=Sample)

    def rates(self) -> dict[str, Rate]:
        return {"up": Rate(self.up, self.up + self.down), "declined": Rate(self.declined, self.answers),
                "followUp": Rate(self.followed_up, self.answers), "fallback": Rate(self.fallbacks, self.answers),
                "error": Rate(self.errors, self.questions), "handoff": Rate(self.handoffs, self.conversations)}


@dataclass
class ExperimentResult:
    name: str
    enabled: bool
    variants: list[VariantResult]

    def apart(self, rate: str) -> dict[str, str]:
        """Variants whose ``rate`` interval lies wholly above (``"higher"``) or below (``"lower"``)
        every other variant's, all with enough data: a difference the data supports."""
        rates = {row.name: row.rates()[rate] for row in self.variants}
        if len(rates) < 2 or not all(r.enough for r in rates.values()):
            return {}
        found = {}
        for name, own in rates.items():
            others = [r.interval for other, r in rates.items() if other != name]
            low, high = own.interval
            if all(low > other_high for _, other_high in others):
                found[name] = "higher"
            elif all(high < other_low for other_low, _ in others):
                found[name] = "lower"
        return found


@dataclass
class Results:
    experiments: list[ExperimentResult]
    conversations: int
    """Stored conversations read."""
    sampled: bool
    """True when there were more than :data:`MAX_CONVERSATIONS`: the newest were read."""
    computed_at: float = field(default_factory=time.time)


async def handed_off(store: SessionStore, session_id: str) -> bool:
    """Whether the visitor asked for a person in this conversation: the handoff record the
    store keeps (stores without handoffs: never)."""
    if not isinstance(store, HandoffStore):
        return False
    record = await store.handoff(conversation_id_of(session_id))
    return record is not None and record.requested_at > 0


async def collect(store: SessionStore, listing: Listing, experiments: Experiments, grounded: bool) -> Results:
    """Every configured experiment's results; ``grounded``: a knowledge base exists (an answer
    without a source is a decline)."""
    rows = {(e.name, v.name): VariantResult(v.name, v.weight) for e in experiments.experiments.values()
            for v in e.variants}
    read, cursor = 0, None
    while read < MAX_CONVERSATIONS:
        page = await listing.list_conversations(ConversationQuery(), cursor=cursor, limit=200)
        for item in page.items:
            messages = await store.messages(item.id)
            read += 1
            if messages:
                _count(messages, rows, grounded, await handed_off(store, item.id))
        if page.next is None:
            break
        cursor = page.next
    results = [ExperimentResult(e.name, e.enabled, [rows[e.name, v.name] for v in e.variants])
               for e in experiments.experiments.values()]
    return Results(results, read, sampled=read >= MAX_CONVERSATIONS and page.next is not None)


def _count(messages: list[Message], rows: dict[tuple[str, str], VariantResult], grounded: bool,
           handoff: bool) -> None:
    tag = next((m.variant for m in messages if m.role == "assistant" and m.variant), None)
    row = rows.get((tag.experiment, tag.name)) if tag else None
    if row is None:  # the base config, or a variant no longer configured
        return
    row.conversations += 1
    row.handoffs += handoff
    last_question = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    for index, message in enumerate(messages):
        following = messages[index + 1] if index + 1 < len(messages) else None
        if message.role == "user":
            row.questions += 1
            # Once a person was asked for, a message may wait for them: not a failed turn.
            row.errors += not handoff and (following is None or following.role != "assistant")
            continue
        if message.role != "assistant":  # a person's reply during a handoff is not the variant's
            continue
        row.answers += 1
        row.followed_up += index < last_question
        row.errors += message.incomplete
        row.declined += grounded and not message.incomplete and not message.sources
        row.fallbacks += bool(message.fallbacks)
        if message.feedback is not None:
            row.up += message.feedback.rating == "up"
            row.down += message.feedback.rating == "down"
        ttft = (message.usage or {}).get("ttftMs")
        if isinstance(ttft, int | float):
            row.ttft_ms.add(float(ttft))
        row.chars.add(len(message.content))


class ResultsCache:
    """One computation at a time: requests that arrive while one runs share its results."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.last: Results | None = None

    async def get(self, store: SessionStore, listing: Listing, experiments: Experiments, grounded: bool) -> Results:
        asked = time.time()
        async with self.lock:
            if self.last is not None and self.last.computed_at >= asked:
                return self.last
            self.last = await collect(store, listing, experiments, grounded)
            return self.last
