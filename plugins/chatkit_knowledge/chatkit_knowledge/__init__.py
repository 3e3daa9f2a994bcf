"""ChatKit knowledge base: answers grounded in the site's own pages.

- retriever type ``sqlite``: an SQLite index of the ``[knowledge]`` sources, searched by words
  (FTS5) and by meaning (vectors);
- embedder type ``static``: the default embedder, shipped in a wheel, no server or download;
- command ``chatkit index``: builds or refreshes it (``--status`` describes it);
- provider type ``extractive``: answers from the passages alone, with no model;
- command ``chatkit eval``: asks a file of questions through the chain and counts right answers.

    [knowledge]
    type = "sqlite"
    sources = ["web/"]                      # folders, files, page URLs, sitemap URLs
    path = ".chatkit/knowledge.sqlite3"
    site_url = "https://bakery.example"     # local files become URLs under it

See docs/knowledge.md.
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_knowledge.command import IndexCommand
from chatkit_knowledge.embedders import StaticEmbedder
from chatkit_knowledge.eval import EvalCommand
from chatkit_knowledge.extractive import ExtractiveProvider
from chatkit_knowledge.retriever import SqliteRetriever

__all__ = ["EvalCommand", "ExtractiveProvider", "IndexCommand", "SqliteRetriever", "StaticEmbedder"]


@hookimpl
def register_retrievers(register):
    register("sqlite", SqliteRetriever)


@hookimpl
def register_providers(register):
    register("extractive", ExtractiveProvider)


@hookimpl
def register_embedders(register):
    register("static", StaticEmbedder)


@hookimpl
def register_commands(register):
    register(IndexCommand())
    register(EvalCommand())
