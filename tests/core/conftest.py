"""Fixtures for core tests: an app built from TOML text, driven in-process."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Callable

import pytest
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import apply_environment, decode, interpolate

CANNED = """
[chain]
order = ["demo"]
[providers.demo]
type = "canned"
replies = ["Hello there"]
delay = 0
[rate_limit]
type = "none"
"""


def config_from(text: str, environ: dict[str, str] | None = None):
    raw = interpolate(tomllib.loads(text), environ or {})
    apply_environment(raw, environ or {})
    return decode(raw)


@pytest.fixture
def make_client() -> Callable[[str], AsyncTestClient]:
    """``async with make_client(toml) as client``: a started app for that config."""

    def make(text: str = CANNED) -> AsyncTestClient:
        return AsyncTestClient(create_app(build_runtime(config_from(text))), raise_server_exceptions=False)

    return make


@pytest.fixture
async def client(make_client) -> AsyncIterator[AsyncTestClient]:
    async with make_client() as test_client:
        yield test_client


async def new_session(client: AsyncTestClient) -> str:
    response = await client.post("/api/create-session")
    assert response.status_code == 201, response.text
    return response.json()["sessionId"]
