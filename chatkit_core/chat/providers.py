"""What a provider plugin implements, and the errors it raises.

A provider turns a list of chat messages into a stream of text chunks. It does no retries
of its own: the chain (chatkit_core.chat.chain) owns retries, backoff, timeouts and circuit
breaking, and decides from :class:`ProviderError` what to do next.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from chatkit_core.chat.health import Health
from chatkit_core.models import Attachment, Passage, VariantTag


class ProviderOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys every ``[providers.NAME]`` table accepts. Plugins subclass this for their own."""

    type: str
    model: str = ""
    base_url: str = ""
    timeout: float = 30.0
    """Longest wait, in seconds, for the provider to start answering."""
    connect_timeout: float = 5.0
    first_token_timeout: float | None = None
    """Longest wait for the first chunk; defaults to ``timeout``."""
    chunk_timeout: float = 20.0
    """Longest wait between two chunks."""
    max_tokens: int | None = None
    """Most tokens in one answer; unset: ``[chat] max_tokens``; 0: no cap (the server's own)."""
    max_concurrency: int = 0
    """Requests sent upstream at once; the rest wait in ChatKit's queue. 0: no limit."""
    max_queue: int = 100
    """Requests that may wait for a slot; one more fails over at once (``queue_full``)."""
    queue_timeout: float = 120.0
    """Longest wait for a slot, seconds; then the chain fails over (``queue_timeout``)."""
    inputs: list[str] = msgspec.field(default_factory=lambda: ["text"])
    """What the model reads: ``["text"]``, or ``["text", "image"]`` for a model that also takes
    images (a visitor's attached photos reach only such a provider)."""

    @property
    def first_token_wait(self) -> float:
        return self.first_token_timeout or self.timeout

    @property
    def read_timeout(self) -> float:
        """The HTTP client's read timeout: the chain enforces the precise first-token and
        between-chunk limits, this backstop only keeps a dead socket from outliving them."""
        return max(self.first_token_wait, self.chunk_timeout)

    def __post_init__(self) -> None:
        if self.base_url:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        for key in ("timeout", "connect_timeout", "chunk_timeout", "queue_timeout"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be greater than 0")
        if self.first_token_timeout is not None and self.first_token_timeout <= 0:
            raise ValueError("first_token_timeout must be greater than 0")
        for key in ("max_tokens", "max_concurrency", "max_queue"):
            if (getattr(self, key) or 0) < 0:
                raise ValueError(f"{key} must be 0 or more")
        if "text" not in self.inputs or not set(self.inputs) <= set(INPUTS):
            raise ValueError(f'inputs must be ["text"] or ["text", "image"], got {self.inputs!r}')


INPUTS = ("text", "image")


class Image(msgspec.Struct, frozen=True):
    """An image a visitor attached, decoded and re-encoded by ChatKit (no metadata)."""

    media_type: str
    """``image/png``, ``image/jpeg`` or ``image/webp``."""
    data: bytes


class ChatMessage(msgspec.Struct, frozen=True):
    role: str
    """``system``, ``user`` or ``assistant``."""
    content: str
    images: tuple[Image, ...] = ()
    """Images the visitor attached to this message; only a provider whose ``inputs`` include
    ``"image"`` gets any (the chain removes them for the others)."""


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[ChatMessage]
    request_id: str = ""
    passages: list[Passage] = msgspec.field(default_factory=list)
    """The site's passages the core found for the question (already in ``messages`` as a
    system message); a provider may also answer from them directly."""
    locale: str = ""
    """The visitor's language (``en``, ``fr``…) when the widget said it, else empty."""
    max_tokens: int | None = None
    """Most tokens to generate; the chain sets it from the provider's or ``[chat]``'s
    ``max_tokens``. None: no cap."""
    variant: VariantTag | None = None
    """The experiment variant this turn is answered in (the core picks its chain and prompt);
    None outside experiments. Providers may ignore it."""
    attachments: list[Attachment] = msgspec.field(default_factory=list)
    """The files the visitor attached to the question: their text is in the question already,
    images in its ``images``."""

    def without_images(self) -> ChatRequest:
        """The request for a model that reads text only: it is told nothing of the images."""
        if not any(message.images for message in self.messages):
            return self
        messages = [ChatMessage(m.role, m.content) if m.images else m for m in self.messages]
        return msgspec.structs.replace(self, messages=messages)


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    """One piece of a streamed answer. ``usage`` usually comes on the last one."""

    text: str = ""
    usage: dict[str, Any] | None = None
    truncated: bool = False
    """The upstream stopped at the length cap (``finish_reason``/``done_reason`` ``length``)."""


class ProviderError(Exception):
    """An upstream failure, classified for the chain.

    ``kind`` is a short code for logs and metrics: ``connect``, ``timeout``,
    ``rate_limited``, ``server``, ``bad_response``, ``auth``, ``not_found``,
    ``bad_request`` (the chain adds ``queue_full`` and ``queue_timeout``). ``retryable``
    errors are retried with backoff on the same provider; others fail over at once.
    ``trip`` opens the provider's circuit at once (a bad key will not fix itself).
    ``retry_after`` is the upstream's Retry-After, in seconds.
    The message is for logs and operators; it never reaches a site visitor.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "server",
        retryable: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
        trip: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.trip = trip

    @property
    def provider_wide(self) -> bool:
        """Says something about the provider, not about one request: counts toward its circuit.

        A non-retryable content error (one message refused) never does, so a visitor cannot
        switch a provider off for everyone.
        """
        return self.trip or self.retryable or self.kind in PROVIDER_WIDE


PROVIDER_WIDE = frozenset({"auth", "connect", "server", "timeout"})


class Provider:
    """Base class for provider types.

    Subclasses set ``Options`` to their options Struct and implement :meth:`stream`.
    One instance exists per ``[providers.NAME]`` table, for the life of the app:
    :meth:`start` and :meth:`close` run in the app's lifespan, so pooled clients live there.
    """

    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    example: ClassVar[bool] = False
    """True for a stand-in that answers without a model; ``config check`` warns about it."""
    generates: ClassVar[bool] = True
    """False for a provider that answers without a language model (one that quotes the site's
    pages): it is never asked to translate a handoff's messages."""

    def __init__(self, name: str, options: ProviderOptions) -> None:
        self.name = name
        self.options = options

    @property
    def model(self) -> str:
        return self.options.model

    @property
    def takes_images(self) -> bool:
        return "image" in self.options.inputs

    def problems(self) -> list[str]:
        """Configuration problems to refuse at start-up (a missing API key, say)."""
        return []

    async def start(self) -> None:
        """Open clients. Runs once at app start-up."""

    async def close(self) -> None:
        """Close clients. Runs once at app shutdown."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        """Stream the answer to ``request``.

        Raise :class:`ProviderError` for every upstream failure, including a stream that
        ends before the upstream said it was complete. Closing the iterator early (the
        visitor went away) must release the upstream connection.
        """
        raise NotImplementedError

    async def health(self) -> Health:
        """Probe the upstream cheaply for ``/health``."""
        return Health("unknown")
