"""A page's main content, as sections under their headings, with selectolax (lexbor).

The page is reduced to ``<main>`` (else ``[role=main]``, ``<article>``, ``<body>``), minus
navigation (elements, roles, and classes or ids such as ``menu``, ``sidebar``, ``toc``), headers,
footers, asides, forms, scripts, styles, hidden elements and what the site marks as not for
search (``data-chatkit-ignore``, ``data-nosnippet``…). Inline
markup is unwrapped so a sentence stays on one line; each table row becomes one line
("Croissant — Price: €2.40, Allergens: gluten") so a row can be quoted on its own.
Headings keep their ``id`` (or the ``id`` of the ``<section>`` they open) for ``#anchor`` URLs.
Titles and headings are cut to :data:`MAX_TITLE` characters, descriptions to
:data:`MAX_DESCRIPTION`: a page cannot make every answer that cites it huge.

HTML5 parsers spend time proportional to the depth of the open elements on each new one, so
200,000 nested ``<div>``s cost lexbor over a minute: a page nested deeper than
:data:`MAX_DEPTH` elements is refused before it is parsed (browsers stop nesting at 512 too).
Other shapes are slow to parse as well, which is why the crawler parses in a child process with
a time limit (parsing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from selectolax.lexbor import LexborHTMLParser, LexborNode

_NOT_FOR_SEARCH = "[data-chatkit-ignore], [data-nosnippet], [data-pagefind-ignore], .nosearch, .noindex"
"""What a site marks as not for search: ChatKit's own attribute, Google's ``data-nosnippet``,
Pagefind's ``data-pagefind-ignore``, and the ``nosearch``/``noindex`` classes of sites that run
their own search."""
_DROP = ("script, style, noscript, template, svg, iframe, object, embed, canvas, form, button, nav, aside, "
         "dialog, [hidden], [aria-hidden=true], [role=navigation], [role=banner], [role=contentinfo], "
         + _NOT_FOR_SEARCH)
_PAGE_CHROME = "header, footer"
_CHROME_NAMES = re.compile(r"menu|sidebar|breadcrumb|pagination|pager|navbar|(?<![a-z])(?:nav|toc)(?![a-z])", re.I)
"""Class or id names of navigation (after Mozilla Readability's unlikely candidates, less the ones
that name content as often as chrome): menus, sidebars, breadcrumbs, pagers, tables of contents."""
_LINKED = 0.5
"""Share of an element's text in links from which an element named as navigation is navigation."""
_CONTENT_NAMES = re.compile(r"(?<![a-z])(?:content|article|main|body)(?![a-z])", re.I)
_INLINE = ["a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i", "ins", "kbd",
           "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr"]
_HEADINGS = "h1, h2, h3, h4, h5, h6"
_MARK = re.compile(r"\x1e(\d)\x1f([^\x1f]*)\x1f([^\x1e]*)\x1e")
_SPACE = re.compile(r"\s+")
_LINE = "\x1d"
"""Ends a line of text: a block's end, a ``<br>``, a table row. Newlines in the HTML source are spaces."""
MAX_TITLE = 200
"""Longest title or heading kept, in characters; longer ones are cut between words."""
MAX_DESCRIPTION = 500
MAX_DEPTH = 512
"""Most elements open inside one another."""


class PageError(Exception):
    """A page refused before it is parsed, and why."""


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
    description: str = ""
    """``<meta name="description">`` or the Markdown front matter's: metadata, not searched."""


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def shorten(text: str, limit: int = MAX_TITLE) -> str:
    """``text`` on one line, cut between words to at most ``limit`` characters."""
    text = _clean(text[: limit * 4])
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip() + "\u2026"


_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)|<!--")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source",
         "track", "wbr"}
