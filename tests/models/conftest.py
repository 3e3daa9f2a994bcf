"""Fixtures for serving real local models: the app in-process, fakes that behave like busy servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import config_from, new_session


@pytest.fixture
def make_client() -> Callable[[str], Any]:
    """``async with make_client(toml) as client``: the app in-process, requests truly concurrent
    (Litestar's test client runs one request at a time)."""

    @contextlib.asynccontextmanager
    async def make(text: str) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(build_runtime(config_from(text)))
        async with app.lifespan(), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60) as client:
            yield client

    return make


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


async def ask(client: httpx.AsyncClient, text: str = "hello", stream: bool = False, session: str | None = None):
    session = session or await new_session(client)
    return await client.post("/api/chat", json={"sessionId": session, "message": text, "stream": stream})


async def ask_many(client: httpx.AsyncClient, count: int) -> list[list[tuple[str, dict]]]:
    """``count`` streamed chats at once, each in its own session: the events of each."""
    responses = await asyncio.gather(*(ask(client, f"question {i}", stream=True) for i in range(count)))
    return [sse_events(r.text) for r in responses]
