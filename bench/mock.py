"""Fast mock model servers: Ollama's ``/api/chat`` (NDJSON) and OpenAI's ``/v1/chat/completions`` (SSE).

One process listens on several ports; each port has its own pacing::

    python -m bench.mock 41001:0.05:1:0 41002:0.05:50:0.02

``PORT:LATENCY:CHUNKS:INTERVAL`` answers after LATENCY seconds with CHUNKS content pieces
INTERVAL seconds apart. Both protocols are served on every port, chosen by the path. Written
on a raw asyncio protocol with httptools so the mock costs far less CPU than the server in
front of it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import NamedTuple

import httptools
import msgspec
import uvloop

MODEL = "bench"
WORD = "token "


class Pacing(NamedTuple):
    latency: float
    chunks: int
    interval: float


class _Body(msgspec.Struct):
    stream: bool | None = None
    """Unset streams on Ollama's API and answers whole on OpenAI's, as theirs do."""


_decode_body = msgspec.json.Decoder(_Body).decode


def _ollama_line(content: str, done: bool) -> bytes:
    line = {"model": MODEL, "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content}, "done": done}
    if done:
        line.update(done_reason="stop", total_duration=1000, load_duration=10, prompt_eval_count=20,
                    prompt_eval_duration=100, eval_count=50, eval_duration=800)
    return msgspec.json.encode(line) + b"\n"


def _openai_chunk(content: str | None, finish: str | None, usage: bool = False) -> bytes:
    delta = {} if content is None else {"role": "assistant", "content": content}
    chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1767225600, "model": MODEL,
             "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = {"prompt_tokens": 20, "completion_tokens": 50, "total_tokens": 70}
    return b"data: " + msgspec.json.encode(chunk) + b"\n\n"


def _openai_whole(text: str) -> bytes:
    return msgspec.json.encode({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 50, "total_tokens": 70},
    })


_TAGS = msgspec.json.encode({"models": [{"name": f"{MODEL}:latest", "model": f"{MODEL}:latest", "size": 1}]})
_MODELS = msgspec.json.encode({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                                           "owned_by": "bench"}]})
_NOT_FOUND = b'{"error":"not found"}'


def _head(status: str, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n".encode()


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class MockProtocol(asyncio.Protocol):
    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path, body, self.body = self.url.split(b"?")[0], b"".join(self.body), []
        if path == b"/api/tags":
            self._write_json(_TAGS)
        elif path == b"/v1/models":
            self._write_json(_MODELS)
        elif path in (b"/api/chat", b"/v1/chat/completions"):
            ollama = path == b"/api/chat"
            stream = _decode_body(body).stream if body else None
            self.loop.call_later(self.pacing.latency, self._answer, ollama, ollama if stream is None else stream)
        else:
            self.transport.write(_head("404 Not Found", "application/json", len(_NOT_FOUND)) + _NOT_FOUND)

    def _write_json(self, body: bytes) -> None:
        self.transport.write(_head("200 OK", "application/json", len(body)) + body)

    def _answer(self, ollama: bool, stream: bool) -> None:
        if self.transport.is_closing():
            return
        chunks = max(self.pacing.chunks, 1)
        if not stream:
            text = WORD * chunks
            self._write_json(msgspec.json.encode({
                "model": MODEL, "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text}, "done": True}) if ollama else _openai_whole(text))
            return
        kind = "application/x-ndjson" if ollama else "text/event-stream"
        self.transport.write(_head("200 OK", kind, None))
        self._piece(ollama, 0, chunks)

    def _piece(self, ollama: bool, index: int, chunks: int) -> None:
        if self.transport.is_closing():
            return
        last = index == chunks - 1
        if ollama:
            data = _ollama_line(WORD, False) + (_ollama_line("", True) if last else b"")
        else:
            data = _openai_chunk(WORD, None)
            if last:
                data += _openai_chunk(None, "stop") + _openai_chunk(None, None, usage=True) + b"data: [DONE]\n\n"
        self.transport.write(_chunked(data) + (b"0\r\n\r\n" if last else b""))
        if not last:
            self.loop.call_later(self.pacing.interval, self._piece, ollama, index + 1, chunks)


def parse_spec(spec: str) -> tuple[int, Pacing]:
    port, latency, chunks, interval = spec.split(":")
    return int(port), Pacing(float(latency), int(chunks), float(interval))


async def serve(specs: list[str]) -> None:
    loop = asyncio.get_running_loop()
    for spec in specs:
        port, pacing = parse_spec(spec)
        await loop.create_server(lambda p=pacing: MockProtocol(p), "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    while True:
        await asyncio.sleep(3600)


def main() -> None:
    uvloop.run(serve(sys.argv[1:]))


if __name__ == "__main__":
    main()
