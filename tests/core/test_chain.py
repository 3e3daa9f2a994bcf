"""The fallback chain, end to end: the real app, the real Ollama plugin, fake Ollama servers
on loopback. Nothing of the chain is mocked."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from structlog.testing import capture_logs

from chatkit_core.chat.breaker import Breaker
from tests.core.conftest import new_session
from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Script
from tests.support.server import free_port, running_server


@pytest.fixture
def first():
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def second():
    with FakeOllama() as fake:
        fake.default = Script(text="Answer from second")
        yield fake


def chain_toml(a_url: str, b_url: str | None = None, chain: str = "", provider: str = "") -> str:
    text = f"""
[chain]
order = {json.dumps(["a", "b"] if b_url else ["a"])}
backoff = 0.1
backoff_max = 0.4
{chain}
[providers.a]
type = "ollama"
base_url = "{a_url}"
timeout = 2
{provider or "chunk_timeout = 1"}
[rate_limit]
type = "none"
"""
    if b_url:
        text += f'[providers.b]\ntype = "ollama"\nbase_url = "{b_url}"\n'
    return text


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def ask(client, session: str, text: str = "hello", stream: bool = False):
    return await client.post("/api/chat", json={"sessionId": session, "message": text, "stream": stream})


async def history(client, session: str) -> list[dict]:
    return (await client.get(f"/api/session/{session}/messages")).json()["messages"]


async def test_first_provider_in_order_answers(make_client, first, second):
    first.default = Script(text="Answer from first")
    async with make_client(chain_toml(first.url, second.url)) as client:
        reply = (await ask(client, await new_session(client))).json()["message"]
    assert (reply["provider"], reply["content"], reply["fallbacks"]) == ("a", "Answer from first", [])
    assert reply["model"] == "llama3.2" and reply["usage"]["completion_tokens"] > 0
    assert not second.chat_requests()


@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_fails_over_silently(make_client, second, stream):
    async with make_client(chain_toml(dead_url(), second.url)) as client:
        session = await new_session(client)
        response = await ask(client, session, stream=stream)
        if stream:
            events = sse_events(response.text)
            assert events[0][0] == "start" and events[-1][0] == "done"
            assert events[0][1]["provider"] == "b"
            reply = events[-1][1]["message"]
        else:
            reply = response.json()["message"]
        assert reply["provider"] == "b" and reply["content"] == "Answer from second"
        assert reply["fallbacks"] == ["a:connect", "a:connect"]  # every attempt, retry included
        assert [m["role"] for m in await history(client, session)] == ["user", "assistant"]


async def test_retryable_error_is_retried_with_backoff(make_client, first, second):
    first.script(Script(status=503))
    async with make_client(chain_toml(first.url, second.url)) as client:
        began = time.monotonic()
        reply = (await ask(client, await new_session(client))).json()["message"]
    assert reply["provider"] == "a" and len(first.chat_requests()) == 2
    assert time.monotonic() - began >= 0.05  # backoff 0.1 s with jitter in [0.05, 0.1]
    assert not second.chat_requests()


async def test_non_retryable_error_fails_over_without_retry(make_client, first, second):
    first.script(Script(status=400))
    async with make_client(chain_toml(first.url, second.url)) as client:
        reply = (await ask(client, await new_session(client))).json()["message"]
    assert reply["provider"] == "b" and reply["fallbacks"] == ["a:bad_request"]
    assert len(first.chat_requests()) == 1


async def test_retry_after_is_honoured(make_client, first, second):
    first.script(Script(status=429, retry_after="1"))
    async with make_client(chain_toml(first.url, second.url)) as client:
        began = time.monotonic()
        reply = (await ask(client, await new_session(client))).json()["message"]
    assert reply["provider"] == "a" and time.monotonic() - began >= 1.0


async def test_long_retry_after_fails_over_instead_of_waiting(make_client, first, second):
    first.script(Script(status=429, retry_after="120"))
    async with make_client(chain_toml(first.url, second.url)) as client:
        began = time.monotonic()
        reply = (await ask(client, await new_session(client))).json()["message"]
    assert reply["provider"] == "b" and time.monotonic() - began < 2
    assert reply["fallbacks"] == ["a:rate_limited"]


async def test_circuit_opens_then_probes_after_cooldown(make_client, first, second):
    first.default = Script(status=500)
    toml = chain_toml(first.url, second.url, chain="retries = 0\nbreaker_failures = 2\nbreaker_cooldown = 0.5")
    async with make_client(toml) as client:
        session = await new_session(client)
        for _ in range(2):
            assert (await ask(client, session)).json()["message"]["fallbacks"] == ["a:server"]
        assert len(first.chat_requests()) == 2
        skipped = (await ask(client, session)).json()["message"]
        assert skipped["fallbacks"] == ["a:circuit_open"] and len(first.chat_requests()) == 2
        health = (await client.get("/health")).json()
        assert {p["name"]: p["status"] for p in health["providers"]}["a"] == "cooldown"
        assert health["status"] == "degraded"
        first.default = Script(text="Back again")
        time.sleep(0.6)
        probe = (await ask(client, session)).json()["message"]
        assert probe["provider"] == "a" and probe["content"] == "Back again"
        again = (await ask(client, session)).json()["message"]
        assert again["provider"] == "a"


async def test_last_provider_is_tried_even_with_its_circuit_open(make_client, first):
    first.default = Script(status=500)
    async with make_client(chain_toml(first.url, chain="retries = 0\nbreaker_failures = 1")) as client:
        session = await new_session(client)
        for _ in range(3):
            assert (await ask(client, session)).status_code == 503
    assert len(first.chat_requests()) == 3


async def test_first_token_timeout_fails_over(make_client, first, second):
    first.default = Script(fault="hang")
    toml = chain_toml(first.url, second.url, chain="retries = 0", provider="first_token_timeout = 0.3")
    async with make_client(toml) as client:
        began = time.monotonic()
        reply = (await ask(client, await new_session(client))).json()["message"]
    assert reply["provider"] == "b" and reply["fallbacks"] == ["a:timeout"]
    assert time.monotonic() - began < 1.5


async def test_stall_after_first_delta_ends_stream_with_error_and_keeps_partial(make_client, first, second):
    first.default = Script(text="one two three four five six", fault="stall", after=3)
    toml = chain_toml(first.url, second.url, provider="chunk_timeout = 0.3")
    async with make_client(toml) as client:
        session = await new_session(client)
        began = time.monotonic()
        events = sse_events((await ask(client, session, stream=True)).text)
        assert time.monotonic() - began < 2
        names = [name for name, _ in events]
        assert names[0] == "start" and names[-1] == "error" and names.count("error") == 1 and "done" not in names
        assert events[-1][1]["error"]["code"] == "stream_interrupted"
        streamed = "".join(data["text"] for name, data in events if name == "delta")
        assert streamed == "one two three"
        messages = await history(client, session)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["incomplete"] is True and messages[1]["content"] == "one two three"
    assert messages[1]["id"] == events[0][1]["messageId"]
    assert not second.chat_requests()


@pytest.mark.parametrize("fault", ["cut", "end", "malformed", "error"])
async def test_mid_stream_failure_in_json_mode_fails_over(make_client, first, second, fault):
    first.default = Script(text="one two three four", fault=fault, after=2)
    async with make_client(chain_toml(first.url, second.url, chain="retries = 0")) as client:
        session = await new_session(client)
        reply = (await ask(client, session)).json()["message"]
        assert reply["provider"] == "b" and reply["content"] == "Answer from second"
        assert [m["role"] for m in await history(client, session)] == ["user", "assistant"]


async def test_overall_deadline_bounds_the_request(make_client, first, second):
    first.default = second.default = Script(fault="hang")
    toml = chain_toml(first.url, second.url, chain="deadline = 0.8")
    async with make_client(toml) as client:
        session = await new_session(client)
        began = time.monotonic()
        response = await ask(client, session)
        assert time.monotonic() - began < 1.5
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "providers_unavailable"
        assert [m["role"] for m in await history(client, session)] == ["user"]


async def test_every_provider_failing_keeps_the_question(make_client):
    async with make_client(chain_toml(dead_url(), dead_url())) as client:
        session = await new_session(client)
        response = await ask(client, session, "are you there?")
        assert response.status_code == 503 and response.headers["retry-after"]
        events = sse_events((await ask(client, session, "still?", stream=True)).text)
        assert events == [("error", {"error": {"code": "providers_unavailable",
                                               "message": response.json()["error"]["message"]}})]
        assert [m["content"] for m in await history(client, session)] == ["are you there?", "still?"]
        again = await ask(client, session, "still?")  # a retry: the unanswered question is not stored twice
        assert again.status_code == 503
        assert [m["content"] for m in await history(client, session)] == ["are you there?", "still?"]


async def test_fallbacks_show_in_metrics_and_logs(make_client, second):
    async with make_client(chain_toml(dead_url(), second.url, chain="retries = 0")) as client:
        with capture_logs() as logs:
            await ask(client, await new_session(client))
        metrics = (await client.get("/metrics")).text
    assert 'chatkit_fallbacks_total{provider="a",reason="connect"} 1.0' in metrics
    assert 'chatkit_answers_total{provider="b",status="complete"} 1.0' in metrics
    assert 'chatkit_provider_requests_total{outcome="success",provider="b"} 1.0' in metrics
    assert "chatkit_time_to_first_token_seconds_count" in metrics
    skipped = [e for e in logs if e["event"] == "provider_skipped"]
    answered = [e for e in logs if e["event"] == "answered"]
    assert skipped[0]["provider"] == "a" and skipped[0]["reason"] == "connect"
    assert answered[0]["provider"] == "b" and answered[0]["fallbacks"] == ["a:connect"]


def test_client_disconnect_cancels_the_upstream_call(first):
    """Over real sockets: the visitor leaves mid-answer, the server hangs up on Ollama."""
    words = " ".join(f"w{i}" for i in range(40))
    first.default = Script(text=words, chunk_delay=0.1)
    with running_server(chain_toml(first.url)) as url, httpx.Client(base_url=url, timeout=10) as http:
        session = http.post("/api/create-session").json()["sessionId"]
        with http.stream("POST", "/api/chat", json={"sessionId": session, "message": "hi", "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    break
        assert first.wait_disconnect(timeout=5)
        request = first.chat_requests()[0]
        assert request.disconnected and not request.completed and request.chunks_sent < 40
        time.sleep(0.3)
        messages = http.get(f"/api/session/{session}/messages").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["incomplete"] is True and messages[1]["content"].startswith("w0")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_counts_failures_that_overlapped_a_counted_one_once() -> None:
    clock = Clock()
    breaker = Breaker(failures=2, cooldown=30, clock=clock)
    sent = clock.now
    clock.now += 1
    assert breaker.failed(started=sent) is True
    assert [breaker.failed(started=sent) for _ in range(5)] == [False] * 5  # waited together, failed together
    assert breaker.state == "closed"
    clock.now += 1
    assert breaker.failed(started=clock.now) is True  # a new attempt after it: counts
    assert breaker.state == "open"


def test_breaker_trip_opens_at_once_and_stragglers_do_not_reopen_a_probe() -> None:
    clock = Clock()
    breaker = Breaker(failures=3, cooldown=5, clock=clock)
    breaker.failed(trip=True, started=clock.now)
    assert breaker.state == "open" and not breaker.allow()
    straggler = clock.now
    clock.now += 6
    assert breaker.allow() and breaker.state == "half_open"
    assert breaker.failed(started=straggler) is False and breaker.state == "half_open"
    assert breaker.failed(started=clock.now) is True and breaker.state == "open"
