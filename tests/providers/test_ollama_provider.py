"""The ``ollama`` provider against the fake Ollama: answers, usage, every failure, health, pull.

What every provider must do (streaming, usage, status kinds, connect, timeout, cut streams,
releasing the connection) is the conformance suite's, in test_conformance.py; these are the
plugin's own behaviours."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from chatkit_ollama import OllamaOptions, OllamaProvider
from structlog.testing import capture_logs

from chatkit_core.chat.providers import ProviderError
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script, closed_port_url
from tests.providers.helpers import REQUEST, answer, started


def provider(url: str, **options: object) -> OllamaProvider:
    fast = {"timeout": 2.0, "chunk_timeout": 2.0, "connect_timeout": 1.0}
    return OllamaProvider("local", OllamaOptions(type="ollama", base_url=url, **(fast | options)))


async def failure(fake_or_url: FakeOllama | str, *scripts: Script, **options: object) -> ProviderError:
    """The ProviderError one answer raises, and the chunks that came before it."""
    url = fake_or_url if isinstance(fake_or_url, str) else fake_or_url.url
    if scripts:
        assert isinstance(fake_or_url, FakeOllama)
        fake_or_url.script(*scripts)
    async with started(provider(url, **options)) as ollama:
        with pytest.raises(ProviderError) as caught:
            await answer(ollama)
    return caught.value


async def test_streams_the_answer_and_keeps_usage(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(text="Paris is the capital."))
    async with started(provider(fake_ollama.url)) as ollama:
        texts, usage = await answer(ollama)
    assert texts == ["Paris", " is", " the", " capital."]
    assert usage is not None
    assert usage["completion_tokens"] == 4 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + 4
    assert usage["done_reason"] == "stop" and usage["eval_duration_ns"] > 0
    sent = fake_ollama.chat_requests()[0]
    assert sent.json["model"] == "llama3.2" and sent.json["stream"] is True
    assert sent.json["messages"] == [{"role": m.role, "content": m.content} for m in REQUEST.messages]
    assert fake_ollama.wait_for(lambda fake: fake.chat_requests()[0].completed) and not sent.disconnected


async def test_sends_model_options_and_keep_alive(fake_ollama: FakeOllama) -> None:
    options = {
        "temperature": 0.2,
        "num_predict": 64,
        "num_ctx": 8192,
        "stop": ["\n\n"],
        "keep_alive": "10m",
        "options": {"repeat_penalty": 1.1, "temperature": 0.9},
    }
    async with started(provider(fake_ollama.url, **options)) as ollama:
        await answer(ollama)
    sent = fake_ollama.chat_requests()[0].json
    assert sent["options"] == {
        "temperature": 0.2,
        "num_predict": 64,
        "num_ctx": 8192,
        "stop": ["\n\n"],
        "repeat_penalty": 1.1,
    }
    assert sent["keep_alive"] == "10m"


async def test_defaults_and_no_keep_alive_unless_set(fake_ollama: FakeOllama) -> None:
    options = msgspec.convert({"type": "ollama"}, OllamaOptions)
    assert (options.base_url, options.model) == ("http://127.0.0.1:11434", "llama3.2")
    async with started(provider(fake_ollama.url)) as ollama:
        await answer(ollama)
    assert "keep_alive" not in fake_ollama.chat_requests()[0].json
    assert fake_ollama.chat_requests()[0].json["options"] == {}


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="temprature"):
        msgspec.convert({"type": "ollama", "temprature": 1}, OllamaOptions)
    assert msgspec.convert({"type": "ollama", "keep_alive": -1}, OllamaOptions).keep_alive == -1


async def test_stall_between_chunks_is_a_timeout(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(fault="stall", after=2))
    texts: list[str] = []
    async with started(provider(fake_ollama.url, timeout=0.3, chunk_timeout=0.3)) as ollama:
        with pytest.raises(ProviderError) as caught:
            async for chunk in ollama.stream(REQUEST):
                texts.append(chunk.text)
    assert caught.value.kind == "timeout" and len(texts) == 2


async def test_missing_model_says_to_pull_it(fake_ollama: FakeOllama) -> None:
    error = await failure(fake_ollama, model="mistral")
    assert (error.kind, error.retryable, error.status) == ("not_found", False, 404)
    assert "ollama pull mistral" in str(error)


async def test_rate_limit_honours_retry_after(fake_ollama: FakeOllama) -> None:
    error = await failure(fake_ollama, Script(status=429, retry_after="3"))
    assert (error.kind, error.retryable, error.retry_after) == ("rate_limited", True, 3.0)


async def test_auth_failure_from_a_proxy_trips_the_circuit(fake_ollama: FakeOllama) -> None:
    error = await failure(fake_ollama, Script(status=401))
    assert (error.kind, error.retryable, error.trip) == ("auth", False, True)


@pytest.mark.parametrize("fault", ["error", "malformed", "cut", "end"])
async def test_broken_streams_are_bad_responses(fake_ollama: FakeOllama, fault: str) -> None:
    fake_ollama.script(Script(fault=fault, after=2, error="an error was encountered while running the model"))
    texts: list[str] = []
    async with started(provider(fake_ollama.url)) as ollama:
        with pytest.raises(ProviderError) as caught:
            async for chunk in ollama.stream(REQUEST):
                texts.append(chunk.text)
    assert (caught.value.kind, caught.value.retryable) == ("bad_response", True)
    assert len(texts) == 2
    if fault == "error":
        assert "an error was encountered while running the model" in str(caught.value)


async def test_in_band_error_before_any_text(fake_ollama: FakeOllama) -> None:
    error = await failure(fake_ollama, Script(fault="error", after=0))
    assert error.kind == "bad_response"


async def test_cancelling_a_pending_chunk_releases_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(first_chunk_delay=5))
    async with started(provider(fake_ollama.url)) as ollama:
        chunks = ollama.stream(REQUEST)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await anext(chunks)
        await chunks.aclose()
        assert await asyncio.to_thread(fake_ollama.wait_disconnect, 2)


async def test_connections_are_pooled(fake_ollama: FakeOllama) -> None:
    async with started(provider(fake_ollama.url)) as ollama:
        for _ in range(3):
            await answer(ollama)
    assert fake_ollama.connections == 1


async def test_used_before_start_is_a_programming_error(fake_ollama: FakeOllama) -> None:
    with pytest.raises(RuntimeError, match="before start"):
        await answer(provider(fake_ollama.url))


async def test_health_up_when_the_model_is_there(fake_ollama: FakeOllama) -> None:
    async with started(provider(fake_ollama.url)) as ollama:
        health = await ollama.health()
    assert health.status == "up" and "llama3.2:latest" in health.detail


async def test_health_down_when_the_model_is_missing() -> None:
    with FakeOllama(models=["qwen2.5:0.5b"]) as fake:
        async with started(provider(fake.url)) as ollama:
            health = await ollama.health()
    assert health.status == "down" and "ollama pull llama3.2" in health.detail


async def test_health_down_when_unreachable_or_hanging(fake_ollama: FakeOllama) -> None:
    async with started(provider(closed_port_url())) as ollama:
        assert (await ollama.health()).status == "down"
    fake_ollama.script(Script(fault="hang"), path="/api/tags")
    async with started(provider(fake_ollama.url, connect_timeout=0.3)) as ollama:
        async with asyncio.timeout(2):
            health = await ollama.health()
    assert health.status == "down" and "timed out" in health.detail


async def test_pull_on_start_fetches_a_missing_model() -> None:
    with FakeOllama(models=[]) as fake, capture_logs() as logs:
        async with started(provider(fake.url, pull_on_start=True)) as ollama:
            assert (await ollama.health()).status == "up"
            texts, _ = await answer(ollama)
    assert texts
    events = [entry["event"] for entry in logs]
    assert events[0] == "ollama_pull_started" and events[-1] == "ollama_pull_finished"
    percents = [e["percent"] for e in logs if e["event"] == "ollama_pull_progress" and e["percent"] is not None]
    assert percents == [20, 50, 70, 100]
    assert [r.path for r in fake.requests[:2]] == ["/api/tags", "/api/pull"]


async def test_pull_on_start_skips_a_present_model(fake_ollama: FakeOllama) -> None:
    async with started(provider(fake_ollama.url, pull_on_start=True)):
        pass
    assert [r.path for r in fake_ollama.requests] == ["/api/tags"]


@pytest.mark.parametrize("where", ["unpullable", "unreachable"])
async def test_failed_pull_is_logged_and_start_goes_on(where: str) -> None:
    with FakeOllama(models=[], pullable=[]) as fake, capture_logs() as logs:
        url = fake.url if where == "unpullable" else closed_port_url()
        async with started(provider(url, pull_on_start=True)) as ollama:
            assert (await ollama.health()).status == "down"
    skipped = [entry for entry in logs if entry["event"] == "ollama_pull_skipped"]
    assert len(skipped) == 1 and skipped[0]["log_level"] == "warning"


async def test_message_text_is_never_logged(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(status=500), Script(fault="error", after=1))
    with capture_logs() as logs:
        async with started(provider(fake_ollama.url)) as ollama:
            for _ in range(3):
                with contextlib.suppress(ProviderError):
                    await answer(ollama)
    assert "capital of France" not in repr(logs)


async def test_a_404_that_is_not_about_the_model_says_what_the_server_looks_like(fake_ollama: FakeOllama) -> None:
    error = await failure(fake_ollama.url + "/wrong/prefix")
    assert (error.kind, error.status, error.retryable) == ("not_found", 404, False)
    assert "/wrong/prefix/api/chat" in str(error) and "ollama pull" not in str(error)
    assert "Ollama's API is not there" in str(error) and 'type = "openai"' in str(error)


async def test_credentials_in_the_url_stay_out_of_errors() -> None:
    url = closed_port_url().replace("http://", "http://admin:hunter2@")
    error = await failure(url)
    assert error.kind == "connect" and "hunter2" not in str(error) and "admin" not in str(error)
    assert url.rpartition("@")[2] in str(error)


async def test_the_requests_cap_is_num_predict_and_a_cut_answer_is_truncated(fake_ollama: FakeOllama) -> None:
    fake_ollama.default = Script(text="one two three four five six")
    async with started(provider(fake_ollama.url)) as ollama:
        received = [c async for c in ollama.stream(msgspec.structs.replace(REQUEST, max_tokens=2))]
    assert fake_ollama.chat_requests()[0].json["options"]["num_predict"] == 2
    assert "".join(c.text for c in received) == "one two"
    assert received[-1].truncated and received[-1].usage["done_reason"] == "length"


async def test_an_openai_shaped_404_says_it_is_an_openai_compatible_server() -> None:
    with FakeOpenAI() as server:
        error = await failure(server.url)
    assert (error.kind, error.retryable) == ("not_found", False)
    assert "OpenAI-compatible server, not Ollama" in str(error)
    assert f'type = "openai" with base_url = "{server.url}/v1"' in str(error)


async def test_a_line_longer_than_a_read_buffer_is_one_chunk(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(text="x" * 300_000, chunks=1))
    async with started(provider(fake_ollama.url)) as ollama:
        texts, usage = await answer(ollama)
    assert [len(text) for text in texts] == [300_000] and usage is not None


async def test_more_concurrent_answers_than_a_default_pool_each_get_a_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.default = Script(first_chunk_delay=0.5)
    async with started(provider(fake_ollama.url)) as ollama:
        async with asyncio.timeout(10):
            answers = await asyncio.gather(*(answer(ollama) for _ in range(120)))
    assert all(texts for texts, _ in answers)
    assert fake_ollama.connections == 120


async def raw_upstream(payload: bytes) -> asyncio.Server:
    """A server that reads a request's head and answers ``payload`` as is, then closes."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(reply, "127.0.0.1", 0)


