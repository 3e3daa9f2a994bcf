"""Every served page, and the widget on it, works under the page CSP without a single violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.security.conftest import canned
from tests.support.server import running_server, with_site
from tests.widget.helpers import Chat

pytestmark = pytest.mark.browser

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = sorted("/" + str(path.relative_to(WEB)).removesuffix("index.html") for path in WEB.rglob("*.html"))
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI), true);
"""


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server(with_site(canned(chunk_chars=6))) as url:
        yield url



@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.add_init_script(RECORD_VIOLATIONS)
    yield page
    context.close()


def test_the_pages_are_found() -> None:
    assert "/" in PAGES and len(PAGES) >= 5


@pytest.mark.parametrize("path", PAGES)
def test_page_and_widget_run_without_csp_violations(page: Page, path: str) -> None:
    console = []
    page.on("console", lambda message: console.append(message.text))
    response = page.goto(path)
    assert response is not None and response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]
    if page.locator('script[src$="chatkit.js"]').count():
        chat = Chat(page)
        expect(chat.host).to_be_attached()
        if chat.launcher.count() and chat.launcher.is_visible():
            chat.launcher.click()
        expect(chat.input).to_be_visible()
        answer = chat.ask("Is the rye loaf vegan?")
        expect(answer).to_contain_text("Is the rye loaf vegan?")
    else:
        page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == []
    assert [text for text in console if "Content Security Policy" in text] == []


def test_the_page_csp_is_enforced(page: Page) -> None:
    page.goto("/")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__inline = true'; document.head.append(s); }""")
    assert page.evaluate("window.__inline === undefined")
    assert any(v.startswith("script-src") for v in page.evaluate("window.__csp"))
