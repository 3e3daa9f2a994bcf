"""Four real ``chatkit serve`` instances sharing one provider's slots through one redis-server,
in front of a fake Ollama that records how many answers it was asked for at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Recorded, Responder, Script
from tests.redis_store.redis_server import REDIS_SERVER, RedisServer
from tests.support.server import running_server

pytestmark = pytest.mark.redis


class CountingOllama(FakeOllama):
    """Records the most chat requests it was serving at once, and the order they arrived in."""

    def __init__(self) -> None:
        super().__init__()
        self.open = 0
        self.peak = 0
        self.arrivals: list[str] = []

    async def handle(self, request: Recorded, respond: Responder) -> None:
        if request.path != self.chat_path:
            await super().handle(request, respond)
            return
        self.open += 1
        self.peak = max(self.peak, self.open)
        self.arrivals.append(request.json["messages"][-1]["content"])
        try:
            await super().handle(request, respond)
        finally:
            self.open -= 1


def config(redis_url: str, upstream: str, limit: int, lease: float = 10) -> str:
    return f"""
[chain]
order = ["local"]
retries = 0
concurrency_store = "{redis_url}"
concurrency_lease = {lease}

[providers.local]
type = "ollama"
base_url = "{upstream}"
model = "llama3.2"
max_concurrency = {limit}
queue_timeout = 60
first_token_timeout = 20

[rate_limit]
type = "none"
"""


@contextlib.contextmanager
def instances(toml: str, count: int) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(running_server(toml)) for _ in range(count)]


def events(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


async def visit(client: httpx.AsyncClient, base: str, text: str) -> list[tuple[str, dict]]:
    """A visitor on instance ``base``: a new conversation, one streamed question, its events."""
    session = (await client.post(base + "/api/create-session", json={})).json()["sessionId"]
    reply = await client.post(base + "/api/chat", json={"sessionId": session, "message": text, "stream": True})
    assert reply.status_code == 200, reply.text
    return events(reply.text)


async def crowd(bases: list[str], count: int) -> list[list[tuple[str, dict]]]:
    async with httpx.AsyncClient(timeout=120) as client:
        return await asyncio.gather(*(visit(client, bases[n % len(bases)], f"visitor {n}")
                                      for n in range(count)))


@pytest.fixture(scope="module")
def upstream() -> Iterator[CountingOllama]:
    with CountingOllama() as fake:
        yield fake


@contextlib.contextmanager
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def two_slots(tmp_path_factory, upstream: CountingOllama) -> Iterator[list[str]]:
    """Four instances sharing two slots."""
    with redis(tmp_path_factory.mktemp("redis")) as server, \
            instances(config(server.url, upstream.url, limit=2), 4) as bases:
        yield bases


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory, upstream: CountingOllama) -> Iterator[list[str]]:
    """Four instances sharing one slot, with a two-second lease."""
    with redis(tmp_path_factory.mktemp("redis")) as server, \
            instances(config(server.url, upstream.url, limit=1, lease=2), 4) as bases:
        yield bases


@pytest.fixture
def fake(upstream: CountingOllama) -> CountingOllama:
    upstream.peak = 0
    upstream.arrivals.clear()
    return upstream


def test_four_instances_never_exceed_the_shared_limit_and_answer_everyone(two_slots, fake) -> None:
    fake.default = Script(text=" ".join(f"w{i}" for i in range(10)), chunk_delay=0.03)
    chats = asyncio.run(crowd(two_slots, 16))
    assert [chat[-1][0] for chat in chats] == ["done"] * 16
    assert fake.peak == 2  # the limit, for the four of them together
    queued = [[data["position"] for name, data in chat if name == "queued"] for chat in chats]
    waited = [positions for positions in queued if positions]
    assert len(waited) >= 12  # two went straight in, most of the rest waited
    assert max(max(positions) for positions in waited) >= 10  # one line, longer than any instance's share
    for positions in waited:
        assert positions == sorted(positions, reverse=True) and positions[-1] >= 1


async def visit_in_turn(client: httpx.AsyncClient, base: str, text: str,
                        ahead: asyncio.Event | None, placed: asyncio.Event) -> list[tuple[str, dict]]:
    """A visitor who asks once the visitor ahead is placed (its first event: in line or answered),
    and sets ``placed`` at its own first event: arrival order is certain, however slow the machine."""
    if ahead is not None:
        await ahead.wait()
    session = (await client.post(base + "/api/create-session", json={})).json()["sessionId"]
    body = []
    async with client.stream("POST", base + "/api/chat",
                             json={"sessionId": session, "message": text, "stream": True}) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            body.append(line)
            if line.startswith("data: "):
                placed.set()
    return events("\n".join(body))


async def line(bases: list[str], count: int) -> list[list[tuple[str, dict]]]:
    placed = [asyncio.Event() for _ in range(count)]
    async with httpx.AsyncClient(timeout=120) as client:
        return await asyncio.gather(*(visit_in_turn(client, bases[n % len(bases)], f"visitor {n}",
                                                    placed[n - 1] if n else None, placed[n])
                                      for n in range(count)))


def test_the_line_across_instances_is_first_come_first_served(one_slot, fake) -> None:
    # Each answer takes ~1 s; each visitor arrives, round the four instances, once the one before
    # is in line: a line of seven forms behind the first, and must be served in arrival order.
    fake.default = Script(text=" ".join(["word"] * 10), chunk_delay=0.1)
    chats = asyncio.run(line(one_slot, 8))
    assert all(chat[-1][0] == "done" for chat in chats)
    assert all(chat[0][0] == "queued" for chat in chats[1:])  # everyone after the first waited
    assert fake.arrivals == [f"visitor {n}" for n in range(8)]
    assert fake.peak == 1


def server_pid(base_url: str) -> int:
    """The pid of the ``chatkit serve`` process listening on ``base_url``'s port."""
    port = base_url.rsplit(":", 1)[1].encode()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"chatkit_core" in argv and b"serve" in argv and argv[argv.index(b"--port") + 1] == port:
                return int(entry.name)
    raise LookupError(f"no chatkit serve process on port {port!r}")


def test_an_instance_killed_mid_answer_gives_its_slot_back_a_lease_later(one_slot, fake) -> None:
    doomed, other = one_slot[0], one_slot[1]
    fake.default = Script(text=" ".join(["slow"] * 100), chunk_delay=0.1)  # ten seconds

    async def scene() -> tuple[list[tuple[str, dict]], float]:
        async with httpx.AsyncClient(timeout=60) as client:
            first = asyncio.ensure_future(visit(client, doomed, "visitor on the doomed instance"))
            await asyncio.to_thread(fake.wait_for, lambda f: f.open == 1, 10)
            second = asyncio.ensure_future(visit(client, other, "visitor waiting elsewhere"))
            await asyncio.sleep(0.5)  # in line behind the doomed answer
            os.kill(server_pid(doomed), signal.SIGKILL)
            killed = time.monotonic()
            fake.default = Script(text="your turn")
            with contextlib.suppress(httpx.HTTPError):
                await first
            waited = await second
            return waited, time.monotonic() - killed

    waited, after_kill = asyncio.run(scene())
    assert [name for name, _ in waited if name == "queued"] and waited[0] == ("queued", {"position": 1})
    assert waited[-1][0] == "done" and waited[-1][1]["message"]["content"] == "your turn"
    assert after_kill < 6  # the two-second lease, then the waiter's next question to Redis
    assert fake.peak == 1
