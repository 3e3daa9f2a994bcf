"""Embedder type ``openai``: vectors from ``/v1/embeddings`` through the official SDK.

    [knowledge.embedder]
    type = "openai"
    base_url = "https://api.openai.com/v1"     # or any OpenAI-compatible server
    model = "text-embedding-3-small"
    api_key = "${OPENAI_API_KEY}"

The key follows the provider's rules: api.openai.com falls back to ``OPENAI_API_KEY``, other
servers get only a key configured here. Synchronous (index builds are; searches run in a
worker thread), no retries, a timeout per request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from chatkit_core.chat.embeddings import Embedder, EmbedderError, EmbedderOptions, Vectors
from chatkit_openai.options import OPENAI_HOST, PLACEHOLDER_KEY

if TYPE_CHECKING:
    import openai

# The SDK is imported when an openai embedder is made, not with the plugin (see provider.py).


class OpenAIEmbedderOptions(EmbedderOptions, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "https://api.openai.com/v1"
    model: str = "text-embedding-3-small"
    api_key: str = ""
    """Never logged or shown; see the module's note on which servers get which key."""
    dimensions: int | None = None
    """Ask for shorter vectors (models that support it, such as text-embedding-3-*)."""
    timeout: float = 30.0
    batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model must name an embedding model, such as text-embedding-3-small")
        if self.timeout <= 0 or (self.dimensions is not None and self.dimensions < 1):
            raise ValueError("timeout must be greater than 0 and dimensions at least 1")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={'***' if name == 'api_key' and value else value!r}"
                           for name, value in msgspec.structs.asdict(self).items())
        return f"{type(self).__name__}({fields})"

    def key(self) -> str:
        if self.api_key or urlsplit(self.base_url).hostname != OPENAI_HOST:
            return self.api_key or PLACEHOLDER_KEY
        return os.environ.get("OPENAI_API_KEY", "") or PLACEHOLDER_KEY


class OpenAIEmbedder(Embedder):
    Options = OpenAIEmbedderOptions
    options: OpenAIEmbedderOptions

    def __init__(self, options: OpenAIEmbedderOptions) -> None:
        import openai

        super().__init__(options)
        self.client: openai.OpenAI = openai.OpenAI(base_url=options.base_url, api_key=options.key(), max_retries=0,
                                    timeout=options.timeout)

    def identity(self) -> str:
        size = f":{self.options.dimensions}" if self.options.dimensions else ""
        return f"openai:{urlsplit(self.options.base_url).hostname}:{self.options.model}{size}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        import openai

        where = f"the embeddings endpoint at {self.options.base_url}"
        try:
            answer = self.client.embeddings.create(model=self.options.model, input=list(texts),
                                                   dimensions=self.options.dimensions or openai.omit)
        except openai.APITimeoutError:
            raise EmbedderError(f"{where} did not answer within {self.options.timeout:g}s") from None
        except openai.APIConnectionError:
            raise EmbedderError(f"cannot reach {where}") from None
        except openai.AuthenticationError:
            raise EmbedderError(f"{where} refused the API key: set api_key in [knowledge.embedder]") from None
        except openai.APIStatusError as error:
            raise EmbedderError(f"{where} answered {error.status_code}: {str(error.message)[:200]}") from None
        except (openai.APIError, ValueError, TypeError) as error:
            raise EmbedderError(f"{where} sent an answer that is not embeddings ({type(error).__name__})") from None
        rows = sorted(answer.data, key=lambda item: item.index)
        if len(rows) != len(texts) or len({len(row.embedding) for row in rows}) != 1:
            raise EmbedderError(f"{where} sent {len(rows)} vectors for {len(texts)} texts, or of different lengths")
        return [row.embedding for row in rows]

    def close(self) -> None:
        self.client.close()
