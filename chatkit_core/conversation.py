"""One turn of a conversation, the same for the HTTP API and ``chatkit chat``.

The visitor's text is checked and cleaned, stored before any provider runs, grounded in the
site's passages when a knowledge base is configured, answered through the chain, cleaned and
saved; a first question answered recently gets its answer again from the answer cache
(:mod:`chatkit_core.answer_cache`) without a provider call. :func:`answer` gives the whole
answer at once; :func:`answer_events` streams it as :class:`Opened`, :class:`Delta`…, then
exactly one of :class:`Done` or :class:`Failed` (with the chain's
:class:`~chatkit_core.chain.Queued` before them while a busy provider is awaited).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import msgspec
import structlog

from chatkit_core.answer_cache import Entry
from chatkit_core.chain import ChainFailed, Finished, Queued, Started, StreamBroken
from chatkit_core.errors import APIError, invalid, session_not_found, store_unavailable
from chatkit_core.knowledge import Passage, Source, cited_sources, context_message, search_query
from chatkit_core.providers import ChatMessage, ChatRequest
from chatkit_core.runtime import Runtime
from chatkit_core.sanitize import plain_text
from chatkit_core.sessions import Message, StoreUnavailable, new_message_id, now_rfc3339

log = structlog.get_logger("chatkit.conversation")

_LOCALE = re.compile(r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$")
_WEB_URL = re.compile(r"^(?:https?://[^\s]+|/[^\s]*)$", re.I)


class Opened(msgspec.Struct, frozen=True):
    """The answer began: its id, who gives it, and who failed first (``"name:kind"``)."""

    message_id: str
    provider: str
    model: str
    fallbacks: list[str]


class Delta(msgspec.Struct, frozen=True):
    text: str


class Done(msgspec.Struct, frozen=True):
    message: Message


class Failed(msgspec.Struct, frozen=True):
    """The turn ended without a whole answer; what arrived before is saved, marked incomplete."""

    error: APIError
    fallbacks: list[str] = msgspec.field(default_factory=list)
    """Why each provider did not answer (``"name:kind"``), for operators."""


Event = Queued | Opened | Delta | Done | Failed


def redact(session_id: str) -> str:
    """Enough of a session id to correlate log lines, never enough to use it."""
    return session_id[:6] + "…"


@contextlib.asynccontextmanager
async def store_errors() -> AsyncGenerator[None, None]:
    """A store outage becomes the API's 503 ``store_unavailable``."""
    try:
        yield
    except StoreUnavailable as error:
        log.error("store_unavailable", error=str(error))
        raise store_unavailable() from None


async def ask(runtime: Runtime, session_id: str, text: str, locale: str = "", request_id: str = "") -> ChatRequest:
    """Check and store the visitor's question; the request the chain answers.

    Raises :class:`APIError` for a question the API refuses (empty, too long, nothing left once
    cleaned, a bad locale, an unknown session, the store down).
    """
    content = _checked(runtime, text, locale)
    async with store_errors():
        history = await _with_question(runtime, session_id, content)
    passages = await _ground(runtime, history)
    system = [runtime.config.chat.system_prompt] if runtime.config.chat.system_prompt else []
    if passages and runtime.components.knowledge is not None:
        system.append(context_message(passages, runtime.components.knowledge.options))
    messages = [ChatMessage("system", line) for line in system]
    messages += [ChatMessage(m.role, plain_text(m.content)) for m in history if m.content]
    return ChatRequest(messages=messages, request_id=request_id, passages=passages, locale=locale)


def _checked(runtime: Runtime, text: str, locale: str) -> str:
    text = text.strip()
    if not text:
        raise invalid("message", "Please type a message first.")
    limit = runtime.config.server.max_message_chars
    if len(text) > limit:
        raise APIError(413, "message_too_long", f"Your message is too long. Please keep it under {limit} characters.",
                       limit=limit)
    content = runtime.sanitizers.clean_input(text)
    if not content.strip():
        raise invalid("message", "Your message had no text left once markup was removed.")
    if len(locale) > 16 or not _LOCALE.match(locale):
        raise invalid("locale", "The field `locale` must be a language tag such as \"en\" or \"pt-BR\".")
    return content


async def _with_question(runtime: Runtime, session_id: str, content: str) -> list[Message]:
    """The recent history ending with the visitor's question, stored before any provider runs.

    Asking again what is still unanswered (a retry after every provider failed) reuses the
    stored question instead of adding it twice.
    """
    user = Message(id=new_message_id(), role="user", content=content, created_at=now_rfc3339())
    history = await runtime.store.ask(session_id, user, runtime.config.chat.history)
    if history is None:
        raise session_not_found()
    return history


async def _ground(runtime: Runtime, history: list[Message]) -> list[Passage]:
    """Passages of the site for the visitor's question; none without a knowledge base."""
    knowledge = runtime.components.knowledge
    if knowledge is None:
        return []
    questions = [plain_text(m.content) for m in history if m.role == "user"]
    return await knowledge.find(search_query(questions[-1], questions[-2] if len(questions) > 1 else None))


def _sources(runtime: Runtime, content: str, passages: list[Passage]) -> list[Source]:
    """The pages behind an answer, their titles cleaned like any text the API returns."""
    clean = runtime.sanitizers.clean_output
    return [Source(clean(s.title), s.url if _WEB_URL.match(s.url) else "")
            for s in cited_sources(plain_text(content), passages)]


