"""The requests the load client sends: ChatKit's API, and the same answer asked of the mock directly."""

from __future__ import annotations

import asyncio
import itertools

import msgspec

from bench.client import Connection, HTTPError, Reply, json_body

QUESTION = "Do you have gluten-free bread on Saturdays, and until what time is the shop open?"
CHATS_PER_SESSION = 10
"""A conversation of 20 messages: ten questions, ten answers."""

# What ChatKit sends upstream once a conversation is under way: its last 20 messages.
HISTORY = [{"role": "user" if i % 2 == 0 else "assistant", "content": QUESTION if i % 2 == 0 else "token " * 10}
           for i in range(19)] + [{"role": "user", "content": QUESTION}]
OLLAMA_BODY = json_body({"model": "bench", "messages": HISTORY, "stream": True})
OPENAI_BODY = json_body({"model": "bench", "messages": HISTORY, "stream": True,
                         "stream_options": {"include_usage": True}})
SSE_TOKEN = b"event: delta"
UPSTREAM_TOKEN = b'"content":"token'


class _Created(msgspec.Struct, rename="camel"):
    session_id: str


async def new_session(connection: Connection) -> str:
    reply = await connection.request("POST", "/api/create-session", b"{}")
    if reply.status != 201:
        raise HTTPError(f"create-session answered {reply.status}: {reply.body[:200]!r}")
    return msgspec.json.decode(reply.body, type=_Created).session_id


class Sessions:
    """Conversations on one connection, used in turn so none grows past ``CHATS_PER_SESSION``.

    A connection stays with the worker that accepted it, so with the memory store each
    conversation is always answered by the worker that holds it.
    """

    def __init__(self, ids: list[str]) -> None:
        self._turn = itertools.cycle(ids)

    def next(self) -> str:
        return next(self._turn)


async def prepare(connections: list[Connection], chats: int) -> None:
    """Open every connection and give it enough conversations for ``chats`` chat requests in all."""
    per_connection = max(1, -(-chats // (len(connections) * CHATS_PER_SESSION)))

    async def one(connection: Connection) -> None:
        await connection.open()
        connection.sessions = Sessions([await new_session(connection) for _ in range(per_connection)])

    for start in range(0, len(connections), 200):  # do not flood the accept queue
        await asyncio.gather(*(one(c) for c in connections[start:start + 200]))


def chatkit_chat(stream: bool):
    async def call(connection: Connection) -> Reply:
        body = json_body({"sessionId": connection.sessions.next(), "message": QUESTION, "stream": stream})
        reply = await connection.request("POST", "/api/chat", body, SSE_TOKEN if stream else None)
        if stream and b"event: done" not in reply.body:
            raise HTTPError("stream ended without its done event")
        return reply

    return call


def direct(protocol: str):
    """The mock's own answer to what ChatKit would ask it (always streamed upstream)."""
    path, body = ("/api/chat", OLLAMA_BODY) if protocol == "ollama" else ("/v1/chat/completions", OPENAI_BODY)

    async def call(connection: Connection) -> Reply:
        return await connection.request("POST", path, body, UPSTREAM_TOKEN)

    return call
