"""No visitor or model text is ever rendered as HTML in the console.

The widget's hostile payloads are stored as visitor questions, model answers and feedback
comments through a real server, then every console page that shows them is opened in
Chromium with the page's CSP switched off (so escaping alone must hold): nothing runs, no
element or attribute of theirs appears, nothing is fetched from elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.console.helpers import TOKEN
from tests.console.seed import PAYLOADS, Deployment, deployment
from tests.fakes.server import Script

pytestmark = pytest.mark.browser

ALLOWED = {"H1", "H2", "P", "FORM", "INPUT", "LABEL", "SELECT", "OPTION", "BUTTON", "A", "TABLE", "THEAD", "TBODY",
           "TR", "TH", "TD", "SPAN", "OL", "LI", "DIV", "PRE", "DL", "DT", "DD", "Q", "CODE", "SECTION", "NAV",
           "FIGURE", "FIGCAPTION", "svg", "rect", "line", "text", "title",
           # an answer's Markdown, as the widget renders it
           "UL", "STRONG", "EM", "BR", "BLOCKQUOTE"}

AUDIT = """(allowed) => {
    const problems = [];
    for (const node of document.querySelectorAll('body *')) {
        if (!allowed.includes(node.tagName) && !['HEADER', 'MAIN', 'FOOTER'].includes(node.tagName))
            problems.push('element ' + node.tagName);
        for (const attr of node.attributes) {
            if (/^on/i.test(attr.name) || ['src', 'srcdoc', 'style', 'xlink:href', 'formaction'].includes(attr.name))
                problems.push(node.tagName + ' ' + attr.name + '=' + attr.value);
        }
        const href = node.tagName === 'A' ? node.getAttribute('href') : null;
        // An answer's own links: web pages and mail only, opened apart, with no referrer.
        const answerLink = node.closest('.markdown') && /^(https?:[/][/]|mailto:)/i.test(href)
            && node.rel === 'noopener noreferrer' && node.target === '_blank';
        if (href !== null && !href.startsWith('/admin/') && !answerLink)
            problems.push('href ' + href);
    }
    return problems;
}"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[tuple[Deployment, str]]:
    """Every payload as the first question of a conversation and as its answer, and all of
    them in one long conversation whose answers are rated with the payload as comment."""
    with deployment(tmp_path_factory.mktemp("xss")) as site:
        for index, payload in enumerate(PAYLOADS):
            cut = index % 10 == 0  # some answers cut off, so the dashboard lists their questions
            site.local.script(Script(text=payload + " tail", chunks=2, fault="cut", after=1) if cut
                              else Script(text=payload, chunks=3))
            _chat(site, f"q{index} {payload}", None, stream=cut)
        long_session = httpx.post(f"{site.url}/api/create-session").json()["sessionId"]
        for index, payload in enumerate(PAYLOADS):
            site.local.script(Script(text=payload, chunks=3))
            answer = _chat(site, f"q{index} {payload}", long_session)
            if answer:
                httpx.post(f"{site.url}/api/session/{long_session}/messages/{answer['id']}/feedback",
                           json={"rating": "down", "comment": f"c{index} {payload}"[:500]})
        yield site, long_session


def _chat(site: Deployment, text: str, session: str | None, stream: bool = False) -> dict | None:
    """The answer (None when streamed)."""
    session = session or httpx.post(f"{site.url}/api/create-session").json()["sessionId"]
    response = httpx.post(f"{site.url}/api/chat", json={"sessionId": session, "message": text, "stream": stream},
                          timeout=10)
    assert response.status_code == 200, response.text
    return None if stream else response.json()["message"]


@pytest.fixture
def watched(browser: Browser, hostile: tuple[Deployment, str]) -> Iterator[tuple[Page, list[str], list[str]]]:
    site, _ = hostile
    context = browser.new_context(base_url=site.url, bypass_csp=True)
    foreign: list[str] = []
    dialogs: list[str] = []

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.fallback()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/admin/login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    yield page, foreign, dialogs
    context.close()


def assert_inert(page: Page, foreign: list[str], dialogs: list[str]) -> None:
    page.wait_for_timeout(300)  # time for any load or error handler to fire
    assert page.evaluate(AUDIT, sorted(ALLOWED)) == []
    assert page.evaluate("window.__xss") is None and page.evaluate("window.parent.__xss") is None
    assert dialogs == [] and foreign == []


def test_conversation_list_pages(watched, hostile):
    page, foreign, dialogs = watched
    page.goto("/admin/conversations")
    shown = 0
    while True:
        assert_inert(page, foreign, dialogs)
        shown += page.locator("a.title").count()
        if page.locator("a.next").count() == 0:
            break
        page.click("a.next")
    assert shown == len(PAYLOADS) + 1


def test_transcript_of_every_payload_as_question_answer_and_comment(watched, hostile):
    page, foreign, dialogs = watched
    _, session = hostile
    page.goto(f"/admin/conversations/{session}")
    assert_inert(page, foreign, dialogs)
    code = page.locator(".markdown code").all_text_contents()
    assert "<script>window.__xss=1</script>" in code  # the model's code, shown as text
    assert page.locator("dl.details q").count() == len(PAYLOADS)


def test_dashboard_and_search(watched, hostile):
    page, foreign, dialogs = watched
    page.goto("/admin/dashboard")
    assert page.locator("ol.unanswered li").count() >= 5
    assert_inert(page, foreign, dialogs)
    page.goto("/admin/conversations?q=" + "script onerror")
    assert_inert(page, foreign, dialogs)
    page.goto("/admin/conversations?q=%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E"
              "&provider=%22%3E%3Csvg%20onload%3D1%3E")
    assert_inert(page, foreign, dialogs)
    assert json.dumps(page.locator("input[name=q]").input_value()) == json.dumps("<script>window.__xss=1</script>")