def _assistant(started: Started | None, content: str, usage: dict[str, Any] | None, complete: bool,
               sources: list[Source] | None = None, truncated: bool = False) -> Message:
    return Message(
        id=new_message_id(), role="assistant", content=content, created_at=now_rfc3339(),
        provider=started.provider if started else None, model=started.model if started else None,
        incomplete=not complete, fallbacks=started.fallbacks if started else [],
        usage={**(usage or {}), "ttftMs": round(started.ttft * 1000)} if started and started.ttft else usage,
        sources=sources or [], truncated=truncated,
    )


async def _save(runtime: Runtime, session_id: str, message: Message) -> None:
    """Store an answer even while the request is being cancelled (the visitor left)."""
    with anyio.CancelScope(shield=True):
        await runtime.store.append(session_id, message)
    runtime.metrics.answer(message.provider or "none", not message.incomplete)
    log.info("answered", session=redact(session_id), provider=message.provider, fallbacks=message.fallbacks,
             incomplete=message.incomplete, chars=len(message.content))


def _unavailable(error: ChainFailed) -> APIError:
    log.error("providers_unavailable", fallbacks=error.fallbacks)
    return APIError(503, "providers_unavailable", "The assistant is unavailable right now. Your message was "
                    "saved; please try again in a moment.", headers={"Retry-After": "10"})


async def _from_cache(runtime: Runtime, request: ChatRequest) -> tuple[str | None, Message | None]:
    """The request's cache key (None when it must not be cached) and the cached answer, if any."""
    cache = runtime.cache
    key = cache.key(request) if cache is not None else None
    if cache is None or key is None:
        return None, None
    entry = await cache.get(key)
    return key, _reused(entry) if entry is not None else None


def _reused(entry: Entry) -> Message:
    return Message(id=new_message_id(), role="assistant", content=entry.content, created_at=now_rfc3339(),
                   provider=entry.provider, model=entry.model, sources=entry.sources, cached=True)


async def _keep(runtime: Runtime, key: str | None, message: Message) -> None:
    if key is not None and runtime.cache is not None:
        await runtime.cache.put(key, message)


async def answer(runtime: Runtime, session_id: str, request: ChatRequest) -> Message:
    """The whole answer at once. Nothing has been shown, so any failure may still fail over."""
    key, cached = await _from_cache(runtime, request)
    if cached is not None:
        async with store_errors():
            await _save(runtime, session_id, cached)
        return cached
    started: Started | None = None
    parts: list[str] = []
    finished = Finished(None)
    try:
        async with contextlib.aclosing(runtime.chain.stream(request, buffered=True)) as events:
            async for event in events:
                if isinstance(event, Started):
                    started, parts = event, []
                elif isinstance(event, Finished):
                    finished = event
                elif isinstance(event, str):
                    parts.append(event)
    except ChainFailed as error:
        raise _unavailable(error) from None
    content = runtime.sanitizers.clean_output("".join(parts))
    message = _assistant(started, content, finished.usage, complete=True,
                         sources=_sources(runtime, content, request.passages), truncated=finished.truncated)
    async with store_errors():
        await _save(runtime, session_id, message)
    await _keep(runtime, key, message)
    return message


async def answer_events(runtime: Runtime, session_id: str, request: ChatRequest) -> AsyncGenerator[Event, None]:
    """The answer as it streams: queued…, opened, deltas…, then exactly one of done or failed."""
    key, cached = await _from_cache(runtime, request)
    if cached is not None:  # stored first: a visitor who leaves mid-stream still finds it in history
        terminal = await _saved(runtime, session_id, cached, Done(cached))
        yield Opened(cached.id, cached.provider or "", cached.model or "", [])
        yield Delta(cached.content)
        yield terminal
        return
    cleaner = runtime.sanitizers.stream()
    started: Started | None = None
    message_id = new_message_id()
    try:
        async with contextlib.aclosing(runtime.chain.stream(request)) as events:
            async for event in events:
                if isinstance(event, Queued):
                    yield event
                elif isinstance(event, Started):
                    started = event
                    yield Opened(message_id, event.provider, event.model, event.fallbacks)
                elif isinstance(event, Finished):
                    content = cleaner.finish()
                    message = _assistant(started, content, event.usage, complete=True,
                                         sources=_sources(runtime, content, request.passages),
                                         truncated=event.truncated)
                    if tail := cleaner.rest(message.content):
                        yield Delta(tail)
                elif text := cleaner.feed(event):
                    yield Delta(text)
    except ChainFailed as error:
        yield Failed(_unavailable(error), error.fallbacks)
        return
    except StreamBroken as broken:
        log.warning("answer_interrupted", provider=broken.started.provider, kind=broken.error.kind)
        partial = _assistant(broken.started, cleaner.finish(), None, complete=False)
        partial.id = message_id
        yield await _saved(runtime, session_id, partial, Failed(APIError(
            503, "stream_interrupted", "The answer was interrupted. What arrived is kept; please try again.")))
        return
    except (asyncio.CancelledError, GeneratorExit):
        if started is not None:  # the visitor left mid-answer: keep what they saw
            partial = _assistant(started, cleaner.finish(), None, complete=False)
            partial.id = message_id
            with contextlib.suppress(StoreUnavailable):
                await _save(runtime, session_id, partial)
        raise
    message.id = message_id
    terminal = await _saved(runtime, session_id, message, Done(message))
    if isinstance(terminal, Done):
        await _keep(runtime, key, message)
    yield terminal


async def _saved(runtime: Runtime, session_id: str, message: Message, terminal: Done | Failed) -> Done | Failed:
    try:
        await _save(runtime, session_id, message)
    except StoreUnavailable:
        return Failed(store_unavailable())
    return terminal
