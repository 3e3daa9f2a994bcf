"""Cutting a page into passages along its headings.

Each chunk holds the lines of one section (a long section is cut between lines), the
page's title and the heading path above it, and the URL of the nearest ``#anchor``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatkit_knowledge.extract import Page


@dataclass(frozen=True)
class Chunk:
    title: str
    """What a visitor sees as the source: the page title, then the section heading."""
    headings: tuple[str, ...]
    url: str
    text: str


def chunk_page(page: Page, url: str, max_chars: int) -> list[Chunk]:
    path: list[tuple[int, str, str]] = []  # (level, heading, anchor) above the current section
    chunks: list[Chunk] = []
    for section in page.sections:
        if section.level:
            path = [entry for entry in path if entry[0] < section.level]
            path.append((section.level, section.heading, section.anchor))
        if not section.lines:
            continue
        headings = tuple(heading for _, heading, _ in path if heading)
        anchor = next((anchor for _, _, anchor in reversed(path) if anchor), "")
        target = f"{url.split('#')[0]}#{anchor}" if anchor else url
        title = _title(page.title, headings)
        chunks += [Chunk(title, headings, target, text) for text in _pieces(section.lines, max_chars)]
    return chunks


def _title(page_title: str, headings: tuple[str, ...]) -> str:
    last = headings[-1] if headings else ""
    if not last or last.casefold() in page_title.casefold():
        return page_title or last
    return f"{page_title} \u203a {last}" if page_title else last


def _pieces(lines: list[str], max_chars: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        while len(line) > max_chars:  # one huge line: cut it between words
            cut = line.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            lines_left, line = line[:cut], line[cut:].lstrip()
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            pieces.append(lines_left)
        if current and size + len(line) + 1 > max_chars:
            pieces.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        pieces.append("\n".join(current))
    return [piece for piece in pieces if piece.strip()]
