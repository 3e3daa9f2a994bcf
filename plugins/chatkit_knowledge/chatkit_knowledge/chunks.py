"""Cutting a page into passages along its headings.

Each chunk holds the lines of one section (a long section is cut between lines), the
page's title and the heading path above it, and the URL of the nearest ``#anchor``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatkit_knowledge.extract import Page

_LEAD_IN = re.compile(r"[:\uff1a?\uff1f]\s*$")


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
    """The section's lines in pieces of at most ``max_chars`` (a longer line is cut between
    words). A lead-in line ("Here is an example:", or a question, "Is this a bug?") never ends
    a piece: it starts the next one, with the list, code or answer it introduces."""
    pieces: list[str] = []
    current: list[str] = []

    def flush() -> None:
        nonlocal current
        carried = [current.pop()] if len(current) > 1 and _LEAD_IN.search(current[-1]) else []
        if current:
            pieces.append("\n".join(current))
        current = carried

    for line in lines:
        while len(line) > max_chars:  # one huge line: cut it between words
            cut = line.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            head, line = line[:cut], line[cut:].lstrip()
            lead = [current.pop()] if current and _LEAD_IN.search(current[-1]) and len(current[-1]) < max_chars // 2 \
                else []
            if current:
                pieces.append("\n".join(current))
            current = []
            pieces.append("\n".join([*lead, head]))  # a lead-in with the start of what it introduces
        if current and sum(len(x) + 1 for x in current) + len(line) + 1 > max_chars:
            flush()
        current.append(line)
    if current:
        pieces.append("\n".join(current))
    return [piece for piece in pieces if piece.strip()]
