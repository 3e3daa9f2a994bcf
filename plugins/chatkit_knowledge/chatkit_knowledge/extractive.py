"""Provider type ``extractive``: answers from the site's passages alone, with no model.

    [providers.site]
    type = "extractive"
    contact = "Call us on +33 1 23 45 67 89."   # added when nothing was found (optional)
    sentences = 2                               # most sentences quoted

The answer is the sentences of the best passage that share the most informative words with
the question, then a link to the page and a ``[1]`` citation, so the answer's sources are
the page it quotes. With no passage (nothing scored above ``min_score``) it says, in the
visitor's language, that it could not find that on this site. Its text is model output to
the core: it passes the output sanitizer like any other answer.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncGenerator

from chatkit_core.chat.health import Health
from chatkit_core.chat.providers import ChatRequest, Chunk, Provider, ProviderOptions
from chatkit_core.models import Passage
from chatkit_knowledge.language import NOT_FOUND, SOURCE, language
from chatkit_knowledge.text import query_terms, terms

_SENTENCE = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+|(?<=[\u3002\uff01\uff1f])|\n+")
_ENDINGS = ".!?:;\"'\u3002\uff01\uff1f"
_CJK_END = re.compile("[\u3040-\u30ff\u3400-\u9fff]$")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


class ExtractiveOptions(ProviderOptions, kw_only=True, forbid_unknown_fields=True):
    model: str = "extractive"
    contact: str = ""
    """A line added to "I could not find that", such as how to reach the shop."""
    sentences: int = 2
    """Most sentences quoted from the passage."""
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
    quoted = best_sentences(question, passage, options.sentences)
    link = f"[{_escape(passage.title or passage.url)}]({passage.url})" if passage.url else _escape(passage.title)
    return f"{' '.join(_escape(s) for s in quoted)}\n\n{SOURCE[lang]}: {link} [1]"


def _escape(text: str) -> str:
    """Page text shown as written: markdown characters in it are not markup."""
    return _MARKDOWN.sub(r"\\\1", text)


def best_sentences(question: str, passage: Passage, most: int) -> list[str]:
    """The sentences of ``passage`` that match ``question`` best, in the passage's order."""
    sentences = [s.strip() for s in _SENTENCE.split(passage.text) if s and s.strip()]
    if not sentences:
        return [passage.text.strip()]
    wanted = set(query_terms(question))
    bags = [set(terms(s)) for s in sentences]
    rarity = {t: math.log(1 + len(bags) / (1 + sum(t in bag for bag in bags))) for t in wanted}
    scores = [sum(rarity[t] for t in wanted if t in bag) for bag in bags]
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    best = scores[ranked[0]]
    chosen = [i for i in ranked[:most] if scores[i] > 0 and scores[i] >= best / 2] or ranked[:1]
    return [_ended(sentences[i]) for i in sorted(chosen)]


def _ended(sentence: str) -> str:
    """A list item or table row quoted as a sentence gets its full stop."""
    return sentence if sentence[-1] in _ENDINGS else sentence + ("\u3002" if _CJK_END.search(sentence) else ".")
