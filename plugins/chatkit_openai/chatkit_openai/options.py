"""The keys of an ``[providers.NAME]`` table with ``type = "openai"``."""

from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from chatkit_core.chat.providers import ProviderOptions

OPENAI_HOST = "api.openai.com"
PLACEHOLDER_KEY = "no-key-required"
"""Sent to servers that take no key: the SDK insists on one."""


class OpenAIOptions(ProviderOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, str]] = {"OPENAI_API_KEY": "api_key", "OPENAI_BASE_URL": "base_url",
                                     "OPENAI_MODEL": "model"}
    default_chain: ClassVar[str] = "OPENAI_API_KEY"
    """With no ``[providers]`` table, OpenAI joins the chain when ``OPENAI_API_KEY`` is set."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key: str = ""
    """Never logged, shown or echoed in errors. For api.openai.com it falls back to
    ``OPENAI_API_KEY``; other servers get only a key configured here, so an OpenAI key
    is never sent elsewhere by accident."""
    organization: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_completion_tokens: int | None = None
    """Set, it is sent instead of the length cap (``max_tokens``), as is."""
    seed: int | None = None
    stop: list[str] | None = None
    extra_body: dict[str, Any] = {}
    """Server-specific request fields, sent as is (vLLM's ``top_k``, say)."""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={'***' if name == 'api_key' and value else value!r}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"{type(self).__name__}({fields})"

    @property
    def is_openai(self) -> bool:
        return urlsplit(self.base_url).hostname == OPENAI_HOST

    def configured_key(self) -> str:
        if self.api_key or not self.is_openai:
            return self.api_key
        return os.environ.get("OPENAI_API_KEY", "")

    def resolved_key(self) -> str:
        """The key to send; servers that need none get a placeholder."""
        return self.configured_key() or PLACEHOLDER_KEY

    def sampling(self, max_tokens: int | None = None) -> dict[str, Any]:
        """Sampling fields of a Chat Completions request, only those set; ``max_tokens`` is the
        chain's cap. api.openai.com takes it as ``max_completion_tokens`` (its reasoning models
        refuse ``max_tokens``); other servers know ``max_tokens``."""
        named = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": self.stop,
        }
        cap = {"max_completion_tokens": self.max_completion_tokens}
        if self.max_completion_tokens is None and max_tokens:
            cap = {"max_completion_tokens" if self.is_openai else "max_tokens": max_tokens}
        return {key: value for key, value in {**named, **cap}.items() if value is not None}
