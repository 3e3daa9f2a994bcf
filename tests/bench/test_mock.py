"""The bench's mock upstream: each protocol's default for an unset ``stream``."""

from __future__ import annotations

import msgspec
import pytest

from bench import procs
from bench.client import Connection


@pytest.fixture
def mock_port():
    port = procs.free_port()
    with procs.mock([f"{port}:0:3:0"], None):
        yield port


async def _post(port: int, path: str, body: dict) -> bytes:
    connection = Connection("127.0.0.1", port)
    try:
        reply = await connection.request("POST", path, msgspec.json.encode(body))
    finally:
        connection.close()
    assert reply.status == 200
    return reply.body


async def test_openai_answers_whole_unless_asked_to_stream(mock_port):
    whole = msgspec.json.decode(await _post(mock_port, "/v1/chat/completions", {"model": "bench", "messages": []}))
    assert whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"] == "token token token "
    streamed = await _post(mock_port, "/v1/chat/completions", {"model": "bench", "messages": [], "stream": True})
    assert streamed.startswith(b"data: ") and streamed.endswith(b"data: [DONE]\n\n")


async def test_ollama_streams_unless_told_not_to(mock_port):
    lines = (await _post(mock_port, "/api/chat", {"model": "bench", "messages": []})).splitlines()
    assert len(lines) == 4 and msgspec.json.decode(lines[-1])["done"] is True
    whole = msgspec.json.decode(await _post(mock_port, "/api/chat", {"model": "bench", "stream": False}))
    assert whole["done"] is True

