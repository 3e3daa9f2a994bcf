"""The answer-length cap and answers cut by it, end to end with fake Ollama and OpenAI servers."""

from __future__ import annotations

import pytest

from chatkit_core.chat.chain import DEFAULT_MAX_TOKENS
from tests.core.conftest import new_session
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.models.conftest import ask, sse_events

RAMBLING = " ".join(f"w{i}" for i in range(DEFAULT_MAX_TOKENS + 50))


def toml(kind: str, url: str, provider: str = "", chat: str = "") -> str:
    base = url + "/v1" if kind == "openai" else url
    return f"""
[chat]
{chat}
[providers.local]
type = "{kind}"
base_url = "{base}"
model = "{'gpt-4o-mini' if kind == 'openai' else 'llama3.2'}"
{provider}
[rate_limit]
type = "none"
"""


@pytest.fixture(params=["ollama", "openai"])
def upstream(request: pytest.FixtureRequest):
    fake_type = FakeOllama if request.param == "ollama" else FakeOpenAI
    with fake_type() as fake:
        fake.default = Script(text=RAMBLING, chunks=None)
        yield request.param, fake


def sent_cap(kind: str, fake) -> int | None:
    body = fake.chat_requests()[-1].json
    return (body.get("options") or {}).get("num_predict") if kind == "ollama" else body.get("max_tokens")


async def test_every_provider_gets_the_default_cap_and_a_cut_answer_is_marked(make_client, upstream) -> None:
    kind, fake = upstream
    async with make_client(toml(kind, fake.url)) as client:
        reply = (await ask(client)).json()["message"]
    assert sent_cap(kind, fake) == DEFAULT_MAX_TOKENS
    assert reply["truncated"] is True and reply["incomplete"] is False
    assert len(reply["content"].split()) == DEFAULT_MAX_TOKENS
    reason = reply["usage"]["done_reason" if kind == "ollama" else "finish_reason"]
    assert reason == "length"


async def test_a_complete_answer_is_not_truncated(make_client, upstream) -> None:
    kind, fake = upstream
    fake.default = Script(text="Paris.")
    async with make_client(toml(kind, fake.url)) as client:
        reply = (await ask(client)).json()["message"]
    assert reply["content"] == "Paris." and reply["truncated"] is False


@pytest.mark.parametrize(("provider", "chat", "cap"), [
    ("", "max_tokens = 40", 40),                       # [chat] sets it for every provider
    ("max_tokens = 25", "max_tokens = 40", 25),        # the provider's own wins
    ("max_tokens = 0", "", None),                      # 0: no cap, the server's own
    ("", "max_tokens = 0", None),
])
async def test_the_cap_is_set_per_provider_or_in_chat(make_client, upstream, provider, chat, cap) -> None:
    kind, fake = upstream
    async with make_client(toml(kind, fake.url, provider, chat)) as client:
        reply = (await ask(client)).json()["message"]
    assert sent_cap(kind, fake) == cap
    assert reply["truncated"] is (cap is not None)


async def test_ollama_num_predict_wins_over_max_tokens(make_client) -> None:
    with FakeOllama() as fake:
        fake.default = Script(text=RAMBLING)
        async with make_client(toml("ollama", fake.url, "num_predict = 7\nmax_tokens = 30")) as client:
            reply = (await ask(client)).json()["message"]
    assert fake.chat_requests()[0].json["options"]["num_predict"] == 7
    assert len(reply["content"].split()) == 7 and reply["truncated"] is True


async def test_openai_max_completion_tokens_is_sent_as_is(make_client) -> None:
    with FakeOpenAI() as fake:
        fake.default = Script(text=RAMBLING)
        async with make_client(toml("openai", fake.url, "max_completion_tokens = 9")) as client:
            reply = (await ask(client)).json()["message"]
    body = fake.chat_requests()[0].json
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body
    assert reply["truncated"] is True


async def test_a_streamed_answer_cut_by_the_cap_is_marked_in_done_and_history(make_client, upstream) -> None:
    kind, fake = upstream
    async with make_client(toml(kind, fake.url, chat="max_tokens = 5")) as client:
        session = await new_session(client)
        events = sse_events((await ask(client, stream=True, session=session)).text)
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and "error" not in names
    assert events[-1][1]["message"]["truncated"] is True
    assert history[-1]["truncated"] is True and history[-1]["incomplete"] is False
