"""An answer's Markdown in a transcript, in headless Chromium with the console's CSP on: shown as
the visitor saw it in the widget, and nothing in it reaches beyond the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.helpers import TOKEN
from tests.console.seed import Deployment, deployment
from tests.fakes.server import Script

pytestmark = pytest.mark.browser

ANSWER = """## Opening hours

We bake every day:

- Monday to Friday, **7 to 19**
- Saturday, _8 to 14_

| Bread | Price |
|---|--:|
| Sourdough | 4.50 |
| Rye | 3.90 |

```
curl https://bakery.example/api/hours
```

See [the menu](https://bakery.example/menu), ![the shop](https://bakery.example/shop.jpg),
[a trick](javascript:window.__xss=1) and Tom & Jerry &amp; friends."""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("markdown")) as running:
        running.local.script(Script(text=ANSWER, chunks=4))
        running.sessions["hours"], _ = running.chat("When are you open?")
        yield running


@pytest.fixture
def page(browser: Browser, site: Deployment) -> Iterator[tuple[Page, list[str], list[str]]]:
    context = browser.new_context(base_url=site.url)
    foreign: list[str] = []
    refused: list[str] = []

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.fallback()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto("/admin/login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    yield page, foreign, refused
    context.close()


def test_a_transcript_shows_the_answer_rendered_as_the_widget_does(page, site: Deployment):
    page, foreign, refused = page
    page.goto(f"/admin/conversations/{site.sessions['hours']}")
    answer = page.locator("li.message.assistant .markdown")
    expect(answer.locator("p strong").first).to_have_text("Opening hours")  # a heading is a bold line
    expect(answer.locator("ul > li")).to_have_text(["Monday to Friday, 7 to 19", "Saturday, 8 to 14"])
    expect(answer.locator("ul strong")).to_have_text("7 to 19")
    expect(answer.locator("ul em")).to_have_text("8 to 14")
    expect(answer.locator("table th")).to_have_text(["Bread", "Price"])
    expect(answer.locator("table tbody tr")).to_have_count(2)
    assert answer.locator("table td").nth(1).get_attribute("align") == "right"
    expect(answer.locator("pre code")).to_have_text("curl https://bakery.example/api/hours\n")
    menu = answer.get_by_role("link", name="the menu")
    assert menu.get_attribute("href") == "https://bakery.example/menu"
    assert menu.get_attribute("rel") == "noopener noreferrer" and menu.get_attribute("target") == "_blank"
    # The image is a link to it, never loaded; the javascript: link is its label, as text.
    assert answer.get_by_role("link", name="the shop").get_attribute("href") == "https://bakery.example/shop.jpg"
    expect(answer.locator("img")).to_have_count(0)
    expect(answer).to_contain_text("a trick and Tom & Jerry &amp; friends.")
    assert answer.locator("a").evaluate_all("links => links.map(a => a.href)") == [
        "https://bakery.example/menu", "https://bakery.example/shop.jpg"]
    # The visitor's question stays plain text.
    expect(page.locator("li.message.user pre.content")).to_have_text("When are you open?")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None
    assert foreign == [] and refused == []


def test_the_table_scrolls_on_its_own_and_is_reachable_by_keyboard(page, site: Deployment):
    page, _, _ = page
    page.goto(f"/admin/conversations/{site.sessions['hours']}")
    wrapper = page.locator(".markdown div.table")
    assert wrapper.get_attribute("tabindex") == "0"
    assert re.search(r"auto|scroll", wrapper.evaluate("node => getComputedStyle(node).overflowX"))
