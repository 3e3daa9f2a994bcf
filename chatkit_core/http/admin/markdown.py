"""Answers in a transcript as the visitor saw them: Markdown rendered by the widget's rules
(``widget/src/markdown.js``), on markdown-it-py.

Message text is stored as written, so the renderer escapes every piece of it, once. Raw HTML
is text; a link's target must be an absolute ``http(s)`` or ``mailto`` URL, or its label is
shown as plain text (a relative one would point into the console); images are links, never
loaded; headings are bold lines; tables, lists, quotes and fenced code are as the widget shows
them, and entities stay as typed. What cannot be rendered within bounds (a very long answer,
nesting deeper than the parser follows) is shown as plain text rather than cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup, escape

MAX_CHARS = 20_000
"""Longer answers are shown as plain text: rendering is linear, but a page holds many answers."""
MAX_NESTING = 20
"""markdown-it drops blocks nested deeper than this; an answer that reaches it is shown as text."""

# Checked on the href markdown-it normalised (percent-encoded): a control character or space
# smuggled into a scheme no longer spells one of these.
_SAFE_TARGET = re.compile(r"(?:https?://[^/?#\s]|mailto:[^\s])", re.I)


def _keep_links_safe(state: StateCore) -> None:
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = list(_safe_inline(block.children))


def _safe_inline(tokens: Sequence[Token], in_link: bool = False) -> Iterator[Token]:
    """Links to safe targets open in a new tab without a referrer (the console's address holds a
    session id); any other link is its label; an image is a link to it labelled with its alt text."""
    refused: list[bool] = []
    for token in tokens:
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            refused.append(in_link or not _SAFE_TARGET.match(href))
            in_link = True
            if not refused[-1]:
                token.attrs = {"href": href, "target": "_blank", "rel": "noopener noreferrer"}
                yield token
        elif token.type == "link_close":
            in_link = False
            if not refused.pop():
                yield token
        elif token.type == "image":
            yield from _image_as_link(token, in_link)
        else:
            yield token


def _image_as_link(image: Token, in_link: bool) -> Iterator[Token]:
    opened = Token("link_open", "a", 1, attrs={"href": str(image.attrGet("src") or "")})
    yield from _safe_inline([opened, *(image.children or []), Token("link_close", "a", -1)], in_link)


def _align_cells(state: StateCore) -> None:
    """Column alignment as the ``align`` attribute, as the widget does: the console's CSP
    refuses inline styles."""
    for token in state.tokens:
        style = token.attrGet("style") if token.type in ("th_open", "td_open") else None
        if isinstance(style, str):
            token.attrs = {"align": style.removeprefix("text-align:")}


def _fixed(html: str) -> Any:
    return lambda *_: html


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": True, "maxNesting": MAX_NESTING})
    md.enable(["table", "linkify"])
    # What the widget does not read as Markdown: indented code, rules, underlined headings,
    # reference definitions, entities (text is shown as written).
    md.disable(["code", "hr", "lheading", "reference", "entity"])
    assert md.linkify is not None, "markdown-it-py[linkify] installs linkify-it-py"
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # every link parses; _safe_inline decides
    md.core.ruler.push("keep_links_safe", _keep_links_safe)
    md.core.ruler.push("align_cells", _align_cells)
    md.add_render_rule("heading_open", _fixed("<p><strong>"))
    md.add_render_rule("heading_close", _fixed("</strong></p>\n"))
    md.add_render_rule("table_open", _fixed('<div class="table" tabindex="0"><table>\n'))
    md.add_render_rule("table_close", _fixed("</table></div>\n"))
    return md


_md = _parser()


def markdown(text: str) -> Markup:
    """``text`` as HTML for a transcript (a Jinja filter; the result is marked safe because every
    piece of ``text`` in it was escaped here)."""
    if len(text) <= MAX_CHARS:
        tokens = _md.parse(text)
        if all(token.level < MAX_NESTING - 1 for token in tokens):
            return Markup(_md.renderer.render(tokens, _md.options, {}))
    return Markup('<p class="plain">{}</p>').format(escape(text))
