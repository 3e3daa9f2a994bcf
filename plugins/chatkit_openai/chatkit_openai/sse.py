"""Chat Completions stream events decoded with msgspec: a small Struct per chunk, no pydantic."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


async def events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """``(event name, data)`` per Server-Sent Event, ``data`` lines joined as the spec says."""
    name: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = None, []
        elif line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
        elif line.startswith("event:"):
            name = line[6:].strip()
    if data:
        yield name, "\n".join(data)
