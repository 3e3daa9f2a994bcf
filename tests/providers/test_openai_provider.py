"""The ``openai`` provider against the fake OpenAI server: answers, usage, every failure, secrets.

What every provider must do (streaming, usage, status kinds, connect, timeout, cut streams,
releasing the connection) is the conformance suite's, in test_conformance.py; these are the
plugin's own behaviours."""

from __future__ import annotations

import asyncio
import contextlib
import time
from email.utils import formatdate

import msgspec
import pytest
from chatkit_openai import OpenAIOptions, OpenAIProvider
from chatkit_openai.options import PLACEHOLDER_KEY
from structlog.testing import capture_logs

from chatkit_core.chat.providers import ProviderError
from tests.fakes import openai as fake_openai_module
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script, closed_port_url
from tests.providers.helpers import REQUEST, answer, started

SECRET = "sk-proj-SECRETabcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def fake() -> FakeOpenAI:
    with FakeOpenAI(api_key=SECRET) as server:
        yield server


def provider(url: str, key: str = SECRET, **options: object) -> OpenAIProvider:
    fast = {"timeout": 2.0, "chunk_timeout": 2.0, "connect_timeout": 1.0}
    return OpenAIProvider("cloud", OpenAIOptions(type="openai", base_url=url + "/v1", api_key=key, **(fast | options)))


async def failure(fake: FakeOpenAI | str, *scripts: Script, **options: object) -> ProviderError:
    url = fake if isinstance(fake, str) else fake.url
    if scripts:
        assert isinstance(fake, FakeOpenAI)
        fake.script(*scripts)
    async with started(provider(url, **options)) as openai:
        with pytest.raises(ProviderError) as caught:
            await answer(openai)
    assert SECRET not in str(caught.value) and SECRET[:20] not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    return caught.value


async def test_streams_the_answer_and_keeps_usage(fake: FakeOpenAI) -> None:
    fake.script(Script(text="Paris is the capital."))
    async with started(provider(fake.url)) as openai:
        texts, usage = await answer(openai)
    assert texts == ["Paris", " is", " the", " capital."]
    assert usage is not None and usage["finish_reason"] == "stop"
    assert usage["completion_tokens"] == 4 and usage["total_tokens"] == usage["prompt_tokens"] + 4
    sent = fake.chat_requests()[0]
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json["model"] == "gpt-4o-mini" and sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.json["messages"] == [{"role": m.role, "content": m.content} for m in REQUEST.messages]
    assert fake.wait_for(lambda server: server.chat_requests()[0].completed) and not sent.disconnected


async def test_sends_sampling_options_and_extra_body(fake: FakeOpenAI) -> None:
    options = {"temperature": 0.3, "max_tokens": 200, "stop": ["END"], "extra_body": {"top_k": 40}}
    async with started(provider(fake.url, **options)) as openai:
        await answer(openai)
    sent = fake.chat_requests()[0].json
    assert (sent["temperature"], sent["max_tokens"], sent["stop"], sent["top_k"]) == (0.3, 200, ["END"], 40)
    assert "top_p" not in sent and "seed" not in sent


async def test_a_server_refusing_stream_options_is_asked_without_them() -> None:
    with FakeOpenAI(accept_stream_options=False) as fake, capture_logs() as logs:
        async with started(provider(fake.url)) as openai:
            first = await answer(openai)
            second = await answer(openai)
    assert first == second and first[0] and first[1] == {"finish_reason": "stop"}
    assert ["stream_options" in r.json for r in fake.chat_requests()] == [True, False, False]
    assert [e["event"] for e in logs] == ["openai_stream_options_refused"]


async def test_stall_between_chunks_is_a_timeout(fake: FakeOpenAI) -> None:
    fake.script(Script(fault="stall", after=2))
    texts: list[str] = []
    async with started(provider(fake.url, timeout=0.3, chunk_timeout=0.3)) as openai:
        with pytest.raises(ProviderError) as caught:
            async for chunk in openai.stream(REQUEST):
                texts.append(chunk.text)
    assert caught.value.kind == "timeout" and len(texts) == 2


async def test_wrong_key_is_auth_trips_and_is_never_echoed(fake: FakeOpenAI) -> None:
    wrong = "sk-proj-WRONGabcdefghijklmnopqrstuvwxyz0123456789"
    async with started(provider(fake.url, key=wrong)) as openai:
        with pytest.raises(ProviderError) as caught:
            await answer(openai)
    error = caught.value
    assert (error.kind, error.retryable, error.trip, error.status) == ("auth", False, True, 401)
    assert "Incorrect API key provided: sk-pro***" in str(error) and "6789" not in str(error)


