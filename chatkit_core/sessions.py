"""Conversations, their messages, and what a session store implements."""

from __future__ import annotations

import base64
import binascii
import html
import re
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
    answer was grounded in. ``cached`` marks an answer given again from the answer cache,
    without a model call.
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
    cached: bool = False


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

    # The operator's view (optional: a store without it leaves the console and feedback off).

    async def set_feedback(self, session_id: str, message_id: str, feedback: Feedback) -> Message | None:
        """Store ``feedback`` on the assistant message ``message_id``, replacing any earlier
        rating, and return the updated message; None when the session or that assistant
        message is gone. The update is atomic: a concurrent append loses nothing."""
        raise NotImplementedError

    async def list_conversations(self, query: ConversationQuery, cursor: str | None = None,
                                 limit: int = 50) -> ConversationPage:
        """Conversations holding at least one message, newest (by start) first.

        ``cursor`` is the opaque ``next`` of the previous page; a malformed one raises
        :class:`BadCursor`. A conversation matches when every word of ``query.text`` occurs in
        its messages and each set filter holds for at least one of its answers.
        """
        raise NotImplementedError

    async def erase_inactive(self, before: float) -> int:
        """Erase every conversation whose last activity is older than ``before`` (epoch seconds);
        how many went. The retention sweep calls it."""
        raise NotImplementedError


# Listing and search, for the console. Kept beside the store contract they belong to.

WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORD = 64


def words(text: str) -> list[str]:
    """The words search matches: lower-cased runs of letters and digits, entities decoded."""
    return [w[:MAX_WORD] for w in WORD.findall(html.unescape(text).lower())]


class ConversationQuery(msgspec.Struct, kw_only=True, frozen=True):
    """What the console asks a store for. Empty fields do not filter."""

    text: str = ""
    """Words that must all occur in the conversation's messages."""
    thumbs_down: bool = False
    incomplete: bool = False
    fell_back: bool = False
    unsourced: bool = False
    """An answer with no sources (with a knowledge base, it found nothing)."""
    provider: str = ""
    since: float | None = None
    """Conversations started at or after this time (epoch seconds)."""
    until: float | None = None
    """Conversations started before this time."""


class ConversationSummary(msgspec.Struct, kw_only=True):
    id: str
    created_at: float
    last_seen: float
    title: str
    """The first question, as stored (sanitized text)."""
    messages: int
    providers: list[str] = msgspec.field(default_factory=list)
    thumbs_down: bool = False
    incomplete: bool = False
    fell_back: bool = False
    unsourced: bool = False


class ConversationPage(msgspec.Struct, kw_only=True):
    items: list[ConversationSummary]
    next: str | None = None
    """Cursor of the following page; None on the last."""


class BadCursor(ValueError):
    """A cursor that no listing produced."""


class Flags(msgspec.Struct, kw_only=True):
    """What the filters look at, gathered over a conversation's answers."""

    providers: set[str] = msgspec.field(default_factory=set)
    thumbs_down: bool = False
    incomplete: bool = False
    fell_back: bool = False
    unsourced: bool = False

    @classmethod
    def of(cls, messages: list[Message]) -> Flags:
        flags = cls()
        for message in messages:
            if message.role != "assistant":
                continue
            if message.provider:
                flags.providers.add(message.provider)
            flags.thumbs_down |= message.feedback is not None and message.feedback.rating == "down"
            flags.incomplete |= message.incomplete
            flags.fell_back |= bool(message.fallbacks)
            flags.unsourced |= not message.sources
        return flags

    def match(self, query: ConversationQuery) -> bool:
        return ((not query.thumbs_down or self.thumbs_down) and (not query.incomplete or self.incomplete)
                and (not query.fell_back or self.fell_back) and (not query.unsourced or self.unsourced)
                and (not query.provider or query.provider in self.providers))


def summary(session: Session, messages: list[Message]) -> ConversationSummary:
    flags = Flags.of(messages)
    title = next((m.content for m in messages if m.role == "user"), "")
    return ConversationSummary(
        id=session.id, created_at=session.created_at, last_seen=session.last_seen, title=title[:200],
        messages=len(messages), providers=sorted(flags.providers), thumbs_down=flags.thumbs_down,
        incomplete=flags.incomplete, fell_back=flags.fell_back, unsourced=flags.unsourced)


def encode_cursor(created_at: float, session_id: str) -> str:
    raw = msgspec.json.encode([created_at, session_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, session_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)),
                                                     type=tuple[float, str])
    except (ValueError, msgspec.DecodeError, binascii.Error):
        raise BadCursor("not a cursor from this listing") from None
    return created_at, session_id