_RAW = {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"}
_BLOCKS = ("address article aside blockquote details dialog div dl fieldset figcaption figure footer form h1 h2 h3 "
           "h4 h5 h6 header hgroup hr main menu nav ol p pre section table ul li dd dt")
_IMPLIED_END = {name: {"p"} for name in _BLOCKS.split()} | {
    "li": {"li", "p"}, "dt": {"dd", "dt", "p"}, "dd": {"dd", "dt", "p"}, "option": {"option"},
    "tr": {"tr", "td", "th"}, "td": {"td", "th"}, "th": {"td", "th"}}
"""Elements whose start closes the open ones of these names right above them (implied end tags)."""


def too_deep(html: str, limit: int = MAX_DEPTH) -> bool:
    """Whether elements in ``html`` nest more than ``limit`` deep, as an HTML5 parser would open
    them: one pass over the tags, raw text and comments skipped, implied end tags applied."""
    if html.count("<") <= limit:
        return False
    stack: list[str] = []
    open_names: dict[str, int] = {}
    foreign = 0  # inside <svg> or <math>, where "/>" closes an element
    position = 0
    while len(stack) <= limit and (tag := _TAG.search(html, position)):
        if tag[0] == "<!--":
            end = html.find("-->", tag.end())
            position = end + 3 if end >= 0 else len(html)
            continue
        name, closing = tag[2].lower(), tag[1]
        end = html.find(">", tag.end())
        if end < 0:
            break
        position = end + 1
        if closing:
            while open_names.get(name):
                gone = stack.pop()
                open_names[gone] -= 1
                foreign -= gone in ("svg", "math")
            continue
        if name in _VOID or (foreign and html[end - 1] == "/"):
            continue
        while stack and stack[-1] in _IMPLIED_END.get(name, ()):
            open_names[stack.pop()] -= 1
        stack.append(name)
        open_names[name] = open_names.get(name, 0) + 1
        foreign += name in ("svg", "math")
        if name in _RAW:
            close = re.compile(f"</{name}", re.I).search(html, position)
            position = close.start() if close else len(html)
    return len(stack) > limit


def parse_html(html: str, fallback_title: str = "") -> Page:
    if too_deep(html):
        raise PageError(f"elements nested more than {MAX_DEPTH} deep")
    tree = LexborHTMLParser(html)
    robots = " ".join((m.attributes.get("content") or "").lower() for m in tree.css('meta[name="robots" i]'))
    description = " ".join(m.attributes.get("content") or "" for m in tree.css('meta[name="description" i]'))
    links = [a.attributes.get("href") or "" for a in tree.css("a[href]")
             if "nofollow" not in (a.attributes.get("rel") or "")]
    title_node = tree.css_first("title")
    title = shorten(title_node.text()) if title_node else ""
    root = tree.css_first("main") or tree.css_first("[role=main]") or tree.css_first("article") or tree.body
    sections = _sections(root) if root is not None else []
    if not title:
        title = next((s.heading for s in sections if s.level == 1), "") or shorten(fallback_title)
    return Page(title=title, sections=sections, links=[h for h in links if h],
                noindex="noindex" in robots or "none" in robots.split(","),
                nofollow="nofollow" in robots, description=shorten(description, MAX_DESCRIPTION))


def _sections(root: LexborNode) -> list[Section]:
    for node in root.css(_DROP):
        node.decompose()
    if root.tag in ("body", "html"):  # no <main>: the page's own header and footer are chrome
        for node in root.css(_PAGE_CHROME):
            node.decompose()
    for node in root.css("[class], [id]"):
        if _navigation(node):
            node.decompose()
    for table in root.css("table"):
        _table_lines(table)
    headings = [(heading, _anchor(heading)) for heading in root.css(_HEADINGS)]  # before any is replaced
    for heading, anchor in headings:
        level = (heading.tag or "h2")[1]
        heading.replace_with(f"{_LINE}\x1e{level}\x1f{anchor[:MAX_TITLE]}\x1f{shorten(heading.text())}\x1e{_LINE}")
    for br in root.css("br"):
        br.replace_with(_LINE)
    root.unwrap_tags(_INLINE)
    root.merge_text_nodes()
    return _split(root.text(separator=_LINE))


def _navigation(node: LexborNode) -> bool:
    """Whether ``node`` is named as navigation (class ``menu``, ``fancy_toc``, ``sidebar``…),
    holds no heading and is mostly links: a menu repeats the site's pages on every page (its words
    then count for none of them) and a table of contents the page's headings. A bakery's
    ``<ul class="menu">`` of breads and prices is text, not links, and stays."""
    names = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"
    if not _CHROME_NAMES.search(names) or _CONTENT_NAMES.search(names) or node.css_first(_HEADINGS) is not None:
        return False
    text = len(_clean(node.text()))
    return sum(len(_clean(link.text())) for link in node.css("a")) >= _LINKED * text


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
