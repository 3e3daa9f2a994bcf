"""The Markdown models write: tables, blockquotes and nested lists, rendered as elements.

The server's canned model quotes the visitor's message back, so each test sends the Markdown
it wants rendered; the opening ``x"`` line keeps the quote apart from it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.widget.helpers import Chat

pytestmark = pytest.mark.browser


def rendered(page: Page, markdown: str) -> Locator:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    return chat.ask(f'x"\n\n{markdown}\n\n"').locator(".body")


def texts(locator: Locator) -> list[str]:
    return locator.evaluate_all("nodes => nodes.map(n => n.textContent)")


def test_pipe_table_with_alignment_becomes_a_scrollable_table(page: Page) -> None:
    body = rendered(page, "| Item | Price | Note |\n|:-----|------:|:----:|\n| Croissant | 2.40 | **butter** |\n"
                          "| Baguette \\| long | 1.90 |\n| Tart | 3.10 | seasonal | extra |")
    table = body.locator(":scope > div.table > table")
    expect(table).to_have_count(1)
    assert texts(table.locator("thead > tr > th")) == ["Item", "Price", "Note"]
    assert table.locator("th").evaluate_all("c => c.map(n => n.getAttribute('align'))") == ["left", "right", "center"]
    rows = table.locator("tbody > tr")
    expect(rows).to_have_count(3)
    # Short rows are padded and long ones cut to the header's columns; an escaped pipe stays text.
    assert [texts(rows.nth(i).locator("td")) for i in range(3)] == [
        ["Croissant", "2.40", "butter"], ["Baguette | long", "1.90", ""], ["Tart", "3.10", "seasonal"]]
    expect(rows.first.locator("td strong")).to_have_text("butter")
    assert table.locator("td").evaluate_all("c => c.map(n => n.getAttribute('align'))")[:3] == [
        "left", "right", "center"]
    expect(body.locator("p").first).to_have_text('You said: "x"')


def test_a_wide_table_scrolls_inside_the_bubble(page: Page) -> None:
    wide = " | ".join(f"column number {i} with a long heading" for i in range(8))
    body = rendered(page, f"| {wide} |\n|{'---|' * 8}\n| {' | '.join('cell' for _ in range(8))} |")
    wrapper = body.locator(".table")
    sizes = wrapper.evaluate("""w => ({overflow: getComputedStyle(w).overflowX, scroll: w.scrollWidth,
        client: w.clientWidth, bubble: w.closest('.msg').getBoundingClientRect().width,
        list: w.closest('.messages').clientWidth})""")
    assert sizes["overflow"] == "auto"
    assert sizes["scroll"] > sizes["client"]
    assert sizes["bubble"] < sizes["list"]
    expect(wrapper).to_have_attribute("tabindex", "0")


def test_text_with_pipes_but_no_separator_row_stays_a_paragraph(page: Page) -> None:
    body = rendered(page, "Open | closed\nMonday | Sunday")
    expect(body.locator("table")).to_have_count(0)
    expect(body.locator("p").nth(1)).to_have_text("Open | closedMonday | Sunday")


def test_blockquotes_hold_markdown_and_nest(page: Page) -> None:
    body = rendered(page, "> Quoted **bold**\n> - one\n> - two\n>\n> > nested\n\nAfter")
    quote = body.locator(":scope > blockquote")
    expect(quote).to_have_count(1)
    expect(quote.locator(":scope > p > strong")).to_have_text("bold")
    expect(quote.locator(":scope > ul > li")).to_have_text(["one", "two"])
    expect(quote.locator(":scope > blockquote > p")).to_have_text("nested")
    assert texts(body.locator(":scope > p"))[-2] == "After"
    assert "> " not in body.text_content()


def test_a_list_nested_under_a_numbered_item_stays_one_list(page: Page) -> None:
    body = rendered(page, "1. Mix the dough\n   - flour\n   - water\n     1. cold\n     2. salted\n"
                          "2. Bake\n   ```\n   220 °C\n   ```\n\n3. Cool\n\nDone")
    outer = body.locator(":scope > ol")
    expect(outer).to_have_count(1)
    items = outer.locator(":scope > li")
    expect(items).to_have_count(3)
    expect(items.nth(0).locator(":scope > ul > li")).to_have_count(2)
    expect(items.nth(0).locator(":scope > ul > li").nth(1).locator(":scope > ol > li")).to_have_text(["cold", "salted"])
    expect(items.nth(1).locator(":scope > pre > code")).to_have_text("220 °C")
    assert texts(items.nth(2)) == ["Cool"]
    assert texts(body.locator(":scope > p"))[-2] == "Done"


def test_mixed_lists_nest_by_indentation_and_siblings_of_another_kind_start_a_new_list(page: Page) -> None:
    body = rendered(page, "- Bread\n  1. Sourdough\n  2. Rye\n- Cakes\n    - Lemon\n\n- Tarts\n3. Third\n4. Fourth")
    bullets = body.locator(":scope > ul")
    expect(bullets).to_have_count(1)
    expect(bullets.locator(":scope > li")).to_have_count(3)
    expect(bullets.locator(":scope > li").nth(0).locator(":scope > ol > li")).to_have_text(["Sourdough", "Rye"])
    expect(bullets.locator(":scope > li").nth(1).locator(":scope > ul > li")).to_have_text(["Lemon"])
    numbered = body.locator(":scope > ol")
    expect(numbered).to_have_attribute("start", "3")
    expect(numbered.locator("li")).to_have_text(["Third", "Fourth"])


def test_deep_nesting_stops_at_a_depth_limit_and_shows_the_rest_as_text(page: Page) -> None:
    body = rendered(page, "> " * 12 + "deep\n\n" + "\n".join("  " * i + "- level" for i in range(12)))
    assert body.locator("blockquote").count() == 8
    assert body.locator("ul").count() <= 9
    expect(body).to_contain_text("> > deep")
    expect(body).to_contain_text("- level")