async def test_a_key_echoed_in_full_is_redacted() -> None:
    with FakeOpenAI() as fake:
        fake.script(Script(status=401, error=f"Incorrect API key provided: {SECRET}."))
        error = await failure(fake)
    assert "Incorrect API key provided: ***." in str(error)


async def test_forbidden_is_auth(fake: FakeOpenAI) -> None:
    error = await failure(fake, Script(status=403))
    assert (error.kind, error.retryable, error.trip) == ("auth", False, True)


async def test_unknown_model_is_not_found(fake: FakeOpenAI) -> None:
    error = await failure(fake, model="gpt-9")
    assert (error.kind, error.retryable, error.status) == ("not_found", False, 404)
    assert "gpt-9" in str(error)


@pytest.mark.parametrize(("header", "seconds"), [("2", 2.0), ("0.5", 0.5), ("http-date", 30.0)])
async def test_rate_limit_carries_retry_after(fake: FakeOpenAI, header: str, seconds: float) -> None:
    value = formatdate(time.time() + 30, usegmt=True) if header == "http-date" else header
    error = await failure(fake, Script(status=429, retry_after=value))
    assert (error.kind, error.retryable, error.trip) == ("rate_limited", True, False)
    assert error.retry_after == pytest.approx(seconds, abs=1.5)


