"""A complete, minimal ChatKit provider plugin.

Provider type ``canned`` streams prepared replies, a few characters at a time, so a demo
or a test has a model that always answers. It shows everything a provider plugin needs:
an options Struct, a ``stream`` coroutine generator, and the ``register_providers`` hook.
It is an example, not a model: ``chatkit config check`` warns when a chain uses it.

    [providers.demo]
    type = "canned"
    replies = ["Hello!", "Anything else?"]   # one per answer, cycled
    chunk_chars = 8                          # characters per streamed chunk
    delay = 0.02                             # seconds between chunks
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator

from chatkit_core import hookimpl
from chatkit_core.chat.health import Health
from chatkit_core.chat.providers import ChatRequest, Chunk, Provider, ProviderOptions


class CannedOptions(ProviderOptions, kw_only=True, forbid_unknown_fields=True):
    model: str = "canned"
    replies: list[str] = []
    """Answers, one per turn, cycled. Empty: quote the visitor's message back."""
    chunk_chars: int = 8
    delay: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chunk_chars < 1:
            raise ValueError("chunk_chars must be at least 1")
        if self.delay < 0:
            raise ValueError("delay must not be negative")


class CannedProvider(Provider):
    Options = CannedOptions
    options: CannedOptions
    example = True

    def __init__(self, name: str, options: CannedOptions) -> None:
        super().__init__(name, options)
        self._replies = itertools.cycle(options.replies) if options.replies else None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        reply = next(self._replies) if self._replies else _quote(request)
        size = self.options.chunk_chars
        for start in range(0, len(reply), size):
            if self.options.delay:
                await asyncio.sleep(self.options.delay)
            yield Chunk(text=reply[start : start + size])
        yield Chunk(usage={"completion_chars": len(reply)})

    async def health(self) -> Health:
        return Health("up")


def _quote(request: ChatRequest) -> str:
    question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return f'You said: "{question}". This is an example reply: no language model is connected yet.'


@hookimpl
def register_providers(register):
    register("canned", CannedProvider)
