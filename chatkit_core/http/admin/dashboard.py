"""The dashboard's numbers for a period, computed from stored conversations, and the
geometry of its server-side SVG charts."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from chatkit_core.chat.listing import ConversationQuery, Listing
from chatkit_core.chat.sessions import SessionStore
from chatkit_core.models import Message

PERIODS = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
MAX_CONVERSATIONS = 2000
"""The newest conversations of the period that the dashboard reads; beyond this it samples."""


@dataclass
class ProviderRow:
    name: str
    answers: int = 0
    failures: int = 0
    fell_back: int = 0
    incomplete: int = 0
    ttft_ms: list[float] = field(default_factory=list)

    @property
    def failure_rate(self) -> float:
        tried = self.answers + self.failures
        return self.failures / tried if tried else 0.0

    @property
    def fallback_rate(self) -> float:
        return self.fell_back / self.answers if self.answers else 0.0

    def ttft(self, percentile: float) -> float | None:
        return _percentile(self.ttft_ms, percentile)


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass
class Stats:
    period: str
    since: float
    until: float
    conversations: int = 0
    sampled: bool = False
    buckets: list[tuple[float, int]] = field(default_factory=list)
    bucket_seconds: int = 3600
    providers: list[ProviderRow] = field(default_factory=list)
    up: int = 0
    down: int = 0
    unanswered: list[tuple[str, int]] = field(default_factory=list)

    @property
    def feedback_ratio(self) -> float | None:
        return self.up / (self.up + self.down) if self.up + self.down else None


async def collect(store: SessionStore, listing: Listing, period: str, knowledge: bool,
                  now: float | None = None) -> Stats:
    until = now or time.time()
    since = until - PERIODS[period]
    stats = Stats(period=period, since=since, until=until, bucket_seconds=3600 if PERIODS[period] <= 86400 else 86400)
    starts: list[float] = []
    providers: dict[str, ProviderRow] = {}
    unanswered: Counter[str] = Counter()
    cursor = None
    while len(starts) < MAX_CONVERSATIONS:
        page = await listing.list_conversations(ConversationQuery(since=since, until=until), cursor=cursor, limit=200)
        for item in page.items:
            messages = await store.messages(item.id)
            if messages is None:
                continue
            starts.append(item.created_at)
            _count(messages, providers, stats, unanswered, knowledge)
        if page.next is None:
            break
        cursor = page.next
    stats.sampled = len(starts) >= MAX_CONVERSATIONS
    stats.conversations = len(starts)
    stats.buckets = _buckets(starts, since, until, stats.bucket_seconds)
    stats.providers = sorted(providers.values(), key=lambda row: row.name)
    stats.unanswered = unanswered.most_common(10)
    return stats


def _count(messages: list[Message], providers: dict[str, ProviderRow], stats: Stats, unanswered: Counter[str],
           knowledge: bool) -> None:
    for index, message in enumerate(messages):
        if message.role == "user":
            reply = messages[index + 1] if index + 1 < len(messages) else None
            if reply is None or reply.role != "assistant" or reply.incomplete or (knowledge and not reply.sources):
                unanswered[_question(message.content)] += 1
            continue
        if message.role != "assistant":  # an operator's reply is no provider's answer
            continue
        for failed in message.fallbacks:
            name = failed.split(":", 1)[0]
            providers.setdefault(name, ProviderRow(name)).failures += 1
        row = providers.setdefault(message.provider or "none", ProviderRow(message.provider or "none"))
        row.answers += 1
        row.fell_back += bool(message.fallbacks)
        row.incomplete += message.incomplete
        ttft = (message.usage or {}).get("ttftMs")
        if isinstance(ttft, int | float):
            row.ttft_ms.append(float(ttft))
        if message.feedback is not None:
            stats.up += message.feedback.rating == "up"
            stats.down += message.feedback.rating == "down"


def _question(content: str) -> str:
    """Questions that differ only in case, spacing or end punctuation count as one."""
    return re.sub(r"\s+", " ", content).strip().rstrip("?!.").lower()[:200]


def _buckets(starts: list[float], since: float, until: float, size: int) -> list[tuple[float, int]]:
    first = math.floor(since / size) * size
    counts = Counter(int((start - first) // size) for start in starts)
    return [(first + index * size, counts.get(index, 0)) for index in range(math.ceil((until - first) / size))]


def _percentile(values: list[float], percentile: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(percentile / 100 * len(ordered)) - 1)
    return ordered[rank]


def column_chart(buckets: list[tuple[float, int]], width: float = 720, height: float = 160) -> list[Bar]:
    """One column per bucket, scaled to the busiest."""
    if not buckets:
        return []
    peak = max(count for _, count in buckets) or 1
    step = width / len(buckets)
    return [Bar(x=round(i * step, 2), y=round(height - count / peak * height, 2), width=round(max(step - 1, 1), 2),
                height=round(count / peak * height, 2), label=str(start), value=str(count))
            for i, (start, count) in enumerate(buckets)]


def rate_bars(rows: list[tuple[str, float]], width: float = 260, row_height: float = 22) -> list[Bar]:
    """Horizontal bars for rates between 0 and 1."""
    return [Bar(x=0, y=i * row_height, width=round(max(rate, 0) * width, 2), height=row_height - 6, label=name,
                value=f"{rate:.0%}") for i, (name, rate) in enumerate(rows)]
