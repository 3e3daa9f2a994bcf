"""The events of a handoff, and following them: what a visitor's or an operator's stream sends.

Events (each stored, numbered per conversation, then broadcast; the number is the SSE ``id``):

- ``message`` ``{"message": Message}``: a message added to the conversation while a handoff is
  open. The visitor's stream carries the operator's messages only (the visitor has their own and
  the assistant's from ``POST /api/chat``); the operator's stream carries every message.
- ``handoff`` ``{"handoff": Handoff}``: the state changed (asked, claimed, handed back, closed).
- ``translation`` ``{"translation": {"messageId", "locale", "content", "untranslated"}}``: a
  message of the other side in the reader's language; ``content`` is null and ``untranslated``
  says why (``no_model``, ``failed``, ``busy``) when it could not be translated. The visitor's
  stream carries translations of the operator's messages, the operator's those of the visitor's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from chatkit_core.chat.broker import EVERY, Broker
from chatkit_core.chat.handoff_store import Audience, EventDraft, HandoffRecord, HandoffStore, StoredEvent
from chatkit_core.models import Message

_encode = msgspec.json.Encoder().encode


def _draft(kind: str, audience: Audience, data: Any) -> EventDraft:
    return EventDraft(kind=kind, audience=audience, data=_encode(data).decode())


def message_event(message: Message) -> EventDraft:
    return _draft("message", "all" if message.role == "operator" else "operator", {"message": message})


def handoff_event(record: HandoffRecord) -> EventDraft:
    return _draft("handoff", "all", {"handoff": record.public()})


def translation_event(message: Message, locale: str, content: str | None, untranslated: str | None) -> EventDraft:
    translation = {"messageId": message.id, "locale": locale, "content": content, "untranslated": untranslated}
    return _draft("translation", "all" if message.role == "operator" else "operator", {"translation": translation})


def visible(event: StoredEvent, operator: bool) -> bool:
    return operator or event.audience == "all"


async def follow(store: HandoffStore, broker: Broker, conversation_id: str, after: int, *, operator: bool,
                 heartbeat: float, seconds: float) -> AsyncGenerator[StoredEvent | None, None]:
    """The conversation's events numbered above ``after``, then each new one as it comes, for up
    to ``seconds``; None every ``heartbeat`` seconds without one (a keep-alive to send).

    Subscribes before reading the log, so nothing falls between the two; a gap in what the broker
    brings (or a quiet ``heartbeat``) reads the log again, which also serves several workers that
    share a store but no broker. Numbers already sent are skipped: nothing comes twice.
    """
    until = time.monotonic() + seconds
    last = after
    with broker.subscribe(conversation_id) as subscription:
        for event in await _logged(store, conversation_id, last):
            last = event.seq
            if visible(event, operator):
                yield event
        while (left := until - time.monotonic()) > 0:
            arrived = await subscription.wait(min(heartbeat, left))
            fresh = sorted((e for e in arrived if e.seq > last), key=lambda e: e.seq)
            contiguous = all(e.seq == last + 1 + i for i, e in enumerate(fresh))
            if subscription.overflowed or not contiguous or not arrived:
                subscription.overflowed = False
                fresh = await _logged(store, conversation_id, last)
            for event in fresh:
                last = event.seq
                if visible(event, operator):
                    yield event
            if not arrived and not fresh:
                yield None


async def _logged(store: HandoffStore, conversation_id: str, after: int) -> list[StoredEvent]:
    found: list[StoredEvent] = []
    while batch := await store.events(conversation_id, after, 100):
        found += batch
        after = batch[-1].seq
        if len(batch) < 100:
            break
    return found


async def follow_list(broker: Broker, *, heartbeat: float, seconds: float) -> AsyncGenerator[StoredEvent | None, None]:
    """Every conversation's ``handoff`` events for the console's live list, for up to ``seconds``;
    None every quiet ``heartbeat`` (and after missed events): time to read the list again, which
    also brings what other workers changed without a broker."""
    until = time.monotonic() + seconds
    with broker.subscribe(EVERY) as subscription:
        while (left := until - time.monotonic()) > 0:
            arrived = await subscription.wait(min(heartbeat, left))
            for event in arrived:
                yield event
            if subscription.overflowed or not arrived:
                subscription.overflowed = False
                yield None
