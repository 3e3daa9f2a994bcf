"""The models every room shares: a conversation's messages and session, the sources and passages
an answer is grounded in, and how ids and times are written.

Plain msgspec structs; text in them is stored as written (after the configured sanitizers) and
escaped only where it is shown.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of a page that matches a query. ``score`` is higher for better matches."""

    text: str
    title: str = ""
    url: str = ""
    score: float = 0.0


class Source(msgspec.Struct, frozen=True):
    """A page an answer was grounded in, as the API shows it."""

    title: str
    url: str


SESSION_ID_BYTES = 32  # 256 bits from the OS CSPRNG; 43 URL-safe characters

# ``metadata`` of a new session: nothing in ChatKit reads it, so it is kept small. At most 8
# keys of up to 32 characters (letters, digits, ``_.-``), each a string of up to 200
# characters, a number, a boolean or null: under 2 KB a session.
METADATA_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Za-z0-9_.-]+$"}
MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=METADATA_KEY_SCHEMA["pattern"])]
MetadataValue = Annotated[str, msgspec.Meta(max_length=200)] | int | float | bool | None
Metadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=8)]


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


class VariantTag(msgspec.Struct, frozen=True):
    """The experiment variant an answer was given in (``[experiments.NAME.variants.VARIANT]``)."""

    experiment: str
    name: str


class Attachment(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A file a visitor attached to a question, as the API shows it (its content is served apart).

    ``type`` is what the bytes were found to be (``image/png``, ``image/jpeg``, ``image/webp``,
    ``application/pdf``, ``text/plain``, ``text/markdown``), never what the name or the upload's
    header said; ``bytes`` is the size kept (an image re-encoded, a document's text); ``name`` the
    file's name, cleaned. On an answer, ``used`` says what its model took of the attachment:
    ``whole``, ``part`` (a document's text was cut at the limit) or ``none`` (an image given to a
    model that reads text only); a question's attachments have none.
    """

    id: str
    type: str
    bytes: int
    name: str
    used: Literal["whole", "part", "none"] | None = None


class Message(msgspec.Struct, kw_only=True, rename="camel"):
    """One message of a conversation, as stored and as the API returns it.

    ``content`` is sanitized text. ``incomplete`` marks an answer cut off after it began
    (the provider failed mid-stream or the visitor left); ``fallbacks`` names the providers
    that failed before ``provider`` answered, as ``"name:kind"``. ``truncated`` marks an
    answer the provider stopped at its length cap. ``sources`` lists the site's pages the
    answer was grounded in. ``cached`` marks an answer given again from the answer cache,
    without a model call. ``variant`` names the experiment variant the answer was given in;
    absent (unset, left out of JSON) when none. ``role`` is ``operator`` for a person's reply
    during a handoff (:mod:`chatkit_core.chat.handoff`); the model reads those as the site's own
    answers.
    ``attachments`` lists a question's attached files, and on its answer how much of each the
    model was given.
    """

    id: str
    role: Literal["user", "assistant", "operator"]
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
    variant: VariantTag | msgspec.UnsetType = msgspec.UNSET
    attachments: list[Attachment] = msgspec.field(default_factory=list)


class Session(msgspec.Struct, kw_only=True):
    id: str
    created_at: float
    last_seen: float
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    def expires_at(self, ttl: float) -> float:
        return self.last_seen + ttl


