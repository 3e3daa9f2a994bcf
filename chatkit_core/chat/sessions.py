"""What a session store implements: keeping conversations and their messages.

The console's listing and search (:mod:`chatkit_core.chat.listing`) is a separate, optional
interface a store may also implement.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import msgspec
import structlog

from chatkit_core.chat.errors import ConversationsUnavailable
from chatkit_core.chat.health import Health
from chatkit_core.durations import parse_duration
from chatkit_core.models import Feedback, Message, Session, new_session_id


class SessionStoreOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys of ``[sessions]``. Store types subclass this for their own keys.

    ``config_paths`` names the keys that hold paths (or ``sqlite:///`` URLs): the core makes them
    absolute against the config file's folder before decoding. A subclass may name more.
    """

    config_paths: ClassVar[tuple[str, ...]] = ("url",)
    store: str = "memory"
    url: str = ""
    ttl: str | float = "24h"
    """Inactivity after which a session is gone."""
    max_messages: int = 1000
    """Messages kept per conversation; the oldest go first."""
    new_per_minute: int = 30
    """Without a rate limiter installed: new sessions a client address may start a minute (0: no cap)."""

    def __post_init__(self) -> None:
        parse_duration(self.ttl)
        if self.max_messages < 2:
            raise ValueError("max_messages must be at least 2")
        if self.new_per_minute < 0:
            raise ValueError("new_per_minute must be 0 (no cap) or more")

    @property
    def ttl_seconds(self) -> float:
        return parse_duration(self.ttl)


class StoreUnavailable(Exception):
    """The store cannot be reached; the API answers 503 and loses nothing it acknowledged."""


class SessionStore:
    """Base class for session store types. All methods are coroutines.

    Every read treats a session idle for longer than the TTL as gone. ``append`` refreshes
    the session's activity time. Methods raise :class:`StoreUnavailable` when the backing
    service is down.
    """

    Options: ClassVar[type[SessionStoreOptions]] = SessionStoreOptions

    def __init__(self, options: SessionStoreOptions) -> None:
        self.options = options
        self.ttl = options.ttl_seconds

    async def start(self) -> None:
        """Open connections. Runs once at app start-up."""

    async def close(self) -> None:
        """Close connections. Runs once at app shutdown."""

    async def create(self, metadata: dict[str, Any]) -> Session:
        raise NotImplementedError

    async def get(self, session_id: str) -> Session | None:
        raise NotImplementedError

    async def append(self, session_id: str, message: Message) -> bool:
        """Add ``message``; False when the session is gone."""
        raise NotImplementedError

    async def messages(self, session_id: str, limit: int | None = None) -> list[Message] | None:
        """The last ``limit`` messages (all when None), oldest first; None when gone."""
        raise NotImplementedError

    async def ask(self, session_id: str, question: Message, limit: int) -> list[Message] | None:
        """Store the visitor's ``question`` and return the last ``limit`` messages ending with
        it; None when the session is gone.

        When the last stored message is a question with the same content (asking again what
        went unanswered), that one is kept and ``question`` is not stored twice. Composed
        from :meth:`messages` and :meth:`append`; a store overrides it to do both at once.
        """
        history = await self.messages(session_id, limit)
        if history is None:
            return None
        if unanswered(history, question):
            return history
        if not await self.append(session_id, question):
            return None
        return [*history, question][-limit:]

    async def delete(self, session_id: str) -> bool:
        raise NotImplementedError

    async def count(self) -> int:
        """Live sessions, for the active-sessions gauge."""
        raise NotImplementedError

    async def health(self) -> Health:
        return Health("up")

    def _new_session(self, metadata: dict[str, Any]) -> Session:
        now = time.time()
        return Session(id=new_session_id(), created_at=now, last_seen=now, metadata=metadata)

    # The operator's view (optional: a store without it leaves the console and feedback off).

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        """Store ``feedback`` on the assistant message ``message_id``, replacing any earlier
        rating, and return the updated message; None when the session or that assistant
        message is gone. The update is atomic: a concurrent append loses nothing."""
        raise NotImplementedError


def unanswered(history: list[Message], question: Message) -> bool:
    """Whether ``history`` already ends with ``question``, stored and not yet answered."""
    return bool(history) and history[-1].role == "user" and history[-1].content == question.content


@contextlib.asynccontextmanager
async def store_outage() -> AsyncIterator[None]:
    """A store outage becomes :class:`ConversationsUnavailable` (503 over HTTP): nothing
    acknowledged is lost, and the visitor is told to try again."""
    try:
        yield
    except StoreUnavailable as error:
        structlog.get_logger("chatkit.sessions").error("store_unavailable", error=str(error))
        raise ConversationsUnavailable() from None
