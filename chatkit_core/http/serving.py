"""How ``chatkit serve`` treats slow clients: a header deadline and a connection cap.

uvicorn closes idle keep-alive connections but gives a client as long as it likes to send
its request headers, so a few hundred connections that each trickle a header byte now and
then (slowloris) hold every file descriptor the process may open, and nobody else gets in.
This protocol (uvicorn's httptools one) adds:

- ``HEADER_TIMEOUT``: a connection must finish its request headers this many seconds after
  it opens, or after its previous response; otherwise it is closed.
- a connection cap, ``MAX_CONNECTIONS`` but never more than the process's file limit minus
  ``FD_HEADROOM``: a connection past the cap first closes the oldest one still waiting for
  its headers, so slow clients make way for the next visitor; only busy connections count
  toward refusals (uvicorn's ``limit_concurrency`` answers 503 a little past the cap).
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
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
    """uvicorn's HTTP/1.1 protocol with a header deadline and eviction of header-waiting connections."""

    waiting: OrderedDict[SlowClientGuard, None] = OrderedDict()
    """Connections still waiting for request headers, oldest first (one server per process)."""
    cap = connection_cap()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        for _ in range(min(len(self.connections) - self.cap, len(self.waiting))):
            oldest, _ = self.waiting.popitem(last=False)  # closing frees its slot a moment later
            oldest.transport.close()
        self._header_deadline: asyncio.TimerHandle | None = None
        self._await_headers()

    def _await_headers(self) -> None:
        self._stop_waiting()
        self.waiting[self] = None
        self._header_deadline = self.loop.call_later(HEADER_TIMEOUT, self._too_slow)

    def _stop_waiting(self) -> None:
        self.waiting.pop(self, None)
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self.waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)
