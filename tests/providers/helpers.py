"""Running a provider against a fake upstream the way the chain does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from chatkit_core.providers import ChatMessage, ChatRequest, Provider

REQUEST = ChatRequest(
    messages=[
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", "What is the capital of France?"),
    ]
)


@contextlib.asynccontextmanager
async def started(provider: Provider) -> AsyncIterator[Provider]:
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


async def answer(provider: Provider, request: ChatRequest = REQUEST) -> tuple[list[str], dict[str, Any] | None]:
    """The text chunks and the usage of one streamed answer."""
    texts: list[str] = []
    usage = None
    async with contextlib.aclosing(provider.stream(request)) as chunks:
        async for chunk in chunks:
            if chunk.text:
                texts.append(chunk.text)
            usage = chunk.usage or usage
    return texts, usage
