"""The provider conformance suite: what the chain relies on every provider to do.

A provider plugin runs it against its own fake upstream with one class::

    from chatkit_core.testing import ProviderConformance, Upstream

    class MyUpstream(Upstream):
        ...  # script your fake: answer, fail, cut, end early, hang

    class TestConformance(ProviderConformance):
        upstream_class = MyUpstream

The tests are plain synchronous pytest tests (they run their own event loop), so the suite
needs nothing beyond pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest

from chatkit_core.chat.providers import ChatMessage, ChatRequest, Chunk, Provider, ProviderError
from chatkit_core.testing.upstream import closed_port_url

REQUEST = ChatRequest(messages=[ChatMessage("system", "Be brief."),
                                ChatMessage("user", "What is the capital of France?")])

TEXT = "Paris is the capital and largest city of France."


class Upstream:
    """What the suite needs from a provider's fake upstream. Subclass it around your fake.

    ``__enter__`` starts the fake and ``__exit__`` stops it. Each scripting method sets how
    the fake answers the *next* chat request.
    """

    status_kinds: ClassVar[dict[int, str]] = {400: "bad_request", 401: "auth", 403: "auth", 429: "rate_limited",
                                              500: "server", 503: "server"}
    """The ``ProviderError.kind`` each HTTP status must become."""

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def provider(self, **options: Any) -> Provider:
        """A provider pointed at the fake; ``options`` are extra keys of its table (timeouts, base_url)."""
        raise NotImplementedError

    def answer(self, text: str, chunks: int, delay: float = 0.0) -> None:
        """Stream ``text`` in ``chunks`` pieces, ``delay`` seconds apart, then end the answer
        properly, with token usage."""
        raise NotImplementedError

    def fail(self, status: int) -> None:
        """Answer with HTTP ``status`` and the upstream's error body."""
        raise NotImplementedError

    def cut(self, after: int) -> None:
        """Send ``after`` pieces, then close the connection mid-body."""
        raise NotImplementedError

    def end_early(self, after: int) -> None:
        """Send ``after`` pieces, then end the body cleanly without the upstream's end marker."""
        raise NotImplementedError

    def hang(self) -> None:
        """Read the request and never answer."""
        raise NotImplementedError

    def released(self, timeout: float = 5.0) -> bool:
        """True once the provider closed the connection of a chat request mid-answer."""
        raise NotImplementedError


@contextlib.asynccontextmanager
async def started(provider: Provider) -> AsyncIterator[Provider]:
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


async def collect_stream(provider: Provider, request: ChatRequest = REQUEST) -> tuple[list[Chunk], list[float]]:
    """Every chunk of one answer and when each arrived (seconds from the call)."""
    chunks, times, begun = [], [], time.monotonic()
    async with started(provider), contextlib.aclosing(provider.stream(request)) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            times.append(time.monotonic() - begun)
    return chunks, times


async def failure(provider: Provider) -> tuple[ProviderError, list[Chunk]]:
    """The error one answer ends with, and the chunks before it. Anything but a
    ProviderError fails the test: the chain would count it as a ``crash``."""
    chunks: list[Chunk] = []
    async with started(provider), contextlib.aclosing(provider.stream(REQUEST)) as stream:
        try:
            async for chunk in stream:
                chunks.append(chunk)
        except ProviderError as error:
            return error, chunks
    pytest.fail(f"the answer ended without a ProviderError after {len(chunks)} chunks")


class ProviderConformance:
    upstream_class: ClassVar[type[Upstream]]

    @pytest.fixture
    def upstream(self) -> Iterator[Upstream]:
        with self.upstream_class() as upstream:
            yield upstream

    def test_streams_the_answer_in_pieces(self, upstream: Upstream) -> None:
        upstream.answer(TEXT, chunks=5)
        chunks, _ = asyncio.run(collect_stream(upstream.provider()))
        texts = [chunk.text for chunk in chunks if chunk.text]
        assert "".join(texts) == TEXT
        assert len(texts) >= 2, "the answer came in one piece: stream it as the upstream sends it"

    def test_first_token_arrives_before_the_answer_is_done(self, upstream: Upstream) -> None:
        upstream.answer(TEXT, chunks=4, delay=0.3)
        chunks, times = asyncio.run(collect_stream(upstream.provider()))
        first = next(at for chunk, at in zip(chunks, times, strict=True) if chunk.text)
        assert first < 0.6 <= times[-1], f"first text after {first:.2f}s, last after {times[-1]:.2f}s: buffered?"

    def test_reports_usage_on_the_last_chunk(self, upstream: Upstream) -> None:
        upstream.answer(TEXT, chunks=3)
        chunks, _ = asyncio.run(collect_stream(upstream.provider()))
        usage = chunks[-1].usage
        assert usage is not None, "the last chunk carries no usage"
        assert isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int)

    def test_error_statuses_become_their_kinds(self, upstream: Upstream) -> None:
        for status, kind in upstream.status_kinds.items():
            upstream.fail(status)
            error, chunks = asyncio.run(failure(upstream.provider()))
            assert (error.kind, chunks) == (kind, []), f"HTTP {status} became {error.kind!r}, not {kind!r}"
            assert error.retryable == (kind in ("rate_limited", "server")), f"HTTP {status}: retryable is wrong"
            assert error.trip == (kind == "auth"), f"HTTP {status}: only auth failures open the circuit at once"

    def test_unreachable_upstream_is_a_connect_error(self, upstream: Upstream) -> None:
        error, _ = asyncio.run(failure(upstream.provider(base_url=closed_port_url())))
        assert error.kind == "connect" and error.retryable

    def test_silent_upstream_is_a_timeout(self, upstream: Upstream) -> None:
        upstream.hang()
        begun = time.monotonic()
        error, _ = asyncio.run(failure(upstream.provider(timeout=0.5, chunk_timeout=0.5)))
        assert error.kind == "timeout" and time.monotonic() - begun < 5

    def test_cut_stream_is_a_bad_response_after_the_text_so_far(self, upstream: Upstream) -> None:
        upstream.cut(after=2)
        error, chunks = asyncio.run(failure(upstream.provider()))
        assert error.kind == "bad_response" and len([c for c in chunks if c.text]) == 2

    def test_stream_ending_without_its_end_marker_is_a_bad_response(self, upstream: Upstream) -> None:
        upstream.end_early(after=2)
        error, _ = asyncio.run(failure(upstream.provider()))
        assert error.kind == "bad_response"

    def test_cancelling_releases_the_connection(self, upstream: Upstream) -> None:
        upstream.answer(TEXT, chunks=8, delay=0.5)

        async def read_one_then_leave() -> None:
            async with started(upstream.provider()) as provider:
                stream = provider.stream(REQUEST)
                await anext(aiter(stream))
                await stream.aclose()  # the visitor went away

        asyncio.run(read_one_then_leave())
        assert upstream.released(timeout=5), "the upstream connection stayed open after the stream was closed"
