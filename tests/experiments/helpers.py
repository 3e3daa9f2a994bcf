"""An app with an experiment of two system prompts (and two models), in front of a fake OpenAI
server on loopback that records what each variant's requests carried."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.console.helpers import TOKEN
from tests.core.conftest import config_from
from tests.fakes.openai import FakeOpenAI

PROMPTS = {"a": "You are the bakery's assistant. PROMPT-A", "b": "Answer in two sentences. PROMPT-B"}
MODELS = {"a": "gpt-4o-mini", "b": "gpt-4o"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def experiment_config(upstream: str, *, weights: tuple[int, int] = (50, 50), enabled: bool = True,
                      store: str = 'store = "memory"', experiment: bool = True, extra: str = "") -> str:
    """The base config answers with prompt A and model A; variant b changes both."""
    text = f"""
[chain]
order = ["cloud"]
retries = 0
[providers.cloud]
type = "openai"
base_url = "{upstream}/v1"
api_key = "sk-test"
model = "{MODELS["a"]}"
[chat]
system_prompt = "{PROMPTS["a"]}"
[rate_limit]
type = "none"
[sessions]
{store}
new_per_minute = 0
[admin]
token = "{TOKEN}"
{extra}
"""
    if not experiment:
        return text
    return text + f"""
[experiments.tone]
enabled = {str(enabled).lower()}
[experiments.tone.variants.a]
weight = {weights[0]}
[experiments.tone.variants.b]
weight = {weights[1]}
[experiments.tone.variants.b.chat]
system_prompt = "{PROMPTS["b"]}"
[experiments.tone.variants.b.providers.cloud]
model = "{MODELS["b"]}"
"""


def fake_openai() -> FakeOpenAI:
    return FakeOpenAI(models=tuple(MODELS.values()), api_key="sk-test")


@contextlib.asynccontextmanager
async def app(text: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(create_app(build_runtime(config_from(text))), raise_server_exceptions=False) as client:
        yield client


async def start(client: AsyncTestClient) -> str:
    response = await client.post("/api/create-session")
    assert response.status_code == 201, response.text
    return response.json()["sessionId"]


async def say(client: AsyncTestClient, session: str, text: str, stream: bool = False) -> dict[str, Any]:
    """The answer's Message (from the JSON answer, or the stream's ``done`` event)."""
    response = await client.post("/api/chat", json={"sessionId": session, "message": text, "stream": stream})
    assert response.status_code == 200, response.text
    if not stream:
        return response.json()["message"]
    done = response.text.split("event: done", 1)[1].split("data: ", 1)[1].split("\n", 1)[0]
    return json.loads(done)["message"]


def upstream_variant(fake: FakeOpenAI, text: str) -> str:
    """Which variant the upstream request asking the visitor's ``text`` was sent as: its system
    prompt and its model must agree."""
    found = [r.json for r in fake.chat_requests() if r.json["messages"][-1]["content"] == text]
    assert len(found) == 1, (text, len(found))
    body = found[0]
    system = [m["content"] for m in body["messages"] if m["role"] == "system"]
    by_prompt = {name for name, prompt in PROMPTS.items() if system == [prompt]}
    by_model = {name for name, model in MODELS.items() if body["model"] == model}
    assert by_prompt == by_model and len(by_prompt) == 1, (system, body["model"])
    return by_prompt.pop()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series of a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))  # as prometheus_client writes
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
