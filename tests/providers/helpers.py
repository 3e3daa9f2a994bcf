"""Running a provider against a fake upstream the way the chain does."""

from __future__ import annotations

import contextlib
from typing import Any

from chatkit_core.chat.providers import ChatMessage, ChatRequest, Provider
from chatkit_core.testing.conformance import started as started  # shared with the conformance suite

REQUEST = ChatRequest(
    messages=[
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", "What is the capital of France?"),
    ]
)


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