def url_of(server: asyncio.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_done_line_without_its_newline_still_ends_the_answer() -> None:
    line = b'{"message":{"content":"Hi"},"done":false}\n{"message":{"content":""},"done":true,"eval_count":1}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n" % len(line)
    async with await raw_upstream(head + line) as server, started(provider(url_of(server))) as ollama:
        texts, usage = await answer(ollama)
    assert texts == ["Hi"] and usage is not None and usage["completion_tokens"] == 1


async def test_an_answer_that_is_not_http_is_a_connect_error() -> None:
    async with await raw_upstream(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as server:
        error = await failure(url_of(server))
    assert (error.kind, error.retryable) == ("connect", True) and "cannot reach Ollama" in str(error)


async def test_the_environments_proxy_is_used_unless_no_proxy_exempts_the_host(
    fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    error = await failure(fake_ollama.url)
    assert error.kind == "connect" and fake_ollama.requests == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with started(provider(fake_ollama.url)) as ollama:
        texts, _ = await answer(ollama)
    assert texts and len(fake_ollama.chat_requests()) == 1


async def test_a_redirect_is_not_followed(fake_ollama: FakeOllama) -> None:
    moved = f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {fake_ollama.url}/api/chat\r\nContent-Length: 0\r\n\r\n"
    async with await raw_upstream(moved.encode()) as server:
        error = await failure(url_of(server))
    assert error.kind == "bad_response" and fake_ollama.requests == []
