"""Answers grounded in the site's own pages: what a retriever implements, and how the core
puts the passages it finds in front of the model.

A retriever type (hook ``register_retrievers``) is configured by the ``[knowledge]`` table.
Before the chain runs, the core asks it for passages matching the visitor's question (and
the previous question too, for a short follow-up such as "and on Sunday?");
:mod:`chatkit_core.chat.grounding` puts them before the model and turns its citations into the
answer's ``sources``. Retrieval that fails is logged and answered as if nothing was found: a
chat never fails because of the knowledge base.
"""

from __future__ import annotations

import asyncio
import re
from typing import ClassVar

import msgspec
import structlog

from chatkit_core.chat.grounding import DEFAULT_TEMPLATE
from chatkit_core.chat.health import Health
from chatkit_core.models import Passage

log = structlog.get_logger("chatkit.knowledge")

class RetrieverOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys of ``[knowledge]``. Retriever types subclass this for their own keys; ``config_paths``
    names those holding paths, which the core makes absolute against the config file's folder
    (local entries of ``sources``; URLs are left alone)."""

    config_paths: ClassVar[tuple[str, ...]] = ("sources",)
    type: str
    sources: list[str] = msgspec.field(default_factory=list)
    """Folders, files, page URLs and sitemap URLs to index."""
    top_k: int = 4
    """Passages given to the model with each question."""
    min_score: float = 0.0
    """Passages scoring below this are left out."""
    max_context_chars: int = 6000
    """Most characters of passages put in the prompt."""
    prompt_template: str = DEFAULT_TEMPLATE
    """The system message that carries the passages; ``{passages}`` marks where they go."""
    timeout: float = 2.0
    """Seconds a search may take before the answer goes ahead without passages."""
    contact: str = ""
    """How to reach a person, for a model to give when the site does not answer the question."""
    general_knowledge: bool = False
    """Let a model answer from what it knows when no passage matches; by default it says plainly
    that the site does not cover the question."""

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.max_context_chars < 200:
            raise ValueError("max_context_chars must be at least 200")
        if "{passages}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {passages}, where the passages go")
        if self.timeout <= 0:
            raise ValueError("timeout must be greater than 0")


class Retriever:
    """Base class for retriever types.

    One instance exists for the life of the app; :meth:`start` and :meth:`close` run in the
    app's lifespan. :meth:`search` may raise anything: the core logs it, marks ``/health``
    degraded and answers without passages.
    """

    Options: ClassVar[type[RetrieverOptions]] = RetrieverOptions

    def __init__(self, options: RetrieverOptions) -> None:
        self.options = options

    async def start(self) -> None:
        """Open the index. Runs once at app start-up; a missing index is not an error here."""

    async def close(self) -> None:
        """Close the index. Runs once at app shutdown."""

    async def search(self, query: str, limit: int) -> list[Passage]:
        """The best ``limit`` passages for ``query``, best first."""
        raise NotImplementedError

    async def health(self) -> Health:
        return Health("up")

    def describe(self) -> tuple[str, list[str]]:
        """For ``chatkit config check``: one line saying where the index is and what it holds, and
        what will not work (a missing index, say). Reads, never writes."""
        return "", []

    def version(self) -> str:
        """Changes whenever the index changes (answers cached for one index are stale for the next)."""
        return ""


# A short question that opens with a connective or leans on a pronoun continues the previous
# one ("and on Sunday?", "how much is it?"); a short question without such a cue ("are you
# hiring?") is a new topic and is searched alone.
_FOLLOW_UP_WORDS = 5
_FOLLOW_UP_CUE = re.compile(
    r"^\W*(?:and|or|but|also|what about|how about|y|o|pero|et|ou|mais|und|oder|aber|还有|那|و)(?:\W|$)"
    r"|\b(?:it|its|that|this|they|them|those|these|there|then|one)\b|(?:^|\W)(?:و|那)",
    re.I,
)


def search_query(question: str, previous: str | None) -> str:
    """What to search for: the question, with the previous one added for a short follow-up."""
    if previous and len(question.split()) <= _FOLLOW_UP_WORDS and _FOLLOW_UP_CUE.search(question):
        return f"{previous} {question}"
    return question


class Knowledge:
    """The configured retriever, used safely: bounded in time, failures logged and remembered."""

    def __init__(self, retriever: Retriever, type_name: str) -> None:
        self.retriever = retriever
        self.type_name = type_name
        self.options = retriever.options
        self.failure: str | None = None
        """Why the last search failed, until one succeeds again (``/health`` shows it)."""

    async def find(self, query: str, options: RetrieverOptions | None = None) -> list[Passage]:
        """Passages for ``query`` under ``options`` (an experiment variant's ``top_k`` and
        ``min_score``, say), by default ``[knowledge]``'s."""
        options = options or self.options
        try:
            async with asyncio.timeout(options.timeout):
                found = await self.retriever.search(query, options.top_k)
        except Exception as error:  # the answer goes ahead without passages
            self.failure = "search timed out" if isinstance(error, TimeoutError) else type(error).__name__
            log.error("retrieval_failed", retriever=self.type_name, error=str(error) or repr(error))
            return []
        self.failure = None
        return [p for p in found if p.score >= options.min_score][: options.top_k]

    async def health(self) -> Health:
        if self.failure:
            return Health("down", self.failure)
        try:
            async with asyncio.timeout(2.0):
                return await self.retriever.health()
        except Exception as error:
            return Health("down", type(error).__name__)
