"""ChatKit provider type ``openai``: Chat Completions through the official ``openai`` SDK.

Works with OpenAI and with any OpenAI-compatible server (vLLM, llama.cpp, LM Studio,
Ollama's ``/v1``) through ``base_url``:

    [providers.cloud]
    type = "openai"
    base_url = "https://api.openai.com/v1"
    model = "gpt-4o-mini"
    api_key = "${OPENAI_API_KEY}"

and embedder type ``openai`` (``/v1/embeddings``) for the knowledge base: ``[knowledge.embedder]``.
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_openai.embedder import OpenAIEmbedder
from chatkit_openai.options import OpenAIOptions
from chatkit_openai.provider import OpenAIProvider

__all__ = ["OpenAIEmbedder", "OpenAIOptions", "OpenAIProvider"]


@hookimpl
def register_providers(register):
    register("openai", OpenAIProvider)


@hookimpl
def register_embedders(register):
    register("openai", OpenAIEmbedder)