async def test_exhausted_quota_is_not_retried(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        fake_openai_module.DEFAULT_ERRORS,
        429,
        (
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
    )
    error = await failure(fake, Script(status=429))
    assert (error.kind, error.retryable, error.trip) == ("rate_limited", False, True)


@pytest.mark.parametrize("fault", ["cut", "end", "error", "malformed"])
async def test_broken_streams_are_bad_responses(fake: FakeOpenAI, fault: str) -> None:
    fake.script(Script(fault=fault, after=2, error="The server had an error while processing your request."))
    texts: list[str] = []
    async with started(provider(fake.url)) as openai:
        with pytest.raises(ProviderError) as caught:
            async for chunk in openai.stream(REQUEST):
                texts.append(chunk.text)
    assert (caught.value.kind, caught.value.retryable) == ("bad_response", True)
    assert len(texts) == 2


async def test_cancelling_a_pending_chunk_releases_the_connection(fake: FakeOpenAI) -> None:
    fake.script(Script(first_chunk_delay=5))
    async with started(provider(fake.url)) as openai:
        chunks = openai.stream(REQUEST)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await anext(chunks)
        await chunks.aclose()
        assert await asyncio.to_thread(fake.wait_disconnect, 2)


async def test_connections_are_pooled(fake: FakeOpenAI) -> None:
    async with started(provider(fake.url)) as openai:
        for _ in range(3):
            await answer(openai)
    assert fake.connections == 1


async def test_used_before_start_is_a_programming_error(fake: FakeOpenAI) -> None:
    with pytest.raises(RuntimeError, match="before start"):
        await answer(provider(fake.url))


async def test_health(fake: FakeOpenAI) -> None:
    async with started(provider(fake.url)) as openai:
        health = await openai.health()
    assert health.status == "up" and "gpt-4o-mini listed" in health.detail
    async with started(provider(fake.url, model="local-model")) as openai:
        assert (await openai.health()).detail.endswith("not listed by " + fake.url.removeprefix("http://"))
    async with started(provider(closed_port_url())) as openai:
        assert (await openai.health()).status == "down"


async def test_health_down_on_a_bad_key_without_leaking_it(fake: FakeOpenAI) -> None:
    wrong = "sk-proj-WRONGabcdefghijklmnopqrstuvwxyz0123456789"
    fake.script(Script(status=401, error=f"Incorrect API key provided: {wrong}"), path="/v1/models")
    async with started(provider(fake.url, key=wrong)) as openai:
        health = await openai.health()
    assert health.status == "down" and "401" in health.detail
    assert "WRONGabc" not in msgspec.json.encode(health).decode()


async def test_health_is_bounded_when_the_server_hangs(fake: FakeOpenAI) -> None:
    fake.script(Script(fault="hang"), path="/v1/models")
    async with started(provider(fake.url, connect_timeout=0.3)) as openai:
        async with asyncio.timeout(2):
            assert (await openai.health()).status == "down"


def test_missing_key_is_a_problem_only_for_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cloud = OpenAIProvider("cloud", msgspec.convert({"type": "openai"}, OpenAIOptions))
    assert cloud.problems() == ["no API key for api.openai.com: set api_key or OPENAI_API_KEY"]
    local = OpenAIProvider("vllm", OpenAIOptions(type="openai", base_url="http://127.0.0.1:8000/v1"))
    assert local.problems() == []
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert cloud.problems() == []
    assert cloud.options.resolved_key() == SECRET


async def test_keyless_servers_get_a_placeholder_never_the_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAI() as fake:
        async with started(provider(fake.url, key="")) as openai:
            await answer(openai)
        assert fake.chat_requests()[0].headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"


async def test_the_key_stays_out_of_repr_and_logs(fake: FakeOpenAI) -> None:
    openai = provider(fake.url)
    assert SECRET not in repr(openai.options) and "api_key='***'" in repr(openai.options)
    assert SECRET not in repr(openai) and SECRET not in str(openai.options)
    fake.script(Script(status=401), Script(status=500), Script(fault="cut", after=1))
    with capture_logs() as logs:
        async with started(openai):
            for _ in range(4):
                with contextlib.suppress(ProviderError):
                    await answer(openai)
            await openai.health()
    assert SECRET not in repr(logs) and "capital of France" not in repr(logs)


async def test_credentials_in_the_url_stay_out_of_errors_and_health() -> None:
    url = closed_port_url().replace("http://", "http://admin:hunter2@")
    error = await failure(url)
    async with started(provider(url)) as openai:
        health = await openai.health()
    assert "hunter2" not in str(error) + health.detail and health.status == "down"


async def test_credentials_in_the_url_are_sent_as_basic_auth(fake_openai: FakeOpenAI) -> None:
    """A proxy in front of the server may want them; they take the key's place."""
    url = fake_openai.url.replace("http://", "http://admin:hunter2@")
    fake_openai.script(Script(text="Paris."))
    async with started(provider(url)) as openai:
        texts, _ = await answer(openai)
    assert texts == ["Paris."]
    assert fake_openai.chat_requests()[0].headers["authorization"] == "Basic YWRtaW46aHVudGVyMg=="


async def test_the_requests_cap_is_max_tokens_and_a_cut_answer_is_truncated(fake: FakeOpenAI) -> None:
    fake.default = Script(text="one two three four five six")
    async with started(provider(fake.url)) as openai:
        received = [c async for c in openai.stream(msgspec.structs.replace(REQUEST, max_tokens=3))]
    assert fake.chat_requests()[0].json["max_tokens"] == 3
    assert "".join(c.text for c in received) == "one two three"
    assert received[-1].truncated and received[-1].usage["finish_reason"] == "length"


def test_api_openai_com_takes_the_cap_as_max_completion_tokens() -> None:
    """Its reasoning models refuse ``max_tokens``; every model there takes ``max_completion_tokens``."""
    official = OpenAIOptions(type="openai", api_key="sk-x")
    compatible = OpenAIOptions(type="openai", base_url="http://127.0.0.1:8080/v1")
    assert official.sampling(300) == {"max_completion_tokens": 300}
    assert compatible.sampling(300) == {"max_tokens": 300}
    assert compatible.sampling(None) == {}


async def test_the_sdk_s_headers_go_with_every_request(fake: FakeOpenAI) -> None:
    async with started(provider(fake.url, organization="org-test")) as openai:
        for _ in range(2):
            await answer(openai)
    for sent in fake.chat_requests():
        assert sent.headers["openai-organization"] == "org-test"
        assert sent.headers["user-agent"].startswith("AsyncOpenAI/Python")
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["x-stainless-retry-count"] == "0"


async def test_the_environments_proxy_is_used_unless_no_proxy_exempts_the_host(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    error = await failure(fake)
    assert error.kind == "connect" and fake.requests == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with started(provider(fake.url)) as openai:
        texts, _ = await answer(openai)
    assert texts and len(fake.chat_requests()) == 1


async def test_a_proxy_s_credentials_go_to_the_proxy_only(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://relay:s3cret@"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with contextlib.suppress(ProviderError):  # the fake proxy does not forward
            async with started(provider(fake.url)) as openai:
                await answer(openai)
        relayed = proxy.requests[0]
    assert relayed.headers["proxy-authorization"] == "Basic cmVsYXk6czNjcmV0"
    assert relayed.headers["authorization"] == f"Bearer {SECRET}"


async def test_an_idle_connection_is_dropped_before_a_server_s_five_seconds(fake: FakeOpenAI) -> None:
    """llama.cpp's server and uvicorn close a connection idle for 5 s; reusing one they are
    closing would fail the request (aiohttp does not retry a POST)."""
    async with started(provider(fake.url)) as openai:
        await answer(openai)
        await answer(openai)
        assert fake.connections == 1
        await asyncio.sleep(4.3)
        await answer(openai)
    assert fake.connections == 2
