"""Provider type ``extractive``: answers from the site's passages alone, with no model.

    [providers.site]
    type = "extractive"
    contact = "Call us on +33 1 23 45 67 89."   # added when nothing was found (optional)
    sentences = 2                               # most answer units quoted

The answer is the answer unit of the best passage (:mod:`chatkit_knowledge.units`: a
sentence, or a lead-in line with the list or code it introduces) that holds the most of the
question's words, misspellings corrected, and is nearest in meaning; then a link to the page
and a ``[1]`` citation, so the answer's sources are the page it quotes. With no passage
(nothing scored above ``min_score``) it says, in the visitor's language, that it could not
find that on this site. Its text is model output to
the core: it passes the output sanitizer like any other answer.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncGenerator, Sequence

import numpy as np

from chatkit_core.chat.health import Health
from chatkit_core.chat.providers import ChatRequest, Chunk, Provider, ProviderOptions
from chatkit_core.models import Passage
from chatkit_knowledge.embedders import StaticEmbedder, StaticOptions
from chatkit_knowledge.index import unit
from chatkit_knowledge.language import NOT_FOUND, SOURCE, language
from chatkit_knowledge.units import best_units

_ENDINGS = ".!?:;\"'\u3002\uff01\uff1f"
_CJK_END = re.compile("[\u3040-\u30ff\u3400-\u9fff]$")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


class ExtractiveOptions(ProviderOptions, kw_only=True, forbid_unknown_fields=True):
    model: str = "extractive"
    contact: str = ""
    """A line added to "I could not find that", such as how to reach the shop."""
    sentences: int = 2
    """Most answer units quoted from the passage (a second one only when the first is short)."""
    semantic: bool = True
    """Score units by meaning too, with the built-in static embedder (no server)."""
    chunk_chars: int = 24
    """Characters per streamed chunk."""
    delay: float = 0.0
    """Seconds between chunks (0: as fast as the client reads)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sentences < 1 or self.chunk_chars < 1 or self.delay < 0:
            raise ValueError("sentences and chunk_chars must be at least 1, delay not negative")


class ExtractiveProvider(Provider):
    Options = ExtractiveOptions
    options: ExtractiveOptions
    generates = False  # it quotes the site: no model to translate with

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        answer = compose(request, self.options)
        size = self.options.chunk_chars
        for start in range(0, len(answer), size):
            if self.options.delay:
                await asyncio.sleep(self.options.delay)
            yield Chunk(text=answer[start : start + size])
        yield Chunk(usage={"completion_chars": len(answer)})

    async def health(self) -> Health:
        return Health("up")


def _question(request: ChatRequest) -> str:
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


def compose(request: ChatRequest, options: ExtractiveOptions) -> str:
    question = _question(request)
    lang = language(request.locale, question)
    if not request.passages:
        return NOT_FOUND[lang] + (f"\n\n{options.contact}" if options.contact else "")
    passage = request.passages[0]
    quoted = best_sentences(question, passage, options.sentences, options.semantic)
    link = f"[{_escape(passage.title or passage.url)}]({passage.url})" if passage.url else _escape(passage.title)
    return f"{' '.join(_escape(s) for s in quoted)}\n\n{SOURCE[lang]}: {link} [1]"


def _escape(text: str) -> str:
    """Page text shown as written: markdown characters in it are not markup."""
    return _MARKDOWN.sub(r"\\\1", text)


def best_sentences(question: str, passage: Passage, most: int, semantic: bool = True) -> list[str]:
    """The units of ``passage`` that answer ``question`` best, in the passage's order."""
    quoted = best_units(question, passage.title, passage.text, most, _similarity if semantic else None)
    return [_ended(unit) for unit in quoted]


def _similarity(question: str, texts: Sequence[str]) -> list[float]:
    vectors = unit(np.asarray(_embedder().embed([question, *texts]), dtype=np.float32))
    return [float(value) for value in vectors[1:] @ vectors[0]]


@functools.cache
def _embedder() -> StaticEmbedder:
    return StaticEmbedder(StaticOptions(type="static"))


def _ended(sentence: str) -> str:
    """A list item or table row quoted as a sentence gets its full stop."""
    return sentence if sentence[-1] in _ENDINGS else sentence + ("\u3002" if _CJK_END.search(sentence) else ".")
