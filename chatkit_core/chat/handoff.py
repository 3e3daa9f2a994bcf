"""Talking to a person: the visitor asks, an operator claims the conversation, writes to the
visitor, and hands it back to the assistant or closes it.

The rules live here, the state in the session store (:class:`~chatkit_core.chat.handoff_store.
HandoffStore`), shared by every instance and kept across restarts. A conversation is ``waiting``
(the assistant still answers), ``active`` (one operator holds it; the visitor's messages are stored
for them and no model is called) or ``closed``. Every change is written under optimistic
concurrency, so of two operators claiming at once exactly one wins, and is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import msgspec
import structlog

from chatkit_core.chat.broker import Broker
from chatkit_core.chat.errors import (
    AlreadyClaimed,
    ConversationNotFound,
    ConversationsUnavailable,
    HandoffClosed,
    MessageTooLong,
    NotClaimed,
    SessionNotFound,
    invalid,
)
from chatkit_core.chat.handoff_events import handoff_event, message_event, translation_event
from chatkit_core.chat.handoff_store import (
    EventDraft,
    HandoffRecord,
    HandoffStore,
    conversation_id_of,
)
from chatkit_core.chat.sessions import SessionStore, StoreUnavailable, store_outage
from chatkit_core.chat.translate import Translator, differ, guess
from chatkit_core.chat.turn import Conversation, redact
from chatkit_core.chat.webhook import Notice, Webhook
from chatkit_core.durations import parse_duration
from chatkit_core.models import Message, new_message_id, now_rfc3339

log = structlog.get_logger("chatkit.handoff")

MAX_OPERATOR_NAME = 64
MAX_TRANSLATIONS = 64
"""Translations under way at once in a process; more are sent untranslated (``busy``)."""


class HandoffConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[handoff]``: a person can take over a conversation from the assistant."""

    enabled: bool = False
    offer: Literal["always", "after_decline", "never"] = "always"
    """When the widget offers "Talk to a person"."""
    webhook: str = ""
    """URL that gets a signed POST when a person is asked for, and when a request waits too long."""
    webhook_secret: str = ""
    webhook_attempts: int = 5
    webhook_backoff: float = 1.0
    """Seconds before the first retry; each next waits twice as long."""
    webhook_timeout: float = 5.0
    wait_alert: str | float = "5m"
    """A request still waiting this long sends ``handoff.waiting_too_long``; "" never."""
    broker: str = ""
    """Carries events between instances (``redis://…``); empty: this process only."""
    max_streams: int = 1000
    """Event streams open at once in one process (visitors' and operators')."""
    max_streams_per_session: int = 3
    """Event streams open at once for one visitor's conversation."""
    stream_seconds: str | float = "30m"
    """A stream ends after this long; clients reconnect with ``Last-Event-ID`` and miss nothing."""
    heartbeat: float = 15.0
    """Seconds between keep-alive comments on a quiet stream."""
    translate: bool = True
    """Translate messages between the visitor's and the operator's languages when they differ."""

    def __post_init__(self) -> None:
        if self.webhook and not self.webhook.startswith(("http://", "https://")):
            raise ValueError("webhook: must be an http(s) URL such as \"https://hooks.example.com/chatkit\"")
        if self.webhook and len(self.webhook_secret) < 16:
            raise ValueError("webhook_secret: must be at least 16 characters when webhook is set "
                             "(openssl rand -hex 32)")
        if self.webhook_attempts < 1 or self.webhook_backoff < 0 or self.webhook_timeout <= 0:
            raise ValueError("webhook_attempts must be at least 1, webhook_backoff 0 or more, webhook_timeout > 0")
        if self.max_streams < 1 or self.max_streams_per_session < 1 or self.heartbeat <= 0:
            raise ValueError("max_streams and max_streams_per_session must be at least 1, heartbeat > 0")
        for key in ("wait_alert", "stream_seconds"):
            value = getattr(self, key)
            if value != "":
                try:
                    parse_duration(value)
                except ValueError as error:
                    raise ValueError(f"{key}: {error}") from None

    @property
    def wait_alert_seconds(self) -> float | None:
        return parse_duration(self.wait_alert) if self.wait_alert not in ("", 0) else None

    @property
    def stream_limit_seconds(self) -> float:
        return parse_duration(self.stream_seconds)


