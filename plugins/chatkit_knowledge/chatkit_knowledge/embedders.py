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
_CACHED_WORDS = 40_000
"""Most words whose summed vectors are kept (20 MB at 256 dimensions); past it the half of them
met most often stay and the others make room."""
_TEXTS_AT_ONCE = 64
"""Texts averaged together: bounds their (distinct words x texts) count matrix."""


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
            one_blas_thread()
        return self._model


def _latin(text: str) -> bool:
    """Whether most of ``text``'s letters are Latin: the vectors know English (and something of
    its neighbours), not Arabic or Chinese, where they would call any two texts alike."""
    if text.isascii():
        return True
    text = text[:MAX_CHARS]
    ascii_chars = len(text.encode("ascii", "ignore"))
    if len(text) - ascii_chars < ascii_chars // 4:  # a few accents in English or French: no need to count
        return True
    return len(_LATIN.findall(text)) >= len(_OTHER.findall(text))


class _Words:
    """Each word met so far: the sum of its token vectors (float16) and its number of tokens.

    The sums are kept one row per word, so gathering a batch's words reads each one's vector
    in one piece (a row per dimension read 2.3 times slower). The table is allocated once at
    its most (:data:`_CACHED_WORDS` words, 20 MB at 256 dimensions) and zero-filled lazily by
    the operating system: memory grows only with the words met and is never copied to grow.
    When it is full, the half of its words met in the most batches stay (a site's common words
    are met again and again; on 10,000 generated pages this tokenizes 1.7 times fewer words than
    starting again). Its last row stays zero: a word it does not hold."""

    def __init__(self) -> None:
        import numpy as np

        self.row: dict[str, int] = {}
        self.sums = np.zeros((_CACHED_WORDS + 1, 0), dtype=np.float16)
        self.tokens = np.zeros(_CACHED_WORDS + 1, dtype=np.int64)
        self.met = np.zeros(_CACHED_WORDS + 1, dtype=np.int64)
        """In how many batches each word was met."""

    def means(self, matrix: Any, tokenizer: Any, texts: list[list[str]]) -> Any:
        import numpy as np

        if self.sums.shape[1] != matrix.shape[1]:
            self.sums = np.zeros((_CACHED_WORDS + 1, matrix.shape[1]), dtype=np.float16)
        met = set(itertools.chain.from_iterable(texts))
        if len(met) > _CACHED_WORDS and len(texts) > 1:  # more words than the table holds: in halves
            half = len(texts) // 2
            return np.concatenate([self.means(matrix, tokenizer, texts[:half]),
                                   self.means(matrix, tokenizer, texts[half:])])
        new = list(met.difference(self.row))
        if len(self.row) + len(new) > _CACHED_WORDS:  # make room rather than grow without bound
            self._keep(_CACHED_WORDS // 2 if len(met) <= _CACHED_WORDS // 2 else 0,
                       [self.row[word] for word in met if word in self.row])
            new = list(met.difference(self.row))[:_CACHED_WORDS]
        for start in range(0, len(new), _NEW_AT_ONCE):  # bounded: each token's vector is copied
            self._add(matrix, tokenizer, new[start : start + _NEW_AT_ONCE])
        vectors = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
        for first in range(0, len(texts), _TEXTS_AT_ONCE):  # bounded: each word's row is copied
            part = texts[first : first + _TEXTS_AT_ONCE]
            vectors[first : first + len(part)] = self._means(part, matrix.shape[1])
        return vectors

    def _means(self, texts: list[list[str]], dimensions: int) -> Any:
        import numpy as np

        vectors = np.zeros((len(texts), dimensions), dtype=np.float32)
        words = np.array([len(text) for text in texts], dtype=np.int64)
        filled = words > 0
        if not filled.any():
            return vectors
        count = int(words.sum())
        rows = np.fromiter(map(self.row.get, itertools.chain.from_iterable(texts), itertools.repeat(_CACHED_WORDS,
                                                                                                        count)),
                              dtype=np.int64, count=count)
        # each distinct word once: a (text x word) count matrix, multiplied by the words' sums
        distinct, place = np.unique(rows, return_inverse=True)
        self.met[distinct] += 1
        owner = np.repeat(np.arange(len(texts)), words)
        counts = np.bincount(owner * len(distinct) + place, minlength=len(texts) * len(distinct)).reshape(
            len(texts), len(distinct)).astype(np.float32)
        totals = counts @ self.sums[distinct].astype(np.float32)
        tokens = counts @ self.tokens[distinct].astype(np.float32)
        vectors[filled] = totals[filled] / np.maximum(tokens[filled], 1)[:, None]
        return vectors

    def _keep(self, count: int, needed: list[int]) -> None:
        """Keep the ``count`` words met in the most batches, those of the rows ``needed`` first,
        moved to the table's first rows."""
        import numpy as np

        held = len(self.row)
        rank = self.met[:held].copy()
        rank[needed] = rank.max(initial=0) + 1
        kept = np.sort(np.argsort(-rank, kind="stable")[:count])
        for first in range(0, len(kept), _NEW_AT_ONCE):  # in place, a slice at a time: kept[i] >= i
            part = kept[first : first + _NEW_AT_ONCE]
            self.sums[first : first + len(part)] = self.sums[part]
        self.tokens[: len(kept)] = self.tokens[kept]
        self.met[: len(kept)] = self.met[kept] // 2  # the past counts for less than what comes
        self.met[len(kept) : held] = 0
        words = list(self.row)  # in row order: words are added at the end
        self.row = {words[row]: place for place, row in enumerate(kept.tolist())}

    def _add(self, matrix: Any, tokenizer: Any, words: list[str]) -> None:
        import numpy as np

        # one by one: a word is short, and the batch call's thread pool costs more CPU than it saves
        ids = [tokenizer.encode(word, add_special_tokens=False).ids for word in words]
        counts = np.array([len(row) for row in ids], dtype=np.int64)
        start = len(self.row)
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(counts.sum()))
        if len(flat):
            # each word's own tokens summed in float32: nothing lost, and copies stay small
            filled = counts > 0
            starts = (np.cumsum(counts) - counts)[filled]
            sums = np.zeros((len(words), matrix.shape[1]), dtype=np.float32)
            sums[filled] = np.add.reduceat(matrix[flat].astype(np.float32), starts, axis=0)
            self.sums[start : start + len(words)] = sums
        self.tokens[start : start + len(words)] = counts
        self.row.update((word, start + i) for i, word in enumerate(words))


def one_blas_thread() -> None:
    """numpy's BLAS on one thread in this process. Its products here are small (a batch's words
    by its texts, 256 dimensions): a second thread saves little time, then spins waiting for the
    next one, doubling the CPU an index build uses and taking a core from the server's workers."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


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
