"""Markdown and MDX pages as published: front matter as metadata, headings with their anchors.

- YAML (``---``) or TOML (``+++``) front matter gives the page's ``title`` and ``description``
  and is never text or a heading; metadata that does not parse is dropped all the same.
- Each heading below the page's ``#`` title gets the ``id`` a documentation site gives it:
  ``{#custom-id}`` written after it, else GitHub's slug of its text (lower case, punctuation dropped, spaces to hyphens,
  ``-1``, ``-2``… for repeats), which GitHub, Docusaurus, Nextra, Starlight and most others use.
- The page is rendered by markdown-it-py and read by the HTML extractor like any page, so its
  ``#anchors`` come out the same way.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

from chatkit_knowledge.extract import MAX_DESCRIPTION, Page, parse_html, shorten
from chatkit_knowledge.mdx import to_markdown

MAX_FRONT_MATTER = 64_000
"""Front matter is looked for in the first 64 kB only."""
_FRONT_MATTER = re.compile(r"\A\ufeff?(---|\+\+\+)[ \t]*\r?\n(.*?)^\1[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_CUSTOM_ID = re.compile(r"\s*\{#([\w-]+)\}\s*$")
_NOT_IN_SLUG = re.compile(r"[^\w\- ]")
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it: plain data only, no Python objects."""


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(the front matter's keys, the text after it); ``({}, text)`` when there is none."""
    found = _FRONT_MATTER.match(text[:MAX_FRONT_MATTER])
    if found is None:
        return {}, text
    try:
        data = tomllib.loads(found[2]) if found[1] == "+++" else yaml.load(found[2], Loader=_SAFE_LOADER)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        data = None
    return (data if isinstance(data, dict) else {}), text[found.end() :]


def slug(text: str) -> str:
    return _NOT_IN_SLUG.sub("", text.strip().lower()).replace(" ", "-")


def _heading_ids(state: StateCore) -> None:
    seen: dict[str, int] = {}
    for index, token in enumerate(state.tokens):
        if token.type != "heading_open" or index + 1 >= len(state.tokens):
            continue
        inline = state.tokens[index + 1]
        custom = _CUSTOM_ID.search(inline.content)
        if custom and inline.children and inline.children[-1].type == "text":
            inline.children[-1].content = _CUSTOM_ID.sub("", inline.children[-1].content)
            token.attrSet("id", custom[1])
            continue
        if token.tag == "h1":  # the page's own title: its passages link to the page itself
            continue
        base = slug("".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline")))
        count = seen.get(base, 0)
        seen[base] = count + 1
        token.attrSet("id", f"{base}-{count}" if count else base)


_markdown = MarkdownIt("commonmark").enable("table")
_markdown.core.ruler.push("heading_ids", _heading_ids)


def parse_markdown(text: str, fallback_title: str = "", mdx: bool = False) -> Page:
    meta, body = front_matter(text)
    if mdx:
        body = to_markdown(body)
    page = parse_html(f"<body>{_markdown.render(body)}</body>", fallback_title)
    title = shorten(str(meta.get("title") or "")) or page.title
    description = shorten(str(meta.get("description") or ""), MAX_DESCRIPTION)
    return Page(title=title, sections=page.sections, description=description)
