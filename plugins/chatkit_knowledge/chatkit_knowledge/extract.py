"""A page's main content, as sections under their headings, with selectolax (lexbor).

The page is reduced to ``<main>`` (else ``[role=main]``, ``<article>``, ``<body>``), minus
navigation, headers, footers, asides, forms, scripts, styles and hidden elements. Inline
markup is unwrapped so a sentence stays on one line; each table row becomes one line
("Croissant — Price: €2.40, Allergens: gluten") so a row can be quoted on its own.
Headings keep their ``id`` (or the ``id`` of the ``<section>`` they open) for ``#anchor`` URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from selectolax.lexbor import LexborHTMLParser, LexborNode

_DROP = ("script, style, noscript, template, svg, iframe, object, embed, canvas, form, button, nav, aside, "
         "dialog, [hidden], [aria-hidden=true], [role=navigation], [role=banner], [role=contentinfo]")
_PAGE_CHROME = "header, footer"
_INLINE = ["a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i", "ins", "kbd",
           "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr"]
_HEADINGS = "h1, h2, h3, h4, h5, h6"
_MARK = re.compile(r"\x1e(\d)\x1f([^\x1f]*)\x1f([^\x1e]*)\x1e")
_SPACE = re.compile(r"\s+")
_LINE = "\x1d"
"""Ends a line of text: a block's end, a ``<br>``, a table row. Newlines in the HTML source are spaces."""


@dataclass
class Section:
    level: int
    """Heading level 1-6; 0 for the text before the first heading."""
    heading: str
    anchor: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Page:
    title: str
    sections: list[Section]
    links: list[str] = field(default_factory=list)
    """``href`` values as written in the page (resolved against its URL by the crawler)."""
    noindex: bool = False
    nofollow: bool = False


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def parse_html(html: str, fallback_title: str = "") -> Page:
    tree = LexborHTMLParser(html)
    robots = " ".join((m.attributes.get("content") or "").lower() for m in tree.css('meta[name="robots" i]'))
    links = [a.attributes.get("href") or "" for a in tree.css("a[href]")
             if "nofollow" not in (a.attributes.get("rel") or "")]
    title_node = tree.css_first("title")
    title = _clean(title_node.text()) if title_node else ""
    root = tree.css_first("main") or tree.css_first("[role=main]") or tree.css_first("article") or tree.body
    sections = _sections(root) if root is not None else []
    if not title:
        title = next((s.heading for s in sections if s.level == 1), "") or fallback_title
    return Page(title=title, sections=sections, links=[h for h in links if h],
                noindex="noindex" in robots or "none" in robots.split(","),
                nofollow="nofollow" in robots)


def _sections(root: LexborNode) -> list[Section]:
    for node in root.css(_DROP):
        node.decompose()
    if root.tag in ("body", "html"):  # no <main>: the page's own header and footer are chrome
        for node in root.css(_PAGE_CHROME):
            node.decompose()
    for table in root.css("table"):
        _table_lines(table)
    headings = [(heading, _anchor(heading)) for heading in root.css(_HEADINGS)]  # before any is replaced
    for heading, anchor in headings:
        level = (heading.tag or "h2")[1]
        heading.replace_with(f"{_LINE}\x1e{level}\x1f{anchor}\x1f{_clean(heading.text())}\x1e{_LINE}")
    for br in root.css("br"):
        br.replace_with(_LINE)
    root.unwrap_tags(_INLINE)
    root.merge_text_nodes()
    return _split(root.text(separator=_LINE))


def _anchor(heading: LexborNode) -> str:
    if heading.id:
        return heading.id
    parent = heading.parent
    if parent is not None and parent.tag in ("section", "article") and parent.id:
        first = parent.css_first(_HEADINGS)
        if first is not None and first.mem_id == heading.mem_id:
            return parent.id
    return ""


def _table_lines(table: LexborNode) -> None:
    rows = table.css("tr")
    names = [_clean(cell.text()) for cell in rows[0].css("th")] if rows else []
    for index, row in enumerate(rows):
        cells = [_clean(cell.text()) for cell in row.css("th, td")]
        if (index == 0 and names) or len(names) != len(cells) or len(cells) < 2:
            line = " | ".join(c for c in cells if c)
        else:
            line = f"{cells[0]} — " + ", ".join(f"{n}: {c}" for n, c in zip(names[1:], cells[1:], strict=True) if c)
        row.replace_with(f"{_LINE}{line}{_LINE}")


def _split(text: str) -> list[Section]:
    sections = [Section(0, "", "")]
    position = 0
    for mark in _MARK.finditer(text):
        sections[-1].lines += _lines(text[position : mark.start()])
        sections.append(Section(int(mark[1]), mark[3], mark[2]))
        position = mark.end()
    sections[-1].lines += _lines(text[position:])
    return [s for s in sections if s.lines or s.heading]


def _lines(text: str) -> list[str]:
    return [line for line in (_clean(raw) for raw in text.split(_LINE)) if line]


_markdown = MarkdownIt("commonmark").enable("table")


def parse_markdown(text: str, fallback_title: str = "") -> Page:
    page = parse_html(f"<body>{_markdown.render(text)}</body>", fallback_title)
    return Page(title=page.title, sections=page.sections)


def parse_text(text: str, title: str) -> Page:
    paragraphs = [_clean(p) for p in re.split(r"\n\s*\n", text)]
    return Page(title=title, sections=[Section(0, "", "", [p for p in paragraphs if p])])
