"""The handoff webhook: a signed JSON POST when a visitor asks for a person and when a request has
waited too long, sent in the background so no request ever waits for it.

The body is ``{"event", "conversationId", "message", "requestedAt"}``; ``X-ChatKit-Signature`` is
``sha256=`` and the hex HMAC-SHA256 of the raw body under ``webhook_secret``, and
``X-ChatKit-Delivery`` names the delivery (the same on every attempt, for receivers that dedupe).
A delivery that fails (a network error, a timeout, 408, 429 or 5xx) is tried again after a backoff
that doubles; other answers are final. Pending deliveries are bounded: beyond the queue's size the
newest is dropped and logged. They live in the process that queued them (a restart drops them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import msgspec
import structlog

# httpx loads only where a webhook is configured: a worker without one does not carry it.
if TYPE_CHECKING:
    import httpx

log = structlog.get_logger("chatkit.webhook")

MAX_PENDING = 1000
WORKERS = 2
_RETRY_STATUSES = frozenset({408, 425, 429})


class Notice(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=False):
    event: str
    conversation_id: str
    message: str | None
    requested_at: str


def signature(secret: str, body: bytes) -> str:
    """The ``X-ChatKit-Signature`` of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, url: str, secret: str, *, attempts: int = 5, backoff: float = 1.0,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(MAX_PENDING)
        self._client: httpx.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        import httpx

        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        self._workers = [asyncio.create_task(self._work()) for _ in range(WORKERS)]

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def send(self, notice: Notice) -> None:
        """Queue ``notice``; returns at once."""
        try:
            self.queue.put_nowait((secrets.token_hex(12), msgspec.json.encode(notice)))
        except asyncio.QueueFull:
            log.error("webhook_dropped", notice=notice.event, reason="queue full", pending=MAX_PENDING)

    async def _work(self) -> None:
        while True:
            delivery, body = await self.queue.get()
            try:
                await self._deliver(delivery, body)
            except Exception:  # one bad delivery must not stop the worker
                log.exception("webhook_failed", delivery=delivery)

    async def _deliver(self, delivery: str, body: bytes) -> None:
        import httpx

        headers = {"Content-Type": "application/json", "X-ChatKit-Signature": signature(self.secret, body),
                   "X-ChatKit-Delivery": delivery}
        for attempt in range(1, self.attempts + 1):
            assert self._client is not None
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as error:
                outcome, final = type(error).__name__, False
            else:
                outcome = str(response.status_code)
                if response.is_success:
                    log.info("webhook_sent", delivery=delivery, attempt=attempt)
                    return
                final = response.status_code < 500 and response.status_code not in _RETRY_STATUSES
            if final or attempt == self.attempts:
                log.error("webhook_gave_up", delivery=delivery, attempt=attempt, outcome=outcome)
                return
            log.warning("webhook_retry", delivery=delivery, attempt=attempt, outcome=outcome)
            await asyncio.sleep(min(self.backoff * 2 ** (attempt - 1), 300.0))
