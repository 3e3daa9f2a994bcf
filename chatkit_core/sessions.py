"""Conversations, their messages, and what a session store implements."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from litestar.params import KwargDefinition

from chatkit_core.durations import parse_duration
from chatkit_core.health import Health
from chatkit_core.knowledge import Source

SESSION_ID_BYTES = 32  # 256 bits from the OS CSPRNG; 43 URL-safe characters

# ``metadata`` of a new session: nothing in ChatKit reads it, so it is kept small. At most 8
# keys of up to 32 characters (letters, digits, ``_.-``), each a string of up to 200
# characters, a number, a boolean or null: under 2 KB a session.
_KEY = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Za-z0-9_.-]+$"}
MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=_KEY["pattern"])]
MetadataValue = Annotated[str, msgspec.Meta(max_length=200)] | int | float | bool | None
Metadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=8), KwargDefinition(schema_extra={
    # msgspec checks all of this; the OpenAPI schema says the same.
    "maxProperties": 8, "propertyNames": _KEY, "additionalProperties": {"anyOf": [
        {"type": "string", "maxLength": 200}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]},
})]


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(12)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Feedback(msgspec.Struct, kw_only=True):
    """A visitor's rating of one answer."""

    rating: Literal["up", "down"]
    comment: str = ""


class Message(msgspec.Struct, kw_only=True, rename="camel"):
    """One message of a conversation, as stored and as the API returns it.

    ``content`` is sanitized text. ``incomplete`` marks an answer cut off after it began
    (the provider failed mid-stream or the visitor left); ``fallbacks`` names the providers
    that failed before ``provider`` answered, as ``"name:kind"``. ``truncated`` marks an
    answer the provider stopped at its length cap. ``sources`` lists the site's pages the
    answer was grounded in.
    """

    id: str
    role: Literal["user", "assistant"]
    content: str
    created_at: str
    provider: str | None = None
    model: str | None = None
    incomplete: bool = False
    fallbacks: list[str] = msgspec.field(default_factory=list)
    usage: dict[str, Any] | None = None
    truncated: bool = False
    sources: list[Source] = msgspec.field(default_factory=list)
    feedback: Feedback | None = None


class Session(msgspec.Struct, kw_only=True):
    id: str
    created_at: float
    last_seen: float
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    def expires_at(self, ttl: float) -> float:
        return self.last_seen + ttl


class SessionStoreOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys of ``[sessions]``. Store types subclass this for their own keys."""

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
