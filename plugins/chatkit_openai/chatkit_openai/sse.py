"""Chat Completions stream events decoded with msgspec: a small Struct per chunk, no pydantic."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import msgspec


class Delta(msgspec.Struct):
    content: str | None = None


class Choice(msgspec.Struct):
    delta: Delta | None = None
    finish_reason: str | None = None


class StreamError(msgspec.Struct):
    message: str = "error"


class ChunkEvent(msgspec.Struct):
    """One ``data:`` payload; fields the provider does not read are skipped by the decoder."""

    choices: list[Choice] = []
    usage: dict[str, Any] | None = None
    error: StreamError | None = None


DECODER = msgspec.json.Decoder(ChunkEvent)


async def events(body: AsyncIterable[bytes]) -> AsyncIterator[tuple[bytes | None, bytes]]:
    """``(event name, data)`` per Server-Sent Event of a body read as it arrives, ``data`` lines
    joined as the spec says. Lines end in LF or CRLF (a lone CR, which no server sends, is not
    a line end); whatever arrives is split at once, with no cap on a line's length."""
    name: bytes | None = None
    data: list[bytes] = []
    rest = b""
    async for received in body:
        *complete, rest = (rest + received).split(b"\n") if rest else received.split(b"\n")
        for line in complete:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    yield name, b"\n".join(data)
                name, data = None, []
            elif line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"event:"):
                name = line[6:].strip()
    if rest.startswith(b"data:"):
        data.append(rest[6:] if rest.startswith(b"data: ") else rest[5:])
    if data:
        yield name, b"\n".join(data)
