"""Both built-in providers pass the provider conformance suite, each against its own fake."""

from __future__ import annotations

from typing import Any

import msgspec
from chatkit_ollama import OllamaOptions, OllamaProvider
from chatkit_openai import OpenAIOptions, OpenAIProvider

from chatkit_core.chat.providers import Provider
from chatkit_core.testing import ProviderConformance, Upstream
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import FakeServer, Script


class ScriptedUpstream(Upstream):
    """The suite's scripting on the repository's fakes. Each method sets the fake's default
    answer, so a provider that asks twice (OpenAI retrying without ``stream_options``) gets
    the same answer twice."""

    fake: FakeServer

    def __enter__(self) -> ScriptedUpstream:
        self.fake.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.fake.stop()

    def answer(self, text: str, chunks: int, delay: float = 0.0) -> None:
        self.fake.default = Script(text=text, chunks=chunks, chunk_delay=delay)

    def fail(self, status: int) -> None:
        self.fake.default = Script(status=status)

    def cut(self, after: int) -> None:
        self.fake.default = Script(chunks=5, fault="cut", after=after)

    def end_early(self, after: int) -> None:
        self.fake.default = Script(chunks=5, fault="end", after=after)

    def hang(self) -> None:
        self.fake.default = Script(fault="hang")

    def released(self, timeout: float = 5.0) -> bool:
        return self.fake.wait_disconnect(timeout)


class OllamaUpstream(ScriptedUpstream):
    def __init__(self) -> None:
        self.fake = FakeOllama()

    def provider(self, **options: Any) -> Provider:
        table = {"type": "ollama", "base_url": self.fake.url, **options}
        return OllamaProvider("local", msgspec.convert(table, OllamaOptions))


class OpenAIUpstream(ScriptedUpstream):
    status_kinds = {**Upstream.status_kinds, 404: "not_found"}

    def __init__(self) -> None:
        self.fake = FakeOpenAI(api_key="sk-conformance")

    def provider(self, **options: Any) -> Provider:
        table = {"type": "openai", "base_url": self.fake.url + "/v1", "api_key": "sk-conformance", **options}
        return OpenAIProvider("cloud", msgspec.convert(table, OpenAIOptions))


class TestOllama(ProviderConformance):
    upstream_class = OllamaUpstream


class TestOpenAI(ProviderConformance):
    upstream_class = OpenAIUpstream
