"""Embedder type ``ollama``: vectors from an Ollama server's ``/api/embed``.

    [knowledge.embedder]
    type = "ollama"
    base_url = "http://127.0.0.1:11434"
    model = "nomic-embed-text"      # or bge-m3 (multilingual), mxbai-embed-large, ...

Synchronous (index builds are; searches run in a worker thread), over httpx with a timeout,
no retries and no proxy variables, the answer read up to :data:`MAX_BYTES`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatkit_core.chat.embeddings import Embedder, EmbedderError, EmbedderOptions, Vectors

if TYPE_CHECKING:  # imported when an embedder is built: a serving worker without one never loads it
    import httpx

MAX_BYTES = 64_000_000
"""Largest answer read: a batch of 256 vectors of 4,096 numbers is about 10 MB of JSON."""


class OllamaEmbedderOptions(EmbedderOptions, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "http://127.0.0.1:11434"
    model: str = "nomic-embed-text"
    timeout: float = 30.0
    """Seconds one request may take (a batch while indexing, one question while searching)."""
    batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model must name an Ollama embedding model, such as nomic-embed-text")
        if self.timeout <= 0:
            raise ValueError("timeout must be greater than 0")


class OllamaEmbedder(Embedder):
    Options = OllamaEmbedderOptions
    options: OllamaEmbedderOptions

    def __init__(self, options: OllamaEmbedderOptions) -> None:
        import httpx

        super().__init__(options)
        self.client = httpx.Client(base_url=options.base_url.rstrip("/"), timeout=options.timeout, trust_env=False,
                                   transport=httpx.HTTPTransport(retries=0))

    def identity(self) -> str:
        return f"ollama:{self.options.model}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        import httpx

        where = f"Ollama at {self.options.base_url}"
        try:
            with self.client.stream("POST", "/api/embed", json={"model": self.options.model, "input": list(texts)}) \
                    as response:
                body = _read(response, where)
        except httpx.TimeoutException:
            raise EmbedderError(f"{where} did not answer within {self.options.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise EmbedderError(f"cannot reach {where}: {type(error).__name__}") from None
        if response.status_code == 404:
            raise EmbedderError(f"{where} has no model {self.options.model!r}: run `ollama pull {self.options.model}`")
        if response.status_code != 200:
            raise EmbedderError(f"{where} answered {response.status_code}: {_message(body)}")
        return _vectors(body, len(texts), where)

    def close(self) -> None:
        self.client.close()


def _read(response: httpx.Response, where: str) -> bytes:
    data = bytearray()
    for part in response.iter_bytes():
        data += part
        if len(data) > MAX_BYTES:
            raise EmbedderError(f"{where} sent more than {MAX_BYTES:,} bytes for one batch")
    return bytes(data)


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("error", ""))[:200]
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def _vectors(body: bytes, count: int, where: str) -> list[list[float]]:
    try:
        vectors = json.loads(body)["embeddings"]
    except (ValueError, KeyError, TypeError):
        raise EmbedderError(f"{where} sent an answer without embeddings") from None
    if not isinstance(vectors, list) or len(vectors) != count or not all(
            isinstance(v, list) and v and all(isinstance(x, int | float) for x in v) for v in vectors):
        raise EmbedderError(f"{where} sent {len(vectors) if isinstance(vectors, list) else 'no'} vectors "
                            f"for {count} texts")
    if len({len(v) for v in vectors}) > 1:
        raise EmbedderError(f"{where} sent vectors of different lengths")
    return vectors
