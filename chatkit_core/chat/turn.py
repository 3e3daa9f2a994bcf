"""One turn of a conversation, the same for the HTTP API and ``chatkit chat``.

The visitor's text is checked and cleaned, stored before any provider runs, grounded in the
site's passages when a knowledge base is configured, answered through the chain, cleaned and
saved; a first question answered recently gets its answer again from the answer cache
(:mod:`chatkit_core.chat.answer_cache`) without a provider call. :meth:`Conversation.answer`
gives the whole answer at once; :meth:`Conversation.answer_events` streams it as
:class:`Opened`, :class:`Delta`…, then exactly one of :class:`Done` or :class:`Failed` (with the
chain's :class:`~chatkit_core.chat.chain.Queued` before them while a busy provider is awaited).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Literal

import anyio
import msgspec
import structlog

from chatkit_core.chat.answer_cache import CachedAnswers
from chatkit_core.chat.chain import DEFAULT_MAX_TOKENS, Chain, ChainFailed, Finished, Started, StreamBroken
from chatkit_core.chat.documents import question_with_files, used_by
from chatkit_core.chat.errors import (
    ConversationsUnavailable,
    MessageNotFound,
    MessageTooLong,
    NotSupported,
    ProvidersUnavailable,
    SessionNotFound,
    StreamInterrupted,
    invalid,
)
from chatkit_core.chat.experiments import Experiments, Variant, named
from chatkit_core.chat.grounding import cited_sources, system_message
from chatkit_core.chat.knowledge import Knowledge, RetrieverOptions, search_query
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import ChatMessage, ChatRequest
from chatkit_core.chat.sanitize import Sanitizers, model_text
from chatkit_core.chat.sessions import SessionStore, StoreUnavailable, store_outage
from chatkit_core.chat.streaming import Delta, Done, Event, Failed, Opened, Streamed, assistant
from chatkit_core.chat.uploads import Uploads, attached
from chatkit_core.models import Attachment, Feedback, Message, Passage, Session, Source, new_message_id, now_rfc3339

log = structlog.get_logger("chatkit.conversation")

_LOCALE = re.compile(r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)?$")
_WEB_URL = re.compile(r"^(?:https?://[^\s]+|/[^\s]*)$", re.I)
MAX_COMMENT_CHARS = 500


class ChatConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[chat]``: what every turn sends the model."""

    system_prompt: str = ""
    history: int = 20
    """Most recent messages sent to the provider with each question."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Most tokens in one answer, for providers that set no ``max_tokens`` of their own; 0: no cap."""

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ValueError("history must be at least 1")
        if self.max_tokens < 0:
            raise ValueError("max_tokens must be 0 (no cap) or more")


def redact(session_id: str) -> str:
    """Enough of a session id to correlate log lines, never enough to use it."""
    return session_id[:6] + "…"



