"""ChatKit provider type ``ollama``: Ollama's native ``/api/chat``, streamed as NDJSON over aiohttp.

[providers.local]
type = "ollama"
base_url = "http://127.0.0.1:11434"
model = "llama3.2"
keep_alive = "10m"
temperature = 0.7
num_ctx = 8192
pull_on_start = true

and embedder type ``ollama`` (``/api/embed``) for the knowledge base: ``[knowledge.embedder]``.
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_ollama.embedder import OllamaEmbedder
from chatkit_ollama.options import OllamaOptions
from chatkit_ollama.provider import OllamaProvider

__all__ = ["OllamaEmbedder", "OllamaOptions", "OllamaProvider"]


@hookimpl
def register_providers(register):
    register("ollama", OllamaProvider)


@hookimpl
def register_embedders(register):
    register("ollama", OllamaEmbedder)
