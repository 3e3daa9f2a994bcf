"""The chain's first-token and chunk timeouts, on one timer per answer: they bound the wait for
the provider's next chunk and nothing else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from chatkit_core.chat.chain import Chain, ChainFailed, Finished, StreamBroken
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import ChatMessage, ChatRequest, Chunk, Provider, ProviderOptions
from chatkit_core.platform.config import ChainConfig

REQUEST = ChatRequest(messages=[ChatMessage("user", "hello")])


class Paced(Provider):
    """Sends ``texts``, sleeping ``gaps[i]`` before the i-th one."""

    def __init__(self, gaps: list[float], first_token_timeout: float = 5.0, chunk_timeout: float = 0.3) -> None:
        super().__init__("paced", ProviderOptions(type="paced", first_token_timeout=first_token_timeout,
                                                  chunk_timeout=chunk_timeout))
        self.gaps = gaps

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        for index, gap in enumerate(self.gaps):
            await asyncio.sleep(gap)
            yield Chunk(text=f"{index} ")


def chain(provider: Provider) -> Chain:
    return Chain([provider], ChainConfig(retries=0), Metrics())


async def collect(provider: Provider, buffered: bool = False, hold: float = 0.0) -> list[object]:
    events = []
    async for event in chain(provider).stream(REQUEST, buffered=buffered):
        events.append(event)
        await asyncio.sleep(hold)  # a slow reader: the provider is not waited for meanwhile
    return events


async def test_a_steady_stream_outlasting_the_chunk_timeout_completes() -> None:
    events = await collect(Paced([0.0] + [0.05] * 12, chunk_timeout=0.2))
    assert "".join(e for e in events if isinstance(e, str)) == "".join(f"{i} " for i in range(13))
    assert isinstance(events[-1], Finished)


async def test_time_the_reader_holds_a_chunk_does_not_count() -> None:
    events = await collect(Paced([0.0, 0.0, 0.0], chunk_timeout=0.1), hold=0.25)
    assert [e for e in events if isinstance(e, str)] == ["0 ", "1 ", "2 "]


async def test_a_stall_after_the_first_chunk_times_out_after_the_chunk_timeout() -> None:
    began = time.monotonic()
    with pytest.raises(StreamBroken) as broken:
        await collect(Paced([0.0, 0.05, 3.0], first_token_timeout=5.0, chunk_timeout=0.2))
    assert broken.value.error.kind == "timeout" and "next chunk within 0.2s" in str(broken.value.error)
    assert broken.value.partial == "0 1 "
    assert 0.2 <= time.monotonic() - began < 1.5  # the chunk timeout, not the first-token one


async def test_no_first_token_times_out_and_fails_over() -> None:
    began = time.monotonic()
    with pytest.raises(ChainFailed) as failed:
        await collect(Paced([3.0], first_token_timeout=0.2), buffered=True)
    assert failed.value.fallbacks == ["paced:timeout"]
    assert 0.2 <= time.monotonic() - began < 1.5


async def test_a_timeout_leaves_no_cancellation_behind() -> None:
    with pytest.raises(ChainFailed):
        await collect(Paced([3.0], first_token_timeout=0.1), buffered=True)
    await asyncio.sleep(0.05)  # the task was not left cancelled: this sleep is not interrupted
    assert asyncio.current_task().cancelling() == 0
