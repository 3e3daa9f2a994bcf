"""The built-in ``memory`` session store: one process, conversations gone on restart."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Any

from chatkit_core.builtins.memory_attachments import MemoryAttachments
from chatkit_core.builtins.memory_handoffs import MemoryHandoffs
from chatkit_core.chat.attachments import StoredAttachment
from chatkit_core.chat.handoff_store import conversation_id_of
from chatkit_core.chat.listing import (
    ConversationPage,
    ConversationQuery,
    ConversationSummary,
    Flags,
    Listing,
    decode_cursor,
    encode_cursor,
    summary,
    words,
)
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions, unanswered
from chatkit_core.models import Feedback, Message, Session


class MemoryOptions(SessionStoreOptions, kw_only=True, forbid_unknown_fields=True):
    max_sessions: int = 100_000
    """Beyond this a session is dropped: the oldest that never got a message, else the least
    recently active one."""
    max_attachment_bytes: int = 256 * 1024 * 1024
    """Bytes of visitors' attachments held in all (``[uploads]``); beyond it, uploads wait for room."""


class _Conversation:
    __slots__ = ("attachments", "messages", "session")

    def __init__(self, session: Session, max_messages: int) -> None:
        self.session = session
        self.messages: deque[Message] = deque(maxlen=max_messages)
        self.attachments: dict[str, StoredAttachment] = {}


class MemoryStore(SessionStore, Listing, MemoryHandoffs, MemoryAttachments):
    """Sessions in a dict ordered by last activity, so expiry and eviction pop from the front.

    When full, a new session first displaces sessions nobody has written in yet, oldest
    first, so a flood of new sessions does not end conversations in progress.
    """

    Options = MemoryOptions
    options: MemoryOptions

    def __init__(self, options: MemoryOptions) -> None:
        SessionStore.__init__(self, options)
        MemoryHandoffs.__init__(self)
        self.max_handoffs = options.max_sessions
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._revoked: dict[str, float] = {}
        self._unused: OrderedDict[str, None] = OrderedDict()
        """Sessions without a message yet, oldest first."""

    async def create(self, metadata: dict[str, Any]) -> Session:
        self._expire()
        while len(self._conversations) >= self.options.max_sessions:
            self._evict()
        session = self._new_session(metadata)
        self._conversations[session.id] = _Conversation(session, self.options.max_messages)
        self._unused[session.id] = None
        return session

    def _evict(self) -> None:
        if self._unused:
            self._conversations.pop(self._unused.popitem(last=False)[0], None)
        else:
            self._conversations.popitem(last=False)

    def _live(self, session_id: str) -> _Conversation | None:
        conversation = self._conversations.get(session_id)
        if conversation and time.time() - conversation.session.last_seen > self.ttl:
            del self._conversations[session_id]
            self._unused.pop(session_id, None)
            return None
        return conversation

    def _expire(self) -> None:
        cutoff = time.time() - self.ttl
        while self._conversations:
            oldest = next(iter(self._conversations.values()))
            if oldest.session.last_seen > cutoff:
                break
            self._unused.pop(self._conversations.popitem(last=False)[0], None)

    def _alive(self, session_id: str) -> bool:
        return self._live(session_id) is not None

    async def get(self, session_id: str) -> Session | None:
        conversation = self._live(session_id)
        return conversation.session if conversation else None

    async def append(self, session_id: str, message: Message) -> bool:
        conversation = self._live(session_id)
        if conversation is None:
            return False
        conversation.messages.append(message)
        conversation.session.last_seen = time.time()
        self._conversations.move_to_end(session_id)
        self._unused.pop(session_id, None)
        return True

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        conversation = self._live(session_id)
        if conversation is None:
            return None
        items = list(conversation.messages)
        return items[-limit:] if limit else items

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        history = await self.messages(session_id, limit)
        if history is None or unanswered(history, question):
            return history
        await self.append(session_id, question)
        return [*history, question][-limit:]

    async def delete(self, session_id: str) -> bool:
        self._unused.pop(session_id, None)
        self._forget_handoff(conversation_id_of(session_id))
        return self._conversations.pop(session_id, None) is not None

    async def count(self) -> int:
        self._expire()
        return len(self._conversations)

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        conversation = self._live(session_id)
        for message in conversation.messages if conversation else ():
            if message.id == message_id and message.role == "assistant":
                message.feedback = feedback
                return message
        return None

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        """A scan, newest first: one process holds few enough conversations for that."""
        after = decode_cursor(cursor) if cursor else None
        self._expire()
        wanted = set(words(query.text))
        found: list[ConversationSummary] = []
        ordered = sorted(self._conversations.values(), key=lambda c: (c.session.created_at, c.session.id),
                         reverse=True)
        for conversation in ordered:
            session, messages = conversation.session, list(conversation.messages)
            if not messages or (after and (session.created_at, session.id) >= after):
                continue
            if (query.since is not None and session.created_at < query.since) or (
                    query.until is not None and session.created_at >= query.until):
                continue
            if not Flags.of(messages).match(query):
                continue
            if wanted and not wanted <= {w for m in messages for w in words(m.content)}:
                continue
            if len(found) == limit:
                return ConversationPage(items=found, next=encode_cursor(found[-1].created_at, found[-1].id))
            found.append(summary(session, messages))
        return ConversationPage(items=found)

    async def erase_inactive(self, before: float) -> int:
        gone = [key for key, c in self._conversations.items() if c.session.last_seen < before]
        for key in gone:
            del self._conversations[key]
        return len(gone)

    async def revoke(self, sign_in: str, until: float) -> None:
        now = time.time()
        self._revoked = {key: end for key, end in self._revoked.items() if end > now}
        self._revoked[sign_in] = until

    async def revoked(self, sign_in: str) -> bool:
        return self._revoked.get(sign_in, 0.0) > time.time()
