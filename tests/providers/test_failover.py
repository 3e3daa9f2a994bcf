"""A failing first provider and an answering second one, through the real app.

Before the first delta a failure is invisible: the second provider answers. After it, the
stream ends with one clean ``error`` event and the partial answer is kept, marked incomplete.
Either way history holds exactly one user message and at most one assistant message, and
nothing outlives the chain's deadline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import decode
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script, closed_port_url
from tests.support.server import running_server

DEADLINE = 4.0
ANSWER = "The backup answers."
TIMEOUTS = {"timeout": 0.5, "chunk_timeout": 0.5, "connect_timeout": 0.5}

BEFORE_FIRST_DELTA = {
    "refused": None,
    "hang": Script(fault="hang"),
    "slow_first_token": Script(first_chunk_delay=3),
    "status_500": Script(status=500),
    "status_503": Script(status=503),
    "status_400": Script(status=400),
    "status_401": Script(status=401),
    "status_404": Script(status=404, error='model "llama3.2" not found, try pulling it first'),
    "status_429_long_retry_after": Script(status=429, retry_after="30"),
    "error_line_first": Script(fault="error", after=0),
    "malformed_first": Script(fault="malformed", after=0),
    "cut_before_text": Script(fault="cut", after=0),
    "end_without_done": Script(fault="end", after=0),
    "stall_before_text": Script(fault="stall", after=0),
}

AFTER_FIRST_DELTA = {
    "cut": Script(fault="cut", after=2),
    "error_line": Script(fault="error", after=2),
    "malformed": Script(fault="malformed", after=2),
    "end_without_done": Script(fault="end", after=2),
    "stall": Script(fault="stall", after=2),
}


FAKES = {"ollama": FakeOllama, "openai": FakeOpenAI}
OTHER = {"ollama": "openai", "openai": "ollama"}


@pytest.fixture(scope="module")
def backups() -> Iterator[dict[str, FakeOllama | FakeOpenAI]]:
    with FakeOllama() as ollama, FakeOpenAI() as openai:
        for fake in (ollama, openai):
            fake.default = Script(text=ANSWER)
        yield {"ollama": ollama, "openai": openai}


@pytest.fixture(params=list(FAKES))
def primary(request: pytest.FixtureRequest) -> Iterator[FakeOllama | FakeOpenAI]:
    with FAKES[request.param]() as fake:
        yield fake


def table(kind: str, url: str) -> dict[str, Any]:
    if kind == "openai":
        return {"type": "openai", "base_url": url + "/v1", "api_key": "sk-test", **TIMEOUTS}
    return {"type": "ollama", "base_url": url, **TIMEOUTS}


def kind_of(fake: FakeOllama | FakeOpenAI) -> str:
    return "ollama" if isinstance(fake, FakeOllama) else "openai"


def config(primary: tuple[str, str], backup: tuple[str, str]) -> dict[str, Any]:
    return {
        "chain": {"order": ["local", "cloud"], "deadline": DEADLINE, "retries": 1, "backoff": 0.01},
        "providers": {"local": table(*primary), "cloud": table(*backup)},
        "rate_limit": {"type": "none"},
    }


@pytest.fixture
def app_for(primary: FakeOllama | FakeOpenAI, backups):
    """An app whose chain is [primary at ``url``, a backup of the other type]."""

    def make(url: str) -> AsyncTestClient:
        kind = kind_of(primary)
        backup = backups[OTHER[kind]]
        raw = config((kind, url), (OTHER[kind], backup.url))
        return AsyncTestClient(create_app(build_runtime(decode(raw))), raise_server_exceptions=False)

    return make


async def ask(client: AsyncTestClient, stream: bool) -> tuple[str, httpx.Response, float]:
    session = (await client.post("/api/create-session")).json()["sessionId"]
    began = time.monotonic()
    response = await client.post("/api/chat", json={"sessionId": session, "message": "Hi?", "stream": stream})
    return session, response, time.monotonic() - began


def events(response: httpx.Response) -> list[tuple[str, Any]]:
    parsed = []
    for block in re.split(r"\r?\n\r?\n", response.text.strip()):
        fields = dict(re.findall(r"^(event|data): ?(.*?)\r?$", block, re.M))
        if fields:
            parsed.append((fields.get("event", "message"), json.loads(fields["data"])))
    return parsed


async def history(client: AsyncTestClient, session: str) -> list[dict[str, Any]]:
    return (await client.get(f"/api/session/{session}/messages")).json()["messages"]


def primary_url(fake: FakeOllama | FakeOpenAI, script: Script | None) -> str:
    if script is None:
        return closed_port_url()
    fake.default = script
    return fake.url


@pytest.mark.parametrize("mode", list(BEFORE_FIRST_DELTA))
async def test_failure_before_the_first_delta_is_invisible(
    primary: FakeOllama | FakeOpenAI, app_for, mode: str
) -> None:
    async with app_for(primary_url(primary, BEFORE_FIRST_DELTA[mode])) as client:
        session, response, elapsed = await ask(client, stream=True)
        assert response.status_code == 200
        sse = events(response)
        assert [name for name, _ in sse] == ["start", *["delta"] * (len(sse) - 2), "done"]
        assert sse[0][1]["provider"] == "cloud"
        assert "".join(data["text"] for name, data in sse if name == "delta") == ANSWER
        messages = await history(client, session)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["provider"] == "cloud" and messages[1]["content"] == ANSWER
    assert messages[1]["incomplete"] is False
    assert elapsed < DEADLINE + 1


@pytest.mark.parametrize("mode", list(AFTER_FIRST_DELTA))
async def test_failure_after_the_first_delta_ends_with_one_error_event(
    primary: FakeOllama | FakeOpenAI, app_for, mode: str
) -> None:
    async with app_for(primary_url(primary, AFTER_FIRST_DELTA[mode])) as client:
        session, response, elapsed = await ask(client, stream=True)
        sse = events(response)
        names = [name for name, _ in sse]
        assert names[0] == "start" and sse[0][1]["provider"] == "local"
        assert names[-1] == "error" and names.count("error") == 1 and "done" not in names
        assert set(names[1:-1]) == {"delta"}
        partial = "".join(data["text"] for name, data in sse if name == "delta")
        messages = await history(client, session)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["provider"] == "local" and messages[1]["content"] == partial
    assert messages[1]["incomplete"] is True
    assert elapsed < DEADLINE + 1


@pytest.mark.parametrize("mode", ["cut", "error_line", "stall"])
async def test_a_buffered_answer_fails_over_even_mid_stream(
    primary: FakeOllama | FakeOpenAI, app_for, mode: str
) -> None:
    async with app_for(primary_url(primary, AFTER_FIRST_DELTA[mode])) as client:
        session, response, elapsed = await ask(client, stream=False)
        assert response.status_code == 200
        assert response.json()["message"]["content"] == ANSWER
        assert [m["role"] for m in await history(client, session)] == ["user", "assistant"]
    assert elapsed < DEADLINE + 1


async def test_when_both_fail_the_message_stays_and_the_answer_is_503(backups) -> None:
    raw = config(("ollama", closed_port_url()), ("openai", backups["openai"].url))
    raw["providers"]["cloud"]["model"] = "no-such-model"
    async with AsyncTestClient(create_app(build_runtime(decode(raw))), raise_server_exceptions=False) as client:
        session, response, elapsed = await ask(client, stream=False)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "providers_unavailable"
        assert [m["role"] for m in await history(client, session)] == ["user"]
    assert elapsed < DEADLINE + 1


async def test_retryable_failure_is_retried_on_the_same_provider_first(
    primary: FakeOllama | FakeOpenAI, app_for
) -> None:
    primary.script(Script(status=503), Script(text="Second try."))
    async with app_for(primary.url) as client:
        _, response, _ = await ask(client, stream=False)
    assert response.json()["message"]["provider"] == "local"
    assert response.json()["message"]["content"] == "Second try."
    assert len(primary.chat_requests()) == 2


async def test_a_visitor_leaving_mid_answer_closes_the_upstream_connection() -> None:
    with FakeOllama() as fake:
        fake.default = Script(text=" ".join(["word"] * 40), chunk_delay=0.2)
        toml = "\n".join(
            [
                "[chain]",
                'order = ["local"]',
                "[rate_limit]",
                'type = "none"',
                "[providers.local]",
                'type = "ollama"',
                f'base_url = "{fake.url}"',
            ]
        )
        with running_server(toml) as base:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                session = (await client.post("/api/create-session")).json()["sessionId"]
                body = {"sessionId": session, "message": "Tell me a story", "stream": True}
                async with client.stream("POST", "/api/chat", json=body) as response:
                    await anext(aiter_deltas(response))
            assert fake.wait_disconnect(5)
            assert fake.chat_requests()[0].chunks_sent < 40


async def aiter_deltas(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.startswith("event: delta"):
            yield line
