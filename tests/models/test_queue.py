"""A busy local model server: ChatKit's per-provider queue against a fake llama-server with a
few slots, its first-token timeout, the circuit breaker, and a shared context that overflows."""

from __future__ import annotations

import asyncio

import pytest

from chatkit_core.chat.slots import QueueFull, Slots
from tests.fakes.llama import FakeLlama
from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Script
from tests.models.conftest import ask, ask_many

ANSWER = " ".join(f"t{i}" for i in range(30))


def toml(url: str, provider: str = "", chain: str = "", chat: str = "", backup: str = "") -> str:
    text = f"""
[chain]
order = {'["a", "b"]' if backup else '["a"]'}
retries = 0
{chain}
[chat]
{chat}
[providers.a]
type = "openai"
base_url = "{url}/v1"
model = "gemma-3-270m"
first_token_timeout = 0.8
{provider}
[rate_limit]
type = "none"
"""
    if backup:
        text += f'[providers.b]\ntype = "ollama"\nbase_url = "{backup}"\n'
    return text


@pytest.fixture
def llama():
    with FakeLlama(slots=2, token_delay=0.02) as fake:
        fake.default = Script(text=ANSWER)
        yield fake


@pytest.fixture
def backup():
    with FakeOllama() as fake:
        fake.default = Script(text="From the backup")
        yield fake


def names(events: list[tuple[str, dict]]) -> list[str]:
    return [name for name, _ in events]


async def test_without_a_queue_visitors_waiting_upstream_time_out(make_client, llama) -> None:
    """What happens with no max_concurrency: the server queues, ChatKit's first-token timeout runs."""
    llama.slots, llama.token_delay = 1, 0.05  # one answer at a time, 1.5 s each
    async with make_client(toml(llama.url, chain="breaker_failures = 2")) as client:
        chats = asyncio.ensure_future(ask_many(client, 4))
        await asyncio.sleep(1.1)  # the three waiting upstream have timed out; the first still streams
        health = (await client.get("/health")).json()
        chats = await chats
    failed = [events for events in chats if names(events)[-1] == "error"]
    assert len(failed) == 3 and all(events[-1][1]["error"]["code"] == "providers_unavailable" for events in failed)
    # timeouts of requests that waited together are one breaker event: the circuit stays closed
    assert health["providers"][0]["status"] == "up"


async def test_the_queue_serves_every_visitor_and_shows_their_place(make_client, llama) -> None:
    async with make_client(toml(llama.url, "max_concurrency = 2")) as client:
        chats = await ask_many(client, 6)
    assert all(names(events)[-1] == "done" for events in chats), [names(e)[-3:] for e in chats]
    assert llama.peak == 2  # never more than the server's slots
    queued = [events for events in chats if names(events)[0] == "queued"]
    assert len(queued) >= 3
    for events in queued:
        first_start = names(events).index("start")
        positions = [data["position"] for name, data in events[:first_start]]
        assert set(names(events)[:first_start]) == {"queued"}
        assert positions == sorted(positions, reverse=True) and positions[-1] >= 1
    # visitors that waited longer than the first-token timeout still got their answer: it runs from the send
    assert max(len(events) for events in queued) > 1


async def test_a_long_wait_fails_over_as_queue_timeout(make_client, llama, backup) -> None:
    llama.default = Script(text=" ".join(["slow"] * 40))
    provider = "max_concurrency = 1\nqueue_timeout = 0.3"
    async with make_client(toml(llama.url, provider, backup=backup.url)) as client:
        first, second = await asyncio.gather(ask(client), ask(client))
    replies = sorted((first.json()["message"], second.json()["message"]), key=lambda m: m["provider"])
    assert [r["provider"] for r in replies] == ["a", "b"]
    assert replies[1]["fallbacks"] == ["a:queue_timeout"]


async def test_a_full_queue_fails_over_at_once(make_client, llama, backup) -> None:
    provider = "max_concurrency = 1\nmax_queue = 0"
    async with make_client(toml(llama.url, provider, backup=backup.url)) as client:
        first, second = await asyncio.gather(ask(client), ask(client))
    fallbacks = sorted([first.json()["message"]["fallbacks"], second.json()["message"]["fallbacks"]])
    assert fallbacks == [[], ["a:queue_full"]]


async def test_without_a_cap_the_shared_context_overflows_mid_answer(make_client) -> None:
    with FakeLlama(slots=4, context=400, token_delay=0.005) as llama:
        llama.default = Script(text=" ".join(["more"] * 300))
        async with make_client(toml(llama.url, "max_concurrency = 4", chat="max_tokens = 0")) as client:
            chats = await ask_many(client, 4)
    assert llama.overflows >= 1
    assert all(events[-1] == ("error", events[-1][1]) for events in chats)
    assert {events[-1][1]["error"]["code"] for events in chats} == {"stream_interrupted"}


async def test_with_the_cap_the_shared_context_holds(make_client) -> None:
    with FakeLlama(slots=4, context=400, token_delay=0.005) as llama:
        llama.default = Script(text=" ".join(["more"] * 300))
        async with make_client(toml(llama.url, "max_concurrency = 4", chat="max_tokens = 60")) as client:
            chats = await ask_many(client, 4)
    assert llama.overflows == 0
    assert all(names(events)[-1] == "done" and events[-1][1]["message"]["truncated"] for events in chats)


async def test_slots_are_first_come_first_served_and_bounded() -> None:
    slots = Slots(limit=1, max_queue=2)
    holder, second, third = slots.enter(), slots.enter(), slots.enter()
    assert (holder.granted, second.position, third.position) == (True, 1, 2)
    with pytest.raises(QueueFull):
        slots.enter()
    second.leave()  # a visitor who leaves the line lets the others move up
    assert third.position == 1
    holder.leave()
    assert third.granted and slots.busy == 1
    third.leave()
    third.leave()  # twice is harmless
    assert slots.busy == 0 and not slots.waiting


async def test_the_openapi_description_names_the_queued_event(make_client, llama) -> None:
    async with make_client(toml(llama.url)) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    events = schema["paths"]["/api/chat"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    assert "`queued` {position}" in events["schema"]["description"]
