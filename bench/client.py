"""A lean HTTP/1.1 keep-alive load client on asyncio + httptools, and the load patterns.

Each :class:`Connection` keeps one socket and sends one request at a time. Open-loop
runs start requests on a fixed schedule and measure each from the moment it was *due*,
so a slow server cannot hide queueing delay (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httptools
import msgspec


class HTTPError(Exception):
    """A request that did not get a complete answer."""


@dataclass
class Reply:
    status: int
    body: bytes
    first_token: float | None
    """When the first token arrived (``time.perf_counter``), for streamed answers."""


class _Protocol(asyncio.Protocol):
    def __init__(self, token_marker: Callable[[], bytes | None]) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.token_marker = token_marker
        self.waiter: asyncio.Future[Reply] | None = None
        self.body: list[bytes] = []
        self.first_token: float | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(HTTPError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self.waiter and not self.waiter.done():
                self.waiter.set_exception(HTTPError(f"bad response: {error}"))
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        if self.first_token is None:
            marker = self.token_marker()
            if marker is not None and marker in body:
                self.first_token = time.perf_counter()
        self.body.append(body)

    def on_message_complete(self) -> None:
        reply = Reply(self.parser.get_status_code(), b"".join(self.body), self.first_token)
        self.body, self.first_token = [], None
        if self.waiter and not self.waiter.done():
            self.waiter.set_result(reply)


class Connection:
    """One keep-alive connection from its own loopback source address."""

    _sources = itertools.cycle(f"127.0.0.{n}" for n in range(2, 255))

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.marker: bytes | None = None
        self.sessions: Any = None
        """The conversations this connection uses (bench.calls.Sessions)."""
        self.protocol: _Protocol | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        # Many source addresses look like many visitors to per-IP rate limits.
        _, self.protocol = await loop.create_connection(
            lambda: _Protocol(lambda: self.marker), self.host, self.port, local_addr=(next(self._sources), 0))

    async def request(self, method: str, path: str, body: bytes = b"", marker: bytes | None = None,
                      headers: str = "") -> Reply:
        if self.protocol is None or self.protocol.closed:
            await self.open()
        protocol = self.protocol
        self.marker = marker
        protocol.waiter = asyncio.get_running_loop().create_future()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n")
        protocol.transport.write(head.encode() + body)
        try:
            return await protocol.waiter
        except BaseException:
            protocol.transport.close()
            raise

    def close(self) -> None:
        if self.protocol is not None:
            self.protocol.transport.close()


Call = Callable[[Connection], Awaitable[Reply]]
"""One request on a connection; must return a 2xx reply for success."""


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    errors: int = 0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies) + self.errors

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.count, "errors": self.errors,
            "error_rate": self.errors / self.count if self.count else 0.0,
            "rps": len(self.latencies) / self.elapsed if self.elapsed else 0.0,
            "p50_ms": percentile(self.latencies, 50), "p99_ms": percentile(self.latencies, 99),
            "ttft_p50_ms": percentile(self.ttfts, 50), "ttft_p99_ms": percentile(self.ttfts, 99),
            "error_reasons": dict(self.reasons.most_common(5)),
        }


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index] * 1000


async def _timed(call: Call, connection: Connection, due: float, sample: Sample) -> None:
    try:
        reply = await call(connection)
    except (HTTPError, OSError) as error:
        sample.errors += 1
        sample.reasons[str(error)[:80]] += 1
        return
    if not 200 <= reply.status < 300:
        sample.errors += 1
        sample.reasons[f"HTTP {reply.status}"] += 1
        return
    sample.latencies.append(time.perf_counter() - due)
    if reply.first_token is not None:
        sample.ttfts.append(reply.first_token - due)


async def open_loop(connections: list[Connection], call: Call, rate: float, duration: float) -> Sample:
    """``rate`` requests a second for ``duration`` seconds, each on a free connection.

    When every connection is busy a request waits for one; that wait counts in its latency.
    """
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        idle.put_nowait(connection)
    sample = Sample()

    async def one(due: float) -> None:
        connection = await idle.get()
        try:
            await _timed(call, connection, due, sample)
        finally:
            idle.put_nowait(connection)

    tasks: set[asyncio.Task] = set()
    start = time.perf_counter()
    total = int(rate * duration)
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    sample.elapsed = time.perf_counter() - start
    return sample


async def closed_loop(connections: list[Connection], call: Call, duration: float) -> Sample:
    """Every connection sends its next request as soon as the last one is answered."""
    sample = Sample()
    stop = time.perf_counter() + duration

    async def worker(connection: Connection) -> None:
        while time.perf_counter() < stop:
            await _timed(call, connection, time.perf_counter(), sample)

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    sample.elapsed = time.perf_counter() - start
    return sample


def json_body(value: object) -> bytes:
    return msgspec.json.encode(value)
