"""Fixtures for the answer cache: a fake Ollama counting chat requests, and apps pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.ollama import FakeOllama
from tests.redis_store.redis_server import redis_server

__all__ = ["fake_ollama", "redis_server"]


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


def cache_config(url: str, cache: str = "enabled = true", extra: str = "", model: str = "llama3.2") -> str:
    """A chain of one Ollama provider at ``url`` and the ``[cache]`` table's lines ``cache``."""
    return (f'[chain]\norder = ["local"]\n[providers.local]\ntype = "ollama"\nbase_url = "{url}"\n'
            f'model = "{model}"\n[rate_limit]\ntype = "none"\n[cache]\n{cache}\n{extra}')
