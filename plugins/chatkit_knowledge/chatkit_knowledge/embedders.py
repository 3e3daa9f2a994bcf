"""Embedder type ``static``: the default, needing no server, no download and no GPU.

It averages static token vectors: WordLlama's ``l2_supercat`` model (MIT), whose weights
(32,000 tokens x 256 dimensions, 16 MB) and tokenizer ship inside the ``wordllama`` wheel on
PyPI. WordLlama's own loader looks for the tokenizer under a folder name the wheel does not
use and then downloads it, so the files are opened here by path: nothing is fetched, ever.
A passage embeds in a few microseconds on one core.

Its vectors are trained on English: paraphrases in English match, other languages mostly
match through the words they share with the page. A text mostly in another script (Arabic,
Chinese...) gets a zero vector: "no meaning known", and is matched by its words alone. A site
with an embedding server can use the ``ollama`` or ``openai`` embedder types instead
(multilingual models such as bge-m3).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatkit_core.chat.embeddings import Embedder, EmbedderError, EmbedderOptions, Vectors
from chatkit_core.platform.assembly import build_embedder

if TYPE_CHECKING:
    from chatkit_knowledge.options import SqliteOptions

MODEL = "l2_supercat"
MAX_CHARS = 4000
"""Longest text embedded: a passage is shorter; a longer one is cut (its start says most)."""
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_OTHER = re.compile(r"[^\W\dA-Za-z\u00c0-\u024f_]")
_NEW_AT_ONCE = 2000
_CACHED_WORDS = 60_000
"""Most words whose summed vectors are kept (60 MB at 256 dimensions); past it the cache starts
again."""


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
        self._model: tuple[Any, Any] | None = None
        self._words = _Words()
        self._lock = threading.Lock()

    def identity(self) -> str:
        return f"static:wordllama-{MODEL}-{self.options.dimensions}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """The mean of each text's token vectors, as WordLlama computes it, but tokenized and summed
        a word at a time: a site repeats its words, so each is tokenized and summed once."""
        with self._lock:
            matrix, tokenizer = self._loaded()
            return self._words.means(matrix, tokenizer, [text[:MAX_CHARS].split() if _latin(text) else []
                                                          for text in texts])

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            self._model = load(self.options.dimensions)
        return self._model


def _latin(text: str) -> bool:
    """Whether most of ``text``'s letters are Latin: the vectors know English (and something of
    its neighbours), not Arabic or Chinese, where they would call any two texts alike."""
    if text.isascii():
        return True
    return len(_LATIN.findall(text[:MAX_CHARS])) >= len(_OTHER.findall(text[:MAX_CHARS]))


class _Words:
    """Each word met so far: the sum of its token vectors and its number of tokens."""

    def __init__(self) -> None:
        import numpy as np

        self.row: dict[str, int] = {}
        self.sums = np.zeros((0, 0), dtype=np.float32)
        self.tokens = np.zeros(0, dtype=np.int64)

    def means(self, matrix: Any, tokenizer: Any, texts: list[list[str]]) -> Any:
        import numpy as np

        new = list({word for text in texts for word in text if word not in self.row})
        if len(self.row) + len(new) > _CACHED_WORDS:  # start again rather than grow without bound
            self.row.clear()
            new = list({word for text in texts for word in text})
        for start in range(0, len(new), _NEW_AT_ONCE):  # bounded: each token is summed in float64
            self._add(matrix, tokenizer, new[start : start + _NEW_AT_ONCE])
        vectors = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
        words = np.array([len(text) for text in texts], dtype=np.int64)
        filled = words > 0
        if not filled.any():
            return vectors
        rows = np.fromiter((self.row[word] for text in texts for word in text), dtype=np.int64,
                           count=int(words.sum()))
        starts = np.concatenate(([0], np.cumsum(words)[:-1]))[filled]
        # one sum per text along contiguous memory (one row per dimension): reduceat down columns is slow
        totals = np.add.reduceat(np.ascontiguousarray(self.sums[rows].T), starts, axis=1).T
        tokens = np.add.reduceat(self.tokens[rows], starts)
        vectors[filled] = totals / np.maximum(tokens, 1)[:, None]
        return vectors

    def _add(self, matrix: Any, tokenizer: Any, words: list[str]) -> None:
        import numpy as np

        # one by one: a word is short, and the batch call's thread pool costs more CPU than it saves
        ids = [tokenizer.encode(word, add_special_tokens=False).ids for word in words]
        counts = np.array([len(row) for row in ids], dtype=np.int64)
        sums = np.zeros((len(words), matrix.shape[1]), dtype=np.float32)
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(counts.sum()))
        if len(flat):
            # summed along contiguous memory: one row per dimension (a cumsum down columns is 30x slower)
            running = np.cumsum(np.ascontiguousarray(matrix[flat].T, dtype=np.float64), axis=1)
            ends, filled = np.cumsum(counts), counts > 0
            totals = running[:, ends[filled] - 1]
            totals[:, 1:] -= running[:, ends[filled][:-1] - 1]
            sums[filled] = totals.T
        start = len(self.row) if self.row else 0
        if start == 0:
            self.sums, self.tokens = sums, counts
        else:
            self.sums, self.tokens = np.concatenate([self.sums[:start], sums]), np.concatenate([self.tokens[:start],
                                                                                                 counts])
        self.row.update((word, start + i) for i, word in enumerate(words))


def load(dimensions: int) -> tuple[Any, Any]:
    """WordLlama's token vectors (float16) and tokenizer, from the files in its wheel, opened by path."""
    import importlib.util

    from safetensors import safe_open
    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("wordllama")  # its files only: importing it costs 25 MB we do not use
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError("the wordllama package is not installed: pip install wordllama")
    root = Path(spec.submodule_search_locations[0])
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / f"{MODEL}_tokenizer_config.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    with safe_open(str(root / "weights" / f"{MODEL}_256.safetensors"), framework="np") as weights:
        matrix = weights.get_tensor("embedding.weight")[:, :dimensions].copy()  # float16, 16 MB at 256
    return matrix, tokenizer


def embedder_for(options: SqliteOptions) -> Embedder | None:
    """The ``[knowledge.embedder]`` the index uses; None for ``type = "none"`` (words only)."""
    if options.embedder.get("type") == "none":
        return None
    return build_embedder(options.embedder)
