"""How ``chatkit serve`` treats slow clients: header and body deadlines and a connection cap.

uvicorn closes idle keep-alive connections but gives a client as long as it likes to send
its request headers, so a few hundred connections that each trickle a header byte now and
then (slowloris) hold every file descriptor the process may open, and nobody else gets in.
This protocol (uvicorn's httptools one) adds:

- ``HEADER_TIMEOUT``: a connection must finish its request headers this many seconds after
  it opens, or after its previous response; otherwise it is closed.
- ``BODY_TIMEOUT``: once its headers are in, a request must finish its body within this many
  seconds (bodies are small: ``[server] max_body_bytes``), or the connection is closed.
- a connection cap, ``MAX_CONNECTIONS`` but never more than the process's file limit minus
  ``FD_HEADROOM``: a connection past the cap first closes the oldest one still waiting for
  its headers or its body, so slow clients make way for the next visitor; only busy
  connections count toward refusals (uvicorn's ``limit_concurrency`` answers 503 a little past
  the cap).
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5
MAX_CONNECTIONS = 2048
FD_HEADROOM = 64
PROTOCOL = "chatkit_core.http.serving:SlowClientGuard"


def connection_cap() -> int:
    """``MAX_CONNECTIONS``, lowered so that accepting never runs out of file descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else min(MAX_CONNECTIONS, soft - FD_HEADROOM)
    return max(limit, 16)


def concurrency_limit() -> int:
    """uvicorn answers 503 at this many connections or tasks: above the cap, so that connections
    just evicted but not yet gone (closing takes a loop turn) never cost an honest request."""
    return connection_cap() + FD_HEADROOM // 2


class SlowClientGuard(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with header and body deadlines and eviction of the connections
    that wait for either."""

    waiting: OrderedDict[SlowClientGuard, None] = OrderedDict()
    """Connections still waiting for request headers or a body, oldest first (one server per process)."""
    cap = connection_cap()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        for _ in range(min(len(self.connections) - self.cap, len(self.waiting))):
            oldest, _ = self.waiting.popitem(last=False)  # closing frees its slot a moment later
            oldest.transport.close()
        self._deadline: asyncio.TimerHandle | None = None
        self._await(HEADER_TIMEOUT)

    def _await(self, seconds: float) -> None:
        self._stop_waiting()
        self.waiting[self] = None
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _stop_waiting(self) -> None:
        self.waiting.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self.waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._await(BODY_TIMEOUT)  # a request without a body completes at once, below
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_waiting()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await(HEADER_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)
