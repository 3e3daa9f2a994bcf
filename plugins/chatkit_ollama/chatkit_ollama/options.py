"""The keys of an ``[providers.NAME]`` table with ``type = "ollama"``."""

from __future__ import annotations

from typing import Any, ClassVar

from chatkit_core.chat.providers import ProviderOptions


class OllamaOptions(ProviderOptions, kw_only=True, forbid_unknown_fields=True):
    env: ClassVar[dict[str, str]] = {"OLLAMA_BASE_URL": "base_url", "OLLAMA_MODEL": "model"}
    default_chain: ClassVar[bool] = True
    """With no ``[providers]`` table, the chain starts with a local Ollama."""

    base_url: str = "http://127.0.0.1:11434"
    model: str = "llama3.2"
    keep_alive: str | int | None = None
    """How long Ollama keeps the model loaded after a request: ``"10m"``, seconds, ``-1`` for ever."""
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    num_predict: int | None = None
    """Most tokens to generate; ``-1`` for no limit. Set, it wins over ``max_tokens``."""
    num_ctx: int | None = None
    """Context window, tokens."""
    seed: int | None = None
    stop: list[str] | None = None
    options: dict[str, Any] = {}
    """Any other Ollama model option, sent as is (``repeat_penalty``, ``min_p``, ...)."""
    pull_on_start: bool = False
    """Pull the model at start-up when Ollama does not have it yet."""

    def model_options(self, max_tokens: int | None = None) -> dict[str, Any]:
        """The ``options`` object of an ``/api/chat`` request; ``max_tokens`` is the chain's cap."""
        named = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "num_predict": self.num_predict if self.num_predict is not None else max_tokens,
            "num_ctx": self.num_ctx,
            "seed": self.seed,
            "stop": self.stop,
        }
        return {**self.options, **{key: value for key, value in named.items() if value is not None}}
