"""A scriptable HTTP/1.1 server on loopback, the base of the fake model upstreams.

The server runs an asyncio loop in its own thread, so sync and async tests use it alike.
HTTP framing is done by h11; each fake (``FakeOllama``, ``FakeOpenAI``) turns a
:class:`Script` into its own wire format and plays it through :func:`play`, which also
produces the failures: hang, stall, cut connection, malformed frame, in-band error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal

import h11

Fault = Literal["hang", "stall", "cut", "end", "malformed", "error"]
"""How a scripted response goes wrong.

- ``hang``: read the request, never send a byte back.
- ``stall``: send ``after`` chunks, then go silent with the connection open.
- ``cut``: send ``after`` chunks, then close the connection mid-body.
- ``end``: send ``after`` chunks, then end the body cleanly but without the done marker.
- ``malformed``: send ``after`` chunks, then one frame of invalid JSON, then the rest.
- ``error``: send ``after`` chunks, then an in-band error frame, then end the body.
"""


@dataclass
class Script:
    """One scripted response. Times are in seconds."""

    text: str = "Hello! How can I help you today?"
    chunks: int | None = None
    """Split ``text`` into this many pieces; ``None`` streams it word by word."""
    latency: float = 0.0
    """Delay before the response headers."""
    first_chunk_delay: float = 0.0
    """Delay after the headers, before the first chunk."""
    chunk_delay: float = 0.0
    """Delay between chunks."""
    status: int = 200
    error: str | None = None
    """Error message for ``status`` >= 400 or for an in-band error; a realistic default otherwise."""
    retry_after: str | None = None
    """``Retry-After`` header value sent with an error status."""
    fault: Fault | None = None
    after: int = 0
    """Chunks sent before ``fault`` strikes."""
    finish: str = "stop"
    """Why the answer ended: ``finish_reason`` / ``done_reason``. A request's token cap
    (``max_tokens``, ``num_predict``) shorter than the pieces ends it at the cap with ``length``."""

    def pieces(self) -> list[str]:
        if self.chunks is None:
            return re.findall(r"\s*\S+", self.text) or [self.text]
        size = -(-len(self.text) // max(self.chunks, 1)) or 1
        return [self.text[i : i + size] for i in range(0, len(self.text), size)] or [""]

    def capped(self, cap: int | None) -> tuple[list[str], str]:
        """The pieces a model generates under a cap of ``cap`` tokens (one piece each), and why it stopped."""
        pieces = self.pieces()
        if cap is not None and 0 <= cap < len(pieces):
            return pieces[:cap], "length"
        return pieces, self.finish


@dataclass
class Recorded:
    """A request the fake received and what became of its response."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    disconnected: bool = False
    """The client closed the connection before the response was complete."""
    completed: bool = False
    """The whole response was sent."""
    chunks_sent: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Frames:
    """A streamed response in a protocol's own encoding."""

    content_type: str
    chunks: list[bytes]
    final: list[bytes]
    """Frames that complete the stream (done line, usage, ``[DONE]``)."""
    error: bytes
    malformed: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    opening: list[bytes] = field(default_factory=list)
    """Frames sent before the first chunk, not counted by ``Script.after``."""


class Disconnected(Exception):
    """The client went away mid-response."""


