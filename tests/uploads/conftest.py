"""Fixtures for the upload tests: an app with ``[uploads]`` on, driven in-process, and every
session store that keeps attachments, on real backing services (redis-server, PostgreSQL)."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import msgspec
import pytest
from chatkit_postgres import PostgresOptions, PostgresStore
from chatkit_redis import RedisOptions, RedisStore
from litestar.testing import AsyncTestClient

from chatkit_core.builtins.memory_store import MemoryOptions, MemoryStore
from chatkit_core.builtins.sqlite_store import SQLiteStore
from chatkit_core.chat.sessions import SessionStoreOptions
from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import decode
from tests.redis_store.redis_server import redis_server

__all__ = ["redis_server"]

CORPUS = Path(__file__).resolve().parent / "corpus"

CANNED = """
[chain]
order = ["demo"]
[providers.demo]
type = "canned"
replies = ["Here is what I see."]
delay = 0
[rate_limit]
type = "none"
[uploads]
enabled = true
"""


def app_client(text: str = CANNED) -> AsyncTestClient:
    return AsyncTestClient(create_app(build_runtime(decode(tomllib.loads(text)))), raise_server_exceptions=False)


@pytest.fixture
def make_client() -> Callable[[str], AsyncTestClient]:
    return app_client


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:
    async with app_client() as made:
        yield made


async def new_session(client: AsyncTestClient) -> str:
    response = await client.post("/api/create-session")
    assert response.status_code == 201, response.text
    return response.json()["sessionId"]


async def upload(client: AsyncTestClient, session_id: str, name: str, data: bytes,
                 content_type: str = "application/octet-stream") -> httpx.Response:
    return await client.post(f"/api/session/{session_id}/attachments", files={"file": (name, data, content_type)})


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
async def store(request, tmp_path):
    """Each session store that keeps attachments itself."""
    options = {"ttl": "1h", "max_messages": 6}
    if request.param == "memory":
        made = MemoryStore(MemoryOptions(**options))
    elif request.param == "sqlite":
        made = SQLiteStore(SessionStoreOptions(store="sqlite", url=f"sqlite:///{tmp_path}/s.db", **options))
    elif request.param == "redis":
        server = request.getfixturevalue("redis_server")
        made = RedisStore(msgspec.convert({"store": "redis", "url": server.url, **options}, RedisOptions))
    else:
        made = PostgresStore(msgspec.convert({"store": "postgres", "url": request.getfixturevalue("postgres_url"),
                                              **options}, PostgresOptions))
    await made.start()
    yield made
    await made.close()
