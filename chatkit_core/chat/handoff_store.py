"""What a session store keeps for handoffs to a person, and :class:`HandoffStore`, the optional
interface it implements to keep them (like :class:`~chatkit_core.chat.listing.Listing`).

A store keeps, per conversation, one :class:`HandoffRecord` (replaced whole, under optimistic
concurrency: ``version`` must still be what was read) and a bounded log of :class:`StoredEvent`
numbered 1, 2, 3… which the visitor's and the operator's streams replay after a dropped
connection or a restart. Both live as long as the session: erasing or expiring it erases them.
All the rules (who may claim, what each change records) are in :mod:`chatkit_core.chat.handoff`;
a store only reads and writes atomically, so a new store type implements five small methods.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

import msgspec

from chatkit_core.models import to_rfc3339

State = Literal["waiting", "active", "closed"]
Audience = Literal["all", "operator"]

MAX_EVENTS = 500
"""Events kept per conversation; a stream that missed more resumes from the oldest kept."""
MAX_AUDIT = 200
"""Audit entries kept per conversation, the newest."""


def conversation_id_of(session_id: str) -> str:
    """The conversation's id for operators and webhooks: a one-way digest of the session id, so it
    names the conversation without being its secret (the session id has 256 random bits: the digest
    cannot be turned back), and every instance finds it without a look-up."""
    digest = hashlib.sha256(b"chatkit-conversation\x00" + session_id.encode()).digest()[:16]
    return "conv_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Handoff(msgspec.Struct, kw_only=True, rename="camel"):
    """A handoff as the API shows it (visitor and operator alike)."""

    conversation_id: str
    state: State
    operator: str | None
    requested_at: str


class AuditEntry(msgspec.Struct, kw_only=True, frozen=True):
    """A state change: who made it, when (epoch seconds) and what it was."""

    at: float
    who: str
    what: str


class HandoffRecord(msgspec.Struct, kw_only=True):
    """Everything kept about one conversation's handoff; the session id never leaves the server."""

    conversation_id: str
    session_id: str
    state: State = "waiting"
    operator: str | None = None
    requested_at: float = 0.0
    message: str | None = None
    """What the visitor wrote when asking for a person."""
    visitor_locale: str = ""
    operator_locale: str = ""
    alerted: bool = False
    """``handoff.waiting_too_long`` was sent for this request."""
    audit: list[AuditEntry] = msgspec.field(default_factory=list)
    version: int = 0
    """Changes with every write; 0 for a record not stored yet."""

    def public(self) -> Handoff:
        return Handoff(conversation_id=self.conversation_id, state=self.state, operator=self.operator,
                       requested_at=to_rfc3339(self.requested_at))

    def audited(self, who: str, what: str, at: float) -> None:
        self.audit = [*self.audit, AuditEntry(at=at, who=who, what=what)][-MAX_AUDIT:]


class EventDraft(msgspec.Struct, kw_only=True, frozen=True):
    """An event before the store numbers it: its SSE name, who may see it, its JSON data."""

    kind: str
    audience: Audience
    data: str


class StoredEvent(msgspec.Struct, kw_only=True, frozen=True):
    conversation_id: str
    seq: int
    kind: str
    audience: Audience
    data: str


encode_record = msgspec.json.Encoder().encode
decode_record = msgspec.json.Decoder(HandoffRecord).decode
decode_event = msgspec.json.Decoder(StoredEvent).decode


class HandoffStore:
    """What a session store implements, besides :class:`~chatkit_core.chat.sessions.SessionStore`,
    to keep handoffs. Every method raises
    :class:`~chatkit_core.chat.sessions.StoreUnavailable` when the backing service is down."""

    async def handoff(self, conversation_id: str) -> HandoffRecord | None:
        """The record, with the ``version`` it was stored with; None when there is none or its
        session is gone."""
        raise NotImplementedError

    async def put_handoff(self, record: HandoffRecord, draft: EventDraft | None = None) -> StoredEvent | None:
        """Store ``record`` if the stored one still has ``record.version`` (0: none is stored), and
        append ``draft`` to the log in the same transaction. Returns the numbered event (or a
        ``seq`` 0 placeholder without a draft); None when the version moved or the session is
        gone. The stored version is then ``record.version + 1``."""
        raise NotImplementedError

    async def add_event(self, conversation_id: str, draft: EventDraft) -> StoredEvent | None:
        """Append to the log of a conversation that has a record (the next number, keeping the
        newest :data:`MAX_EVENTS`); None when it has none."""
        raise NotImplementedError

    async def events(self, conversation_id: str, after: int, limit: int = 100) -> list[StoredEvent]:
        """Logged events numbered above ``after``, oldest first, at most ``limit``."""
        raise NotImplementedError

    async def open_handoffs(self, limit: int = 200) -> list[HandoffRecord]:
        """Records waiting or active whose session lives, newest request first."""
        raise NotImplementedError


def placeholder(conversation_id: str) -> StoredEvent:
    """What :meth:`HandoffStore.put_handoff` returns for a write without an event."""
    return StoredEvent(conversation_id=conversation_id, seq=0, kind="", audience="operator", data="")
