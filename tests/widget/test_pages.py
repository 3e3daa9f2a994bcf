"""Every page of the sample site loads its widget without errors or policy violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PAGES = {"/": "floating", "/examples/snippet.html": "floating", "/examples/inline.html": "inline",
         "/examples/themed.html": "floating", "/examples/fullpage.html": "fullpage",
         "/examples/api.html": "floating", "/examples/rtl.html": "inline", "/examples/csp.html": "floating",
         "/examples/single.html": "floating"}


@pytest.mark.parametrize(("path", "mode"), PAGES.items())
def test_page_loads_cleanly(page: Page, path: str, mode: str) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', "
                         "e => console.error('CSP violation: ' + e.violatedDirective))")
    page.goto(path)
    expect(page.locator(".chatkit-host")).to_have_attribute("data-chatkit", mode)
    page.wait_for_function("ChatKit.instances.length === 1")
    assert problems == []


def test_examples_index_links_every_example(page: Page) -> None:
    page.goto("/examples/")
    links = page.locator("main li a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert {"/examples/" + link for link in links} == {path for path in PAGES if path != "/"}