class Responder:
    """Writes one response on a connection and notices when the client leaves."""

    def __init__(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        gone: asyncio.Future[None],
        record: Recorded,
        shutdown: asyncio.Event,
    ) -> None:
        self._conn = conn
        self._writer = writer
        self._gone = gone
        self._shutdown = shutdown
        self.record = record
        self.was_cut = False

    async def sleep(self, seconds: float) -> None:
        """Wait, but stop at once (raising Disconnected) if the client leaves."""
        if self._gone.done():
            raise Disconnected
        waiter = asyncio.ensure_future(asyncio.sleep(seconds))
        stopper = asyncio.ensure_future(self._shutdown.wait())
        try:
            await asyncio.wait([waiter, self._gone, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()
        if self._gone.done():
            raise Disconnected

    async def wait(self, awaitable: asyncio.Future[object]) -> None:
        """Wait for ``awaitable``, but raise Disconnected at once (cancelling it) if the client leaves."""
        try:
            await asyncio.wait([awaitable, self._gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not awaitable.done():
                awaitable.cancel()
        if self._gone.done():
            raise Disconnected

    async def hang(self) -> None:
        await self.sleep(3600)

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        await self._send(h11.Response(status_code=status, headers=[*headers, ("date", formatdate(usegmt=True))]))

    async def data(self, payload: bytes) -> None:
        await self._send(h11.Data(data=payload))

    async def end(self) -> None:
        await self._send(h11.EndOfMessage())
        self.record.completed = True

    async def json(
        self, status: int, body: Any, headers: list[tuple[str, str]] | None = None, raw: bytes | None = None
    ) -> None:
        payload = raw if raw is not None else json.dumps(body, separators=(",", ":")).encode()
        await self.start(
            status,
            [
                ("content-type", "application/json; charset=utf-8"),
                ("content-length", str(len(payload))),
                *(headers or []),
            ],
        )
        await self.data(payload)
        await self.end()

    def cut(self) -> None:
        self.was_cut = True
        self._writer.transport.close()

    async def _send(self, event: Any) -> None:
        if self._gone.done():
            raise Disconnected
        self._writer.write(self._conn.send(event))
        try:
            await self._writer.drain()
        except ConnectionError:
            raise Disconnected from None


async def arrive(r: Responder, script: Script) -> bool:
    """Wait out the script's latency; False when the script hangs instead of answering."""
    await r.sleep(script.latency)
    if script.fault == "hang":
        await r.hang()
        return False
    return True


async def play(r: Responder, script: Script, frames: Frames) -> None:
    """Send ``frames`` paced and broken as ``script`` says (after :func:`arrive`)."""
    await r.start(200, [("content-type", frames.content_type), *frames.headers])
    await r.sleep(script.first_chunk_delay)
    for chunk in frames.opening:
        await r.data(chunk)
    for index, chunk in enumerate(frames.chunks):
        if script.fault and index == script.after and await _fault(r, script.fault, frames):
            return
        if index:
            await r.sleep(script.chunk_delay)
        await r.data(chunk)
        r.record.chunks_sent += 1
    if script.fault and script.after >= len(frames.chunks) and await _fault(r, script.fault, frames):
        return
    for chunk in frames.final:
        await r.data(chunk)
    await r.end()


async def _fault(r: Responder, fault: Fault, frames: Frames) -> bool:
    """Strike ``fault``; True when the response is over."""
    if fault == "malformed":
        await r.data(frames.malformed)
        return False
    if fault == "stall":
        await r.hang()
    elif fault == "cut":
        r.cut()
    elif fault == "error":
        await r.data(frames.error)
        await r.end()
    elif fault == "end":
        await r.end()
    return True


class FakeServer:
    """Base of the fakes: accepts connections, parses requests, records them, routes them.

    Subclasses implement :meth:`handle`. Scripts queued with :meth:`script` are used one per
    request to a path, in order; when a path's queue is empty, ``default`` answers.
    """

    chat_path = "/"

    def __init__(self) -> None:
        self.default = Script()
        self.requests: list[Recorded] = []
        self._queues: dict[str, deque[Script]] = {}
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._shutdown: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = 0
        """TCP connections accepted so far (keep-alive reuse shows here)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *scripts: Script, path: str | None = None) -> None:
        """Queue ``scripts`` for the next requests to ``path`` (the chat route by default)."""
        with self._changed:
            self._queues.setdefault(path or self.chat_path, deque()).extend(scripts)

    def next_script(self, path: str) -> Script:
        with self._changed:
            queue = self._queues.get(path)
            return queue.popleft() if queue else self.default

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == self.chat_path]

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` is true; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def wait_disconnect(self, timeout: float = 5.0) -> bool:
        """Block until a client left mid-response."""
        return self.wait_for(lambda fake: any(r.disconnected for r in fake.requests), timeout)

    async def handle(self, request: Recorded, respond: Responder) -> None:
        raise NotImplementedError

    # lifecycle

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name=type(self).__name__)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._open())
        ready.set()
        self._loop.run_forever()

    async def _open(self) -> None:
        self._shutdown = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None and self._shutdown is not None
        self._shutdown.set()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._exchange(conn, reader, writer):
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _exchange(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is over."""
        request: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed):
                return False
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert request is not None
        record = Recorded(
            method=request.method.decode(),
            path=request.target.decode().split("?")[0],
            headers={k.decode().lower(): v.decode() for k, v in request.headers},
            body=body,
        )
        with self._changed:
            self.requests.append(record)
            self._changed.notify_all()
        gone = asyncio.ensure_future(_client_gone(conn, reader))
        assert self._shutdown is not None
        responder = Responder(conn, writer, gone, record, self._shutdown)
        try:
            await self.handle(record, responder)
        except Disconnected:
            pass
        finally:
            client_left = gone.done() and not responder.was_cut
            gone.cancel()
            await asyncio.wait([gone])
            with self._changed:
                record.disconnected = client_left and not record.completed
                self._changed.notify_all()
        return record.completed and not client_left and not responder.was_cut


async def _client_gone(conn: h11.Connection, reader: asyncio.StreamReader) -> None:
    """Finishes when the client closes its side.

    A client sends nothing mid-response; bytes read here are its next keep-alive request,
    handed to h11 for the next cycle.
    """
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            conn.receive_data(data)


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
