"""Embedder type ``static``: the default, needing no server, no download and no GPU.

It averages static token vectors: WordLlama's ``l2_supercat`` model (MIT), whose weights
(32,000 tokens x 256 dimensions, 16 MB) and tokenizer ship inside the ``wordllama`` wheel on
PyPI. WordLlama's own loader looks for the tokenizer under a folder name the wheel does not
use and then downloads it, so the files are opened here by path: nothing is fetched, ever.
A passage embeds in a few microseconds on one core.

Its vectors are trained on English: paraphrases in English match, other languages mostly
match through the words they share with the page. A site with an embedding server can use
the ``ollama`` or ``openai`` embedder types instead (multilingual models such as bge-m3).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatkit_core.embeddings import Embedder, EmbedderOptions, Vectors, build_embedder

if TYPE_CHECKING:
    from chatkit_knowledge.options import SqliteOptions

MODEL = "l2_supercat"
MAX_CHARS = 4000
"""Longest text embedded: a passage is shorter; a longer one is cut (its start says most)."""


class StaticOptions(EmbedderOptions, kw_only=True, forbid_unknown_fields=True):
    dimensions: int = 256
    """Leading dimensions kept (64, 128 or 256): fewer take less memory and match a little worse."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dimensions not in (64, 128, 256):
            raise ValueError("dimensions must be 64, 128 or 256")


class StaticEmbedder(Embedder):
    Options = StaticOptions
    options: StaticOptions

    def __init__(self, options: StaticOptions) -> None:
        super().__init__(options)
        self._model: Any = None
        self._lock = threading.Lock()

    def identity(self) -> str:
        return f"static:wordllama-{MODEL}-{self.options.dimensions}"

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = load(self.options.dimensions)
            return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, self.options.dimensions), dtype=np.float32)
        return self._loaded().embed([text[:MAX_CHARS] or " " for text in texts], batch_size=64)


def load(dimensions: int) -> Any:
    """WordLlama's inference object from the files in its wheel, opened by path."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / f"{MODEL}_tokenizer_config.json"))
    with safe_open(str(root / "weights" / f"{MODEL}_256.safetensors"), framework="np") as weights:
        matrix = weights.get_tensor("embedding.weight")[:, :dimensions]
    return WordLlamaInference(matrix, tokenizer)


def embedder_for(options: SqliteOptions) -> Embedder | None:
    """The ``[knowledge.embedder]`` the index uses; None for ``type = "none"`` (words only)."""
    if options.embedder.get("type") == "none":
        return None
    return build_embedder(options.embedder)
