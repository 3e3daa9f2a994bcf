"""The sample site's pages: one layout, anchored headings, links that land, summaries in the
widget's other languages, and the same facts wherever a page repeats them."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = sorted(path.name for path in WEB.glob("*.html"))
LANGUAGES = ["es", "fr", "de", "zh", "ar"]
VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr"}


@dataclass
class Page:
    """What the tests look at in one page."""

    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    headings: list[tuple[str, str | None]] = field(default_factory=list)
    """(tag, id) of every h1-h3"""
    links: list[str] = field(default_factory=list)
    scripts: list[dict[str, str]] = field(default_factory=list)
    tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """caption -> (row header, cell) pairs"""
    unclosed: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.open: list[str] = []
        self.text: list[str] = []
        self.caption = ""
        self.row: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.page.tags.append((tag, values))
        if "id" in values:
            self.page.ids.append(values["id"])
        if tag in ("h1", "h2", "h3"):
            self.page.headings.append((tag, values.get("id")))
        if tag == "a" and "href" in values:
            self.page.links.append(values["href"])
        if tag == "script":
            self.page.scripts.append(values)
        if tag in ("caption", "th", "td"):
            self.text = []
        if tag == "tr":
            self.row = []
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.page.unclosed.append(f"</{tag}> closes <{self.open[-1] if self.open else None}>")
            return
        self.open.pop()
        text = " ".join("".join(self.text).split())
        if tag == "caption":
            self.caption = text
            self.page.tables[text] = []
        elif tag in ("th", "td"):
            self.row.append(text)
        elif tag == "tr" and len(self.row) == 2:
            self.page.tables.setdefault(self.caption, []).append((self.row[0], self.row[1]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read(name: str) -> Page:
    reader = _Reader()
    reader.feed((WEB / name).read_text(encoding="utf-8"))
    reader.close()
    reader.page.unclosed += [f"<{tag}> never closed" for tag in reader.open]
    return reader.page


def test_the_site_has_its_pages() -> None:
    assert {"index.html", "menu.html", "hours.html", "cakes.html", "delivery.html", "contact.html"} <= set(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_the_layout_and_the_widget(name: str) -> None:
    page = read(name)
    assert page.unclosed == []
    tags = [tag for tag, _ in page.tags]
    for landmark in ("nav", "main", "footer"):
        assert tags.count(landmark) == 1, landmark
    assert [tag for tag, _ in page.headings].count("h1") == 1
    # Under `default-src 'self'`: no inline script, style or event handler.
    assert all(values.get("src") for values in page.scripts)
    assert "style" not in tags
    assert not [(tag, a) for tag, values in page.tags for a in values if a == "style" or a.startswith("on")]
    assert page.scripts == read("index.html").scripts


@pytest.mark.parametrize("name", PAGES)
def test_headings_have_unique_anchors(name: str) -> None:
    page = read(name)
    assert [heading for heading in page.headings if not heading[1]] == []
    assert len(page.ids) == len(set(page.ids))


@pytest.mark.parametrize("name", PAGES)
def test_links_land_on_a_page_and_anchor_that_exist(name: str) -> None:
    for href in read(name).links:
        if href.startswith(("tel:", "mailto:")):
            continue
        assert "//" not in href, f"{href}: the site links nothing outside itself"
        path, _, anchor = href.partition("#")
        target = name if not path else path.lstrip("/") or "index.html"
        if target.endswith("/"):
            target += "index.html"
        assert (WEB / target).is_file(), href
        if anchor and target.endswith(".html"):
            assert anchor in read(target).ids, href


@pytest.mark.parametrize("name", PAGES)
def test_every_page_ends_with_its_facts_in_the_other_languages(name: str) -> None:
    page = read(name)
    assert page.headings[-len(LANGUAGES) - 1:] == [("h2", "other-languages"), *(("h3", lang) for lang in LANGUAGES)]
    sections = [values for tag, values in page.tags if tag == "section" and "lang" in values]
    assert [values["lang"] for values in sections] == LANGUAGES
    assert next(values for values in sections if values["lang"] == "ar").get("dir") == "rtl"


def test_the_home_page_and_the_hours_page_give_the_same_hours() -> None:
    home = dict(read("index.html").tables["Opening hours"])
    hours = dict(read("hours.html").tables["Opening hours"])
    assert home == hours
    assert hours["Sunday"] == "8:00 \u2013 13:00" and hours["Monday"] == "Closed"
