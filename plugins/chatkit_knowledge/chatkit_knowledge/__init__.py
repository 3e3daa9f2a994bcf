"""ChatKit knowledge base: answers grounded in the site's own pages.

- retriever type ``sqlite``: an SQLite FTS5 index of the ``[knowledge]`` sources;
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
from chatkit_knowledge.eval import EvalCommand
from chatkit_knowledge.extractive import ExtractiveProvider
from chatkit_knowledge.retriever import SqliteRetriever

__all__ = ["EvalCommand", "ExtractiveProvider", "IndexCommand", "SqliteRetriever"]


@hookimpl
def register_retrievers(register):
    register("sqlite", SqliteRetriever)


@hookimpl
def register_providers(register):
    register("extractive", ExtractiveProvider)


@hookimpl
def register_commands(register):
    register(IndexCommand())
    register(EvalCommand())
