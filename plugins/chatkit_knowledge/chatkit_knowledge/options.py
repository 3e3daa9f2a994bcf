"""Keys of ``[knowledge]`` for ``type = "sqlite"``, beyond the core's own."""

from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from chatkit_core.chat.knowledge import RetrieverOptions


class SqliteOptions(RetrieverOptions, kw_only=True, forbid_unknown_fields=True):
    config_paths: ClassVar[tuple[str, ...]] = ("sources", "path", "site_url")

    path: str = ".chatkit/knowledge.sqlite3"
    """The index file, relative to the config file's folder (the working directory without one)."""
    min_score: float = 0.35
    """Share (0-1) of the question's informative words, weighted by rarity, a passage must hold."""
    site_url: str | dict[str, str] = ""
    """Base URL of local folders (``https://bakery.example``); empty: root-relative URLs (``/menu.html``).
    A table gives each local source its own: ``{"docs/" = "https://docs.example.com/"}``."""
    include_hidden: bool = False
    """Index dot files and what is inside dot folders of local folders too (``chatkit serve`` never
    publishes them)."""
    exclude: list[str] = []
    """Glob patterns of paths to leave out, matched against a local file's path relative to its
    folder and against a crawled URL's path (``examples/*``, ``/drafts/*``)."""
    chunk_chars: int = 1000
    """Longest passage, in characters; sections are cut between lines beyond it."""
    max_pages: int = 1000
    """Most pages taken from one source."""
    max_page_bytes: int = 2_000_000
    """Larger pages and files are skipped."""
    max_depth: int = 3
    """Links followed from a page URL source (0: the page alone)."""
    crawl_seconds: float = 300.0
    """Longest one ``chatkit index`` run may spend fetching."""
    concurrency: int = 4
    """Pages fetched at once from one site."""
    request_timeout: float = 10.0
    """Longest one request may take in all, from connecting to the body's last byte."""
    user_agent: str = "ChatKit-indexer/0.1"
    embedder: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "static"})
    """``[knowledge.embedder]``: the embedder type and its keys; ``type = "none"``: words only."""

    def __post_init__(self) -> None:
        super().__post_init__()
        bases = self.site_url if isinstance(self.site_url, dict) else {"": self.site_url}
        local = {os.path.normpath(source) for source in self.sources if is_local(source)}
        for folder, url in bases.items():
            parts = urlsplit(url)
            if url and (parts.scheme not in ("http", "https") or not parts.netloc or parts.username is not None):
                raise ValueError(f"site_url must be an http(s) URL without credentials, got {url!r}")
            if folder and os.path.normpath(folder) not in local:
                raise ValueError(f"site_url names {folder!r}, which is not a local folder or file in sources")
        if not self.path:
            raise ValueError("path must name the index file")
        if not 0 <= self.min_score <= 1:
            raise ValueError("min_score is a share of the question's words, between 0 and 1")
        if self.chunk_chars < 200:
            raise ValueError("chunk_chars must be at least 200")
        for key in ("max_pages", "max_page_bytes", "concurrency"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1")
        if self.max_depth < 0:
            raise ValueError("max_depth must not be negative")
        if not isinstance(self.embedder.get("type"), str):
            raise ValueError('embedder needs a type: "static" (built in), "ollama", "openai" or "none"')
        if self.crawl_seconds <= 0 or self.request_timeout <= 0:
            raise ValueError("crawl_seconds and request_timeout must be greater than 0")

    def site_url_for(self, source: str) -> str:
        """The base URL of the pages of the local ``source``."""
        if isinstance(self.site_url, str):
            return self.site_url
        source = os.path.normpath(source)
        return next((url for folder, url in self.site_url.items() if os.path.normpath(folder) == source), "")


def is_local(source: str) -> bool:
    return not source.startswith(("http://", "https://"))
