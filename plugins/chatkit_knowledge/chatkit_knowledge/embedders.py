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
_FEW = 64
_CACHED_WORDS = 100_000
"""Most words whose token ids are kept (about 20 MB); past it the cache starts again."""


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
        self._tokens: dict[str, list[int]] = {}
        """Each word's token ids: a site repeats its words, so each is tokenized once."""
        self._lock = threading.Lock()

    def identity(self) -> str:
        return f"static:wordllama-{MODEL}-{self.options.dimensions}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """The mean of each text's token vectors, as WordLlama computes it, tokenized a word at a
        time (the tokenizer's cost grows faster than the text's length; a word is met again)."""

        with self._lock:
            matrix, tokenizer = self._loaded()
            words = [text[:MAX_CHARS].split() if _latin(text) else [] for text in texts]
            new = list({word for text in words for word in text if word not in self._tokens})
            if len(self._tokens) + len(new) > _CACHED_WORDS:
                self._tokens.clear()
                new = list({word for text in words for word in text})
            # A few words (a question) one by one: the batch call starts a thread pool, which costs
            # more than it saves on a busy machine.
            encoded = (tokenizer.encode_batch_fast(new, add_special_tokens=False) if len(new) > _FEW
                       else [tokenizer.encode(word, add_special_tokens=False) for word in new])
            for word, encoding in zip(new, encoded, strict=True):
                self._tokens[word] = encoding.ids
            return _means(matrix, words, self._tokens)

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            self._model = load(self.options.dimensions)
        return self._model


def _latin(text: str) -> bool:
    """Whether most of ``text``'s letters are Latin: the vectors know English (and something of
    its neighbours), not Arabic or Chinese, where they would call any two texts alike."""
    letters = [c for c in text[:MAX_CHARS] if c.isalpha()]
    return sum(c <= "\u024f" for c in letters) * 2 >= len(letters)


def _means(matrix: Any, texts: list[list[str]], tokens: dict[str, list[int]]) -> Any:
    """Each text's mean token vector: the sum of each distinct word's token vectors first, then
    each text's sum of its words' sums (small numpy sums: faster here than reduceat or BLAS)."""
    import numpy as np

    distinct = list({word for text in texts for word in text if tokens[word]})
    vectors = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
    if not distinct:
        return vectors
    lengths = np.array([len(tokens[word]) for word in distinct], dtype=np.int64)
    sums = np.stack([matrix[tokens[word]].sum(axis=0) for word in distinct])
    place = {word: i for i, word in enumerate(distinct)}
    for row, text in enumerate(texts):
        positions = [place[word] for word in text if word in place]
        if positions:
            vectors[row] = sums[positions].sum(axis=0) / lengths[positions].sum()
    return vectors


def load(dimensions: int) -> tuple[Any, Any]:
    """WordLlama's token vectors (float32) and tokenizer, from the files in its wheel, opened by path."""
    import numpy as np
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / f"{MODEL}_tokenizer_config.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    with safe_open(str(root / "weights" / f"{MODEL}_256.safetensors"), framework="np") as weights:
        matrix = np.ascontiguousarray(weights.get_tensor("embedding.weight")[:, :dimensions], dtype=np.float32)
    return matrix, tokenizer


def embedder_for(options: SqliteOptions) -> Embedder | None:
    """The ``[knowledge.embedder]`` the index uses; None for ``type = "none"`` (words only)."""
    if options.embedder.get("type") == "none":
        return None
    return build_embedder(options.embedder)
