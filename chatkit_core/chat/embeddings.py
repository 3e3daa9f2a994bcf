"""Embedders: what turns text into vectors for the knowledge base's semantic search.

An embedder type (hook ``register_embedders``) is chosen by the ``[knowledge.embedder]``
table of a retriever that uses one (``type = "static"`` by default for ``sqlite``). The same
embedder embeds the site's passages when the index is built and each question when it is
searched; the index records :meth:`Embedder.identity`, and a different one rebuilds it.

``embed`` is synchronous: index builds are synchronous, and searches already run in a worker
thread. It returns one vector per text, all of the same length: a list of float lists or a
2-D numpy array. Vectors need not be normalized; the retriever normalizes them.

This module imports nothing from the web framework or any HTTP client: an embedder that
calls a server brings its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec

Vectors = Any
"""``Sequence[Sequence[float]]``: a list of float lists or a 2-D numpy array, one row per text."""


class EmbedderOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys of ``[knowledge.embedder]``. Embedder types subclass this for their own keys."""

    type: str
    batch_size: int = 256
    """Texts sent to ``embed`` at once while indexing."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


class EmbedderError(Exception):
    """The embedder could not embed (server down, bad answer); the message says what to fix."""


class Embedder:
    """Base class for embedder types; one instance serves a whole build or a server's life."""

    Options: ClassVar[type[EmbedderOptions]] = EmbedderOptions

    def __init__(self, options: EmbedderOptions) -> None:
        self.options = options

    def identity(self) -> str:
        """Names the model and settings that make the vectors (``"ollama:nomic-embed-text"``).
        Recorded in the index: vectors from another identity are never compared with these."""
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One vector per text, in order. Raise :class:`EmbedderError` when it cannot."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the embedder holds (connections, memory)."""