class HandoffDesk:
    """The handoff service one process runs (built by ``build_runtime`` when ``[handoff] enabled``)."""

    def __init__(self, *, store: HandoffStore, conversation: Conversation, broker: Broker, config: HandoffConfig,
                 webhook: Webhook | None = None, translator: Translator | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.sessions: SessionStore = conversation.store
        """The same store, as the conversation's session store."""
        self.conversation = conversation
        self.broker = broker
        self.config = config
        self.webhook = webhook
        self.translator = translator if config.translate else None
        self.clock = clock
        self._background: set[asyncio.Task[None]] = set()
        conversation.observers.append(self.observe)

    # Running

    async def start(self) -> None:
        await self.broker.start()
        if self.webhook is not None:
            await self.webhook.start()
            if self.config.wait_alert_seconds:
                self._spawn(self._alerting(self.config.wait_alert_seconds))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.webhook is not None:
            await self.webhook.close()
        await self.broker.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # The visitor's side (by session id, the visitor's secret)

    async def of_session(self, session_id: str) -> HandoffRecord | None:
        """The conversation's handoff, if one was ever asked for; SessionNotFound when it is gone."""
        async with store_outage():
            if await self.sessions.get(session_id) is None:
                raise SessionNotFound()
            return await self.store.handoff(conversation_id_of(session_id))

    async def holding(self, session_id: str) -> HandoffRecord | None:
        """The handoff when an operator holds the conversation (the chat then goes to them)."""
        async with store_outage():
            record = await self.store.handoff(conversation_id_of(session_id))
        return record if record is not None and record.state == "active" else None

    async def request(self, session_id: str, message: str, locale: str) -> HandoffRecord:
        """Ask for a person; asking again while one is asked for or holds it changes nothing."""
        text = self.conversation.sanitizers.clean_input(message.strip()).strip() if message.strip() else ""
        if len(message.strip()) > self.conversation.max_message_chars:
            limit = self.conversation.max_message_chars
            raise MessageTooLong(f"Your message is too long. Please keep it under {limit} characters.", limit=limit)
        if locale and len(locale) > 16:
            raise invalid("locale", "The field `locale` must be a language tag such as \"en\" or \"pt-BR\".")
        if await self.of_session(session_id) is None:
            fresh = HandoffRecord(conversation_id=conversation_id_of(session_id), session_id=session_id,
                                  state="closed")
            await self._write(fresh, None)
        asked = False

        def ask(record: HandoffRecord) -> EventDraft | None:
            nonlocal asked
            if record.state != "closed":
                return None
            asked = True
            record.state, record.operator, record.alerted = "waiting", None, False
            record.requested_at, record.message = self.clock(), text or None
            record.visitor_locale = locale or record.visitor_locale or guess(text)
            record.audited("visitor", "asked for a person", record.requested_at)
            return handoff_event(record)

        record = await self._change(conversation_id_of(session_id), ask)
        if asked:
            log.info("handoff_requested", session=redact(session_id), conversation=record.conversation_id)
            if text:
                await self.conversation.note(session_id, text, locale)
            await self.conversation.handoff_asked(session_id)  # counted for its experiment variant
            self._notify("handoff.requested", record)
        return record

    async def observe(self, session_id: str, message: Message) -> None:
        """Publish a message stored in a conversation whose handoff is open."""
        async with store_outage():
            record = await self.store.handoff(conversation_id_of(session_id))
        if record is None or record.state == "closed":
            return
        if message.role == "user" and not record.visitor_locale and (found := guess(message.content)):
            record.visitor_locale = found
        await self._publish(record, message)

    # The operator's side (by conversation id)

    async def open(self) -> list[HandoffRecord]:
        async with store_outage():
            return await self.store.open_handoffs()

    async def find(self, conversation_id: str) -> tuple[HandoffRecord, list[Message]]:
        async with store_outage():
            record = await self.store.handoff(conversation_id)
            messages = await self.sessions.messages(record.session_id) if record else None
        if record is None or messages is None:
            raise ConversationNotFound()
        return record, messages

    async def claim(self, conversation_id: str, operator: str, locale: str = "") -> HandoffRecord:
        operator = _operator_name(operator)

        def take(record: HandoffRecord) -> EventDraft | None:
            if record.state == "closed":
                raise HandoffClosed()
            if record.state == "active":
                if record.operator != operator:
                    raise AlreadyClaimed(record.operator)
                return None  # claiming again what one holds changes nothing
            record.state, record.operator, record.operator_locale = "active", operator, locale
            record.audited(operator, "claimed the conversation", self.clock())
            return handoff_event(record)

        return await self._change(conversation_id, take)

    async def reply(self, conversation_id: str, operator: str | None, content: str) -> Message:
        """The holder's message to the visitor, cleaned by the same output rules as answers."""
        async with store_outage():
            record = await self.store.handoff(conversation_id)
        if record is None:
            raise ConversationNotFound()
        self._check_holder(record, operator)
        text = content.strip()
        if not text:
            raise invalid("content", "Please type a message first.")
        limit = self.conversation.max_message_chars
        if len(text) > limit:
            raise MessageTooLong(f"The message is too long. Please keep it under {limit} characters.", limit=limit)
        cleaned = self.conversation.sanitizers.clean_output(text)
        if not cleaned.strip():
            raise invalid("content", "The message had no text left once markup was removed.")
        message = Message(id=new_message_id(), role="operator", content=cleaned, created_at=now_rfc3339())
        async with store_outage():
            if not await self.sessions.append(record.session_id, message):
                raise ConversationNotFound()
        await self._publish(record, message)
        return message

    async def release(self, conversation_id: str, operator: str | None) -> HandoffRecord:
        """Hand an active conversation back to the assistant (its holder only), or close a waiting one."""
        who = _operator_name(operator) if operator else None

        def end(record: HandoffRecord) -> EventDraft | None:
            if record.state == "closed":
                return None
            if record.state == "active":
                self._check_holder(record, who)
                what = "handed the conversation back to the assistant"
            else:
                what = "closed the request without taking it"
            record.audited(who or record.operator or "operator", what, self.clock())
            record.state = "closed"
            return handoff_event(record)

        return await self._change(conversation_id, end)

    @staticmethod
    def _check_holder(record: HandoffRecord, operator: str | None) -> None:
        if record.state != "active":
            raise NotClaimed()
        if operator is not None and _operator_name(operator) != record.operator:
            raise AlreadyClaimed(record.operator)

    # Writing, publishing, translating, notifying

    async def _change(self, conversation_id: str,
                      change: Callable[[HandoffRecord], EventDraft | None]) -> HandoffRecord:
        """Read, change and write back until no other writer came in between."""
        for _ in range(20):
            async with store_outage():
                record = await self.store.handoff(conversation_id)
            if record is None:
                raise ConversationNotFound()
            draft = change(record)
            if draft is None:
                return record
            if await self._write(record, draft):
                return record
        raise ConversationsUnavailable()

    async def _write(self, record: HandoffRecord, draft: EventDraft | None) -> bool:
        async with store_outage():
            stored = await self.store.put_handoff(record, draft)
        if stored is None:
            return False
        record.version += 1
        if stored.seq:
            await self.broker.publish(stored)
        return True

    async def _publish(self, record: HandoffRecord, message: Message) -> None:
        async with store_outage():
            stored = await self.store.add_event(record.conversation_id, message_event(message))
        if stored is not None:
            await self.broker.publish(stored)
        reader = record.operator_locale if message.role == "user" else record.visitor_locale
        writer = record.visitor_locale if message.role == "user" else record.operator_locale
        if message.role != "assistant" and differ(reader, writer):
            self._spawn(self._translated(record.conversation_id, message, reader))

    async def _translated(self, conversation_id: str, message: Message, locale: str) -> None:
        content, reason = None, "no_model"
        if self.translator is not None and self.translator.available:
            if len(self._background) > MAX_TRANSLATIONS:
                reason = "busy"
            else:
                content = await self.translator.translate(message.content, locale)
                reason = "failed"
        draft = translation_event(message, locale, content, None if content is not None else reason)
        with contextlib.suppress(StoreUnavailable):
            if (stored := await self.store.add_event(conversation_id, draft)) is not None:
                await self.broker.publish(stored)

    async def translate(self, conversation_id: str, message_id: str, locale: str) -> None:
        """Translate an earlier message for the console; it comes as a ``translation`` event."""
        _, messages = await self.find(conversation_id)
        message = next((m for m in messages if m.id == message_id), None)
        if message is None:
            raise invalid("messageId", "There is no such message in this conversation.")
        await self._translated(conversation_id, message, locale)

    def _notify(self, event: str, record: HandoffRecord) -> None:
        if self.webhook is not None:
            self.webhook.send(Notice(event=event, conversation_id=record.conversation_id, message=record.message,
                                     requested_at=record.public().requested_at))

    async def _alerting(self, wait: float) -> None:
        """Send ``handoff.waiting_too_long`` once per request; of several instances, the first to
        mark the record sends it."""
        while True:
            await asyncio.sleep(min(wait / 4, 30.0))
            try:
                for record in await self.open():
                    if record.state == "waiting" and not record.alerted and record.requested_at <= self.clock() - wait:
                        record.alerted = True
                        record.audited("chatkit", "notified: waiting too long", self.clock())
                        if await self._write(record, None):
                            self._notify("handoff.waiting_too_long", record)
            except ConversationsUnavailable:
                log.warning("handoff_alert_skipped", reason="store unavailable")


def _operator_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_OPERATOR_NAME:
        raise invalid("operator", f"Name the operator in 1 to {MAX_OPERATOR_NAME} characters.")
    return name

