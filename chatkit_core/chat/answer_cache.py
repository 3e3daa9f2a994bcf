"""Answers given again from a cache, without a model call.

A conversation's first question that matches one answered recently, once normalised
(:func:`normalise`), under the same system prompt, knowledge index version, provider chain
and locale, gets the stored answer back. A cache type (hook ``register_answer_caches``)
keeps opaque bytes under opaque keys for ``ttl``; :class:`CachedAnswers` decides what is
asked and stored and makes an outage a miss: a chat never fails because of the cache.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any, ClassVar

import msgspec
import structlog

from chatkit_core.chat.health import Health
from chatkit_core.chat.knowledge import Knowledge
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import ChatRequest, Provider
from chatkit_core.durations import parse_duration
from chatkit_core.models import Message, Source, VariantTag, new_message_id, now_rfc3339

log = structlog.get_logger("chatkit.answer_cache")


class CacheOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys of ``[cache]``. Cache types subclass this for their own keys."""

    enabled: bool = False
    type: str = "memory"
    ttl: str | float = "1h"
    """How long an answer is given again."""
    max_entries: int = 10000
    """Most answers kept; the least recently used go first."""

    def __post_init__(self) -> None:
        try:
            parse_duration(self.ttl)
        except ValueError as error:
            raise ValueError(f"ttl: {error}") from None
        if self.max_entries < 1:
            raise ValueError("max_entries must be at least 1")

    @property
    def ttl_seconds(self) -> float:
        return parse_duration(self.ttl)


class AnswerCache:
    """Base class for answer cache types: bytes under a key, for ``options.ttl_seconds``.

    Methods may raise anything when the backing service is down; the core counts it as a
    miss, logs it once and shows it in ``/health``.
    """

    Options: ClassVar[type[CacheOptions]] = CacheOptions

    def __init__(self, options: CacheOptions) -> None:
        self.options = options
        self.ttl = options.ttl_seconds

    async def start(self) -> None:
        """Open connections. Runs once at app start-up."""

    async def close(self) -> None:
        """Close connections. Runs once at app shutdown."""

    async def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    async def set(self, key: str, value: bytes) -> None:
        raise NotImplementedError

    async def clear(self) -> None:
        """Forget every answer (the knowledge index changed)."""
        raise NotImplementedError

    async def health(self) -> Health:
        return Health("up")


class Entry(msgspec.Struct, array_like=True):
    """What is kept of an answer: enough to give it again."""

    content: str
    provider: str | None
    model: str | None
    sources: list[Source]

    def message(self) -> Message:
        """The answer given again, as a new message of the conversation."""
        return Message(id=new_message_id(), role="assistant", content=self.content, created_at=now_rfc3339(),
                       provider=self.provider, model=self.model, sources=self.sources, cached=True)


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Entry).decode


_FORMAT = "plain-text"
"""Part of every key: answers cached by 0.2 (text HTML-escaped) are never given again."""


def normalise(question: str) -> str:
    """The question as matched: NFKC, case-folded, whitespace collapsed, trailing punctuation dropped."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1])[0] == "P"):
        end -= 1
    return text[:end]


class CachedAnswers:
    """The configured cache, used safely: keyed, bounded to first questions, failures as misses."""

    def __init__(self, cache: AnswerCache, type_name: str, system_prompt: str, providers: list[Provider],
                 knowledge: Knowledge | None, history: int, metrics: Metrics | None = None,
                 variant: VariantTag | None = None) -> None:
        self.cache = cache
        # With one message of history every question looks like a first one: cache nothing.
        self.history = history
        self.type_name = type_name
        self.knowledge = knowledge
        self.metrics = metrics
        # What never changes while the app runs, hashed once; an experiment variant's answers are its own.
        fixed: list[Any] = [_FORMAT, system_prompt, [(p.name, p.model) for p in providers]]
        if variant is not None:
            fixed.append([variant.experiment, variant.name])
        self._fixed = hashlib.blake2b(msgspec.json.encode(fixed), digest_size=16).digest()
        self._version: str | None = None
        self.failure: str | None = None
        """Why the last call failed, until one succeeds again (``/health`` shows it)."""

    async def start(self) -> None:
        await self._safely(self.cache.start())

    async def close(self) -> None:
        await self.cache.close()

    def key(self, request: ChatRequest) -> str | None:
        """The key of ``request``'s answer; None when it must not be cached: not the first
        question of its conversation, one with attachments, or retrieval found nothing (or failed)."""
        asked = [m for m in request.messages if m.role != "system"]
        if len(asked) != 1 or asked[0].role != "user" or self.history < 2 or request.attachments:
            return None
        version = ""
        if self.knowledge is not None:
            if not request.passages:
                return None
            version = self.knowledge.retriever.version()
        question = normalise(asked[0].content)
        parts = msgspec.json.encode([version, request.locale.casefold().replace("_", "-"), question])
        return hashlib.blake2b(self._fixed + parts, digest_size=16).hexdigest() + ":" + version

    async def lookup(self, request: ChatRequest) -> tuple[str | None, Message | None]:
        """``request``'s key (None when it must not be cached) and the answer cached under it, if any."""
        key = self.key(request)
        entry = await self.get(key) if key is not None else None
        return key, entry.message() if entry is not None else None

    async def get(self, key: str) -> Entry | None:
        version = key.rpartition(":")[2]
        if self._version is not None and version != self._version:
            log.info("answer_cache_cleared", reason="knowledge index changed")
            await self._safely(self.cache.clear())
        self._version = version
        found = await self._safely(self.cache.get(key))
        self._count("hit" if found else "miss")
        if not found:
            return None
        try:
            return _decode(found)
        except msgspec.DecodeError:  # written by another version: a miss
            return None

    async def put(self, key: str, message: Message) -> None:
        """Keep a whole answer; an incomplete or truncated one is never given again."""
        if message.incomplete or message.truncated or not message.content:
            return
        entry = Entry(message.content, message.provider, message.model, message.sources)
        if await self._safely(self.cache.set(key, _encode(entry)), True):
            self._count("store")

    async def health(self) -> Health:
        if self.failure:
            return Health("down", self.failure)
        try:
            return await self.cache.health()
        except Exception as error:
            return Health("down", type(error).__name__)

    async def _safely(self, call: Any, done: Any = None) -> Any:
        try:
            result = await call
        except Exception as error:  # an outage is a miss; logged once until it ends
            if self.failure is None:
                log.error("answer_cache_unavailable", cache=self.type_name, error=str(error) or repr(error))
            self.failure = type(error).__name__
            return None
        if self.failure is not None:
            log.info("answer_cache_recovered", cache=self.type_name)
            self.failure = None
        return done if done is not None else result

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.cached(result)
