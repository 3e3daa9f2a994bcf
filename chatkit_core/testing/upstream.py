"""A scriptable HTTP/1.1 upstream on loopback, for provider plugins' tests.

It speaks real HTTP on a real socket, in a thread of its own, so sync and async tests use
it alike. Each chat request takes the next queued :class:`Reply` (the ``default`` when none
is queued); the body is streamed with chunked transfer encoding, one ``frames`` item per
chunk, and can go wrong in the ways upstreams do::

    with FakeUpstream() as upstream:
        upstream.queue(Reply(frames=[b'{"text": "Hi"}\\n', b'{"done": true}\\n']))
        upstream.queue(Reply(status=503, frames=[b'{"error": "busy"}']))
        ...  # point the provider at upstream.url
        assert upstream.requests[0].json()["model"] == "m"
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

Fault = Literal["hang", "stall", "cut"]
"""``hang``: read the request, answer nothing. ``stall``: send ``after`` frames, then go silent
with the connection open. ``cut``: send ``after`` frames, then close the connection mid-body."""


@dataclass
class Reply:
    status: int = 200
    frames: list[bytes] = field(default_factory=list)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds between two frames."""
    fault: Fault | None = None
    after: int = 0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    disconnected: bool = False
    """The client closed the connection before the reply was complete."""

    def json(self) -> Any:
        return json.loads(self.body)


class FakeUpstream:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(status=404, frames=[b'{"error": "nothing scripted"}'])
        self.requests: list[Request] = []
        self._replies: deque[Reply] = deque()
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="FakeUpstream")
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *replies: Reply) -> None:
        with self._changed:
            self._replies.extend(replies)

    def wait_disconnect(self, timeout: float = 5.0) -> bool:
        """True once a client left mid-reply (it released the connection)."""
        with self._changed:
            return self._changed.wait_for(lambda: any(r.disconnected for r in self.requests), timeout)

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake upstream did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in asyncio.all_tasks(self._loop) - {asyncio.current_task()}:
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            with self._changed:
                self.requests.append(request)
                reply = self._replies.popleft() if self._replies else self.default
            gone = asyncio.ensure_future(reader.read())  # the client sends nothing more: EOF means it left
            finished = await _reply(writer, reply, gone)
            if not finished and gone.done():
                with self._changed:
                    request.disconnected = True
                    self._changed.notify_all()
            gone.cancel()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    method, target, _ = head[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, target.split("?")[0], headers, body)


async def _reply(writer: asyncio.StreamWriter, reply: Reply, gone: asyncio.Future[bytes]) -> bool:
    """Play ``reply``; False when it did not complete (a fault, or the client left)."""
    if reply.fault == "hang":
        await gone
        return False
    headers = {"content-type": reply.content_type, "transfer-encoding": "chunked", "connection": "close",
               **reply.headers}
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n{lines}\r\n".encode())
    for index, frame in enumerate(reply.frames):
        if reply.fault and index == reply.after:
            break
        if index and reply.delay:
            await asyncio.wait([gone], timeout=reply.delay)
        if gone.done():
            return False
        writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        await writer.drain()
    if reply.fault == "stall":
        await gone
        return False
    if reply.fault == "cut":
        await writer.drain()
        writer.transport.abort()
        return True  # the upstream cut it, not the client
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


