"""Handoffs in the ``memory`` store: records and event logs in dicts, gone with their sessions."""

from __future__ import annotations

from collections import deque

import msgspec

from chatkit_core.chat.handoff_store import (
    MAX_EVENTS,
    EventDraft,
    HandoffRecord,
    HandoffStore,
    StoredEvent,
    placeholder,
)


class MemoryHandoffs(HandoffStore):
    """Each method runs without awaiting anything, so each is atomic on the event loop."""

    max_handoffs: int = 100_000

    def __init__(self) -> None:
        self._handoffs: dict[str, HandoffRecord] = {}
        self._events: dict[str, deque[StoredEvent]] = {}

    def _alive(self, session_id: str) -> bool:
        raise NotImplementedError

    def _forget_handoff(self, conversation_id: str) -> None:
        self._handoffs.pop(conversation_id, None)
        self._events.pop(conversation_id, None)

    def _record(self, conversation_id: str) -> HandoffRecord | None:
        record = self._handoffs.get(conversation_id)
        if record is not None and not self._alive(record.session_id):
            self._forget_handoff(conversation_id)
            return None
        return record

    async def handoff(self, conversation_id: str) -> HandoffRecord | None:
        record = self._record(conversation_id)
        return msgspec.structs.replace(record) if record is not None else None

    async def put_handoff(self, record: HandoffRecord, draft: EventDraft | None = None) -> StoredEvent | None:
        current = self._record(record.conversation_id)
        if (current.version if current else 0) != record.version or not self._alive(record.session_id):
            return None
        if current is None and len(self._handoffs) >= self.max_handoffs:
            for conversation_id in list(self._handoffs):  # drop what belongs to sessions that are gone
                self._record(conversation_id)
        self._handoffs[record.conversation_id] = msgspec.structs.replace(record, version=record.version + 1)
        return self._append(record.conversation_id, draft) if draft else placeholder(record.conversation_id)

    def _append(self, conversation_id: str, draft: EventDraft) -> StoredEvent:
        log = self._events.setdefault(conversation_id, deque(maxlen=MAX_EVENTS))
        event = StoredEvent(conversation_id=conversation_id, seq=log[-1].seq + 1 if log else 1, kind=draft.kind,
                            audience=draft.audience, data=draft.data)
        log.append(event)
        return event

    async def add_event(self, conversation_id: str, draft: EventDraft) -> StoredEvent | None:
        if self._record(conversation_id) is None:
            return None
        return self._append(conversation_id, draft)

    async def events(self, conversation_id: str, after: int, limit: int = 100) -> list[StoredEvent]:
        return [event for event in self._events.get(conversation_id, ()) if event.seq > after][:limit]

    async def open_handoffs(self, limit: int = 200) -> list[HandoffRecord]:
        found = [record for conversation_id in list(self._handoffs)
                 if (record := self._record(conversation_id)) is not None and record.state != "closed"]
        found.sort(key=lambda record: record.requested_at, reverse=True)
        return [msgspec.structs.replace(record) for record in found[:limit]]