class Conversation:
    """Turns of every visitor's conversation, given the pieces they use (built once by
    :func:`chatkit_core.platform.assembly.build_runtime`)."""

    def __init__(self, *, store: SessionStore, chain: Chain, sanitizers: Sanitizers, metrics: Metrics,
                 settings: ChatConfig, max_message_chars: int, knowledge: Knowledge | None = None,
                 cache: CachedAnswers | None = None, experiments: Experiments | None = None,
                 uploads: Uploads | None = None) -> None:
        self.store = store
        self.chain = chain
        self.sanitizers = sanitizers
        self.metrics = metrics
        self.settings = settings
        self.max_message_chars = max_message_chars
        self.knowledge = knowledge
        self.cache = cache
        self.experiments = experiments or Experiments([], metrics)
        self.observers: list[Callable[[str, Message], Awaitable[None]]] = []
        """Called with each message stored in a conversation (the handoff desk publishes them)."""
        self.uploads = uploads
        self.takes_images = {provider.name: provider.takes_images for provider in chain.providers}

    # Sessions

    async def start(self, metadata: dict[str, Any]) -> Session:
        async with store_outage():
            return await self.store.create(metadata)

    async def history(self, session_id: str) -> list[Message]:
        async with store_outage():
            messages = await self.store.messages(session_id)
        if messages is None:
            raise SessionNotFound()
        return messages

    async def erase(self, session_id: str) -> None:
        async with store_outage():
            if not await self.store.delete(session_id):
                raise SessionNotFound()
            if self.uploads is not None:
                await self.uploads.forget(session_id)

    # A turn

    async def ask(self, session_id: str, text: str, locale: str = "", request_id: str = "",
                  attachments: list[str] | None = None) -> ChatRequest:
        """Check and store the visitor's question, with the ids of files it attaches (uploaded to
        this conversation before); the request the chain answers.

        A question with attachments may have no text: the files are what it asks about.

        Raises :class:`ChatError` for a question that is refused (no text and no files, too long,
        nothing left once cleaned, a bad locale, an attachment not in the conversation, an unknown
        session, the store down).
        """
        content = self._checked(text, locale, bool(attachments))
        files = await attached(self.uploads, session_id, attachments or [])
        question = self._question(content)
        question.attachments = [file.public() for file in files]
        async with store_outage():
            history = await self.store.ask(session_id, question, self.settings.history)
            if history is None:
                raise SessionNotFound()
            variant = await self.experiments.turn(session_id, history, self.settings.history,
                                                  lambda: self.store.messages(session_id))
        if history[-1].id == question.id:  # stored now, not asked again unanswered
            await self._observe(session_id, question)
        options = variant.knowledge if variant else None
        passages = await self._ground(history, options)
        prompt = variant.system_prompt if variant else self.settings.system_prompt
        system = [prompt] if prompt else []
        if self.knowledge is not None and (grounding := system_message(passages, options or self.knowledge.options)):
            system.append(grounding)  # with a knowledge base, never a request without the site's message
        messages = [ChatMessage("system", line) for line in system]
        # An operator's replies during a handoff are the site's answers to the model.
        messages += [ChatMessage("assistant" if m.role == "operator" else m.role, model_text(m.content))
                     for m in history[:-1] if m.content]
        limit = self.uploads.config.max_text_chars if self.uploads is not None else 0
        asked, uses = question_with_files(model_text(history[-1].content), files, limit)
        messages.append(asked)
        return ChatRequest(messages=messages, request_id=request_id, passages=passages, locale=locale,
                           variant=variant.tag if variant else None, attachments=uses)

    async def note(self, session_id: str, text: str, locale: str = "",
                   attachments: list[str] | None = None) -> Message:
        """Check and store the visitor's message, with the files it attaches, without answering
        it (an operator holds the conversation)."""
        content = self._checked(text, locale, bool(attachments))
        files = await attached(self.uploads, session_id, attachments or [])
        message = self._question(content)
        message.attachments = [file.public() for file in files]
        async with store_outage():
            if not await self.store.append(session_id, message):
                raise SessionNotFound()
        await self._observe(session_id, message)
        return message

    async def _observe(self, session_id: str, message: Message) -> None:
        for observer in self.observers:
            try:
                await observer(session_id, message)
            except Exception:  # a message stored is never refused for what follows it
                log.exception("observer_failed", session=redact(session_id))

    def _checked(self, text: str, locale: str, with_files: bool = False) -> str:
        """The visitor's text, cleaned; empty only when files come with it."""
        text = text.strip()
        if not text and not with_files:
            raise invalid("message", "Please type a message first.")
        limit = self.max_message_chars
        if len(text) > limit:
            raise MessageTooLong(f"Your message is too long. Please keep it under {limit} characters.", limit=limit)
        content = self.sanitizers.clean_input(text) if text else ""
        if not content.strip():
            if not with_files:
                raise invalid("message", "Your message had no text left once markup was removed.")
            content = ""
        if len(locale) > 16 or not _LOCALE.match(locale):
            raise invalid("locale", "The field `locale` must be a language tag such as \"en\" or \"pt-BR\".")
        return content

    @staticmethod
    def _question(content: str) -> Message:
        return Message(id=new_message_id(), role="user", content=content, created_at=now_rfc3339())

    async def _ground(self, history: list[Message], options: RetrieverOptions | None) -> list[Passage]:
        """Passages of the site for the visitor's question; none without a knowledge base."""
        if self.knowledge is None:
            return []
        questions = [model_text(m.content) for m in history if m.role == "user" and m.content]
        if not history[-1].content:  # files alone: no words to search the site for
            return []
        query = search_query(questions[-1], questions[-2] if len(questions) > 1 else None)
        return await self.knowledge.find(query, options)

    def _pieces(self, request: ChatRequest) -> tuple[Variant | None, Chain, CachedAnswers | None]:
        """The variant a turn is answered in, and the chain and answer cache it uses."""
        variant = self.experiments.find(request.variant)
        return (variant, variant.chain, variant.cache) if variant else (None, self.chain, self.cache)

    def _used(self, request: ChatRequest, started: Started | None) -> list[Attachment]:
        """How much of each attached file the answering model was given: a model that reads text
        only got none of the images."""
        return used_by(request.attachments, started is not None and self.takes_images.get(started.provider, False))

    def _sources(self, content: str, passages: list[Passage]) -> list[Source]:
        """The pages behind an answer, their titles cleaned like any text the API returns."""
        clean = self.sanitizers.clean_output
        return [Source(clean(s.title), s.url if _WEB_URL.match(s.url) else "")
                for s in cited_sources(model_text(content), passages)]

    async def answer(self, session_id: str, request: ChatRequest) -> Message:
        """The whole answer at once. Nothing has been shown, so any failure may still fail over."""
        variant, chain, cache = self._pieces(request)
        key, cached = await self._from_cache(request, cache)
        if cached is not None:
            async with store_outage():
                await self._save(session_id, cached, variant)
            return cached
        started: Started | None = None
        parts: list[str] = []
        finished = Finished(None)
        try:
            async with contextlib.aclosing(chain.stream(request, buffered=True)) as events:
                async for event in events:
                    if isinstance(event, Started):
                        started, parts = event, []
                    elif isinstance(event, Finished):
                        finished = event
                    elif isinstance(event, str):
                        parts.append(event)
        except ChainFailed as error:
            self.experiments.failed(variant)
            raise _unavailable(error) from None
        content = self.sanitizers.clean_output("".join(parts))
        message = assistant(started, content, finished.usage, complete=True,
                             sources=self._sources(content, request.passages), truncated=finished.truncated,
                             attachments=self._used(request, started))
        async with store_outage():
            await self._save(session_id, message, variant)
        await self._keep(key, message, cache)
        return message

    async def answer_events(self, session_id: str, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """The answer as it streams: queued…, opened, deltas…, then exactly one of done or failed."""
        variant, chain, cache = self._pieces(request)
        key, cached = await self._from_cache(request, cache)
        if cached is not None:  # stored first: a visitor who leaves mid-stream still finds it in history
            terminal = await self._saved(session_id, cached, Done(cached), variant)
            yield Opened(cached.id, cached.provider or "", cached.model or "", [])
            yield Delta(cached.content)
            yield terminal
            return
        stream = Streamed(request, self.sanitizers.stream(), lambda content: self._sources(content, request.passages),
                          lambda started: self._used(request, started))
        try:
            async with contextlib.aclosing(chain.stream(request)) as events:
                async for event in events:
                    if (shown := stream.take(event)) is not None:
                        yield shown
        except ChainFailed as error:
            self.experiments.failed(variant)
            yield Failed(_unavailable(error), error.fallbacks)
            return
        except StreamBroken as broken:
            log.warning("answer_interrupted", provider=broken.started.provider, kind=broken.error.kind)
            yield await self._saved(session_id, stream.partial(broken.started), Failed(StreamInterrupted()), variant)
            return
        except (asyncio.CancelledError, GeneratorExit):
            if stream.started is not None:  # the visitor left mid-answer: keep what they saw
                with contextlib.suppress(StoreUnavailable):
                    await self._save(session_id, stream.partial(stream.started), variant)
            raise
        message = stream.message
        assert message is not None  # the chain ends every answer with Finished
        terminal = await self._saved(session_id, message, Done(message), variant)
        if isinstance(terminal, Done):
            await self._keep(key, message, cache)
        yield terminal

    async def _save(self, session_id: str, message: Message, variant: Variant | None) -> None:
        """Store an answer, with its variant, even while the request is being cancelled (the visitor left)."""
        if variant is not None:
            message.variant = variant.tag
        with anyio.CancelScope(shield=True):
            await self.store.append(session_id, message)
            await self._observe(session_id, message)
        self.metrics.answer(message.provider or "none", not message.incomplete)
        self.experiments.answered(variant, message, self.knowledge is not None)
        log.info("answered", session=redact(session_id), provider=message.provider, fallbacks=message.fallbacks,
                 incomplete=message.incomplete, chars=len(message.content), **named(variant))

    async def _saved(self, session_id: str, message: Message, terminal: Done | Failed,
                     variant: Variant | None) -> Done | Failed:
        try:
            await self._save(session_id, message, variant)
        except StoreUnavailable:
            return Failed(ConversationsUnavailable())
        return terminal

    @staticmethod
    async def _from_cache(request: ChatRequest, cache: CachedAnswers | None) -> tuple[str | None, Message | None]:
        """The request's cache key (None when it must not be cached) and the cached answer, if any."""
        return await cache.lookup(request) if cache is not None else (None, None)

    @staticmethod
    async def _keep(key: str | None, message: Message, cache: CachedAnswers | None) -> None:
        if key is not None and cache is not None:
            await cache.put(key, message)

    # Feedback

    async def rate(self, session_id: str, message_id: str, rating: Literal["up", "down"], comment: str) -> Message:
        """Rate the answer ``message_id``; a new rating replaces the previous one."""
        comment = comment.strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise invalid("comment", f"Please keep your comment under {MAX_COMMENT_CHARS} characters.")
        feedback = Feedback(rating=rating, comment=self.sanitizers.clean_input(comment).strip())
        async with store_outage():
            messages = await self.store.messages(session_id)
            if messages is None:
                raise SessionNotFound()
            rated_before = any(m.id == message_id and m.feedback is not None for m in messages)
            try:
                message = await self.store.set_feedback(session_id, message_id, feedback)
            except NotImplementedError:
                raise NotSupported("Rating answers is not available on this service.") from None
        if message is None:
            raise MessageNotFound()
        if not rated_before:  # a rating counts once per answer; rating again replaces it, uncounted
            self.metrics.feedback.labels(message.provider or "none", feedback.rating).inc()
            self.experiments.rated(message, feedback.rating)
        log.info("rated", session=redact(session_id), provider=message.provider, rating=feedback.rating)
        return message

    async def handoff_asked(self, session_id: str) -> None:
        """Count a visitor's request for a person against the conversation's experiment variant:
        the hook the handoff feature calls (docs/operators.md, "Experiments")."""
        async with store_outage():
            messages = await self.store.messages(session_id)
        self.experiments.handoff(messages or [])


def _unavailable(error: ChainFailed) -> ProvidersUnavailable:
    log.error("providers_unavailable", fallbacks=error.fallbacks)
    return ProvidersUnavailable(error.fallbacks)

