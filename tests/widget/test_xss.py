"""Hostile model output never runs script, loads remote content or leaves the widget's markup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.server import running_server
from tests.widget.helpers import Chat, blank_page, init, server_config

pytestmark = pytest.mark.browser

PAYLOADS = [line.replace("\\n", "\n") for line in (Path(__file__).parent / "xss_payloads.txt").read_text().splitlines()
            if line and not line.startswith("# ")]

# Everything that may exist in a shadow root: the widget's own elements (INPUT: the attach button's file
# input) and the markdown subset.
ALLOWED_TAGS = {"DIV", "SPAN", "BUTTON", "H2", "FORM", "TEXTAREA", "INPUT", "svg", "path", "P", "BR", "STRONG", "EM",
                "CODE", "PRE", "UL", "OL", "LI", "A", "I", "STYLE", "BLOCKQUOTE", "TABLE", "THEAD", "TBODY", "TR",
                "TH", "TD"}

AUDIT = """() => {
    const problems = [];
    for (const host of document.querySelectorAll('.chatkit-host')) {
        for (const node of host.shadowRoot.querySelectorAll('*')) {
            if (!ALLOWED.includes(node.tagName)) problems.push('element ' + node.tagName);
            if (node.tagName === 'INPUT' && (node.type !== 'file' || node.closest('.msg')))
                problems.push('input ' + node.type);
            for (const attr of node.attributes) {
                // The widget sizes its own panel and input through CSSOM; messages never carry styles.
                const styled = attr.name === 'style' && node.closest('.msg');
                if (/^on/i.test(attr.name) || styled || attr.name === 'src' || attr.name === 'srcdoc')
                    problems.push(node.tagName + ' ' + attr.name + '=' + attr.value);
            }
            if (node.tagName === 'A') {
                const href = node.getAttribute('href');
                if (!/^(https?:|mailto:)/.test(href)) problems.push('href ' + href);
                if (node.target !== '_blank' || node.rel !== 'noopener noreferrer') problems.push('link ' + node.href);
            }
        }
    }
    return problems;
}"""


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    """A server whose model answers with the payloads, one per message, in order."""
    with running_server(server_config(replies=PAYLOADS, chunk_chars=5)) as url:
        yield url


@pytest.fixture
def context_options() -> dict:
    # The demo pages' own CSP would block inline handlers and hide a rendering flaw; switch it off.
    return {"bypass_csp": True}


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    opened: list[str] = []

    def dismiss(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def audit(page: Page) -> list[str]:
    page.wait_for_timeout(300)  # time for any load or error handler to fire
    return page.evaluate(AUDIT.replace("ALLOWED", json.dumps(sorted(ALLOWED_TAGS))))


def assert_inert(page: Page, dialogs: list[str], foreign_requests: list[str]) -> None:
    assert audit(page) == []
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert foreign_requests == []


def test_corpus_has_about_a_hundred_payloads() -> None:
    assert len(PAYLOADS) >= 100


def test_the_canary_would_notice_a_script_running(page: Page) -> None:
    page.goto("/examples/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=x onerror=window.__xss=1>')")
    expect(page.locator("img")).to_have_count(1)
    page.wait_for_function("window.__xss === 1")


def test_hostile_answers_from_the_server_stay_inert(
        page: Page, hostile_url: str, dialogs: list[str], foreign_requests: list[str]) -> None:
    blank_page(page, hostile_url + "/examples/")
    init(page, endpoint="")
    page.evaluate("async n => { chats[0].open(); for (let i = 0; i < n; i++) await chats[0].sendMessage('q' + i); }",
                  len(PAYLOADS))
    chat = Chat(page)
    expect(chat.assistant).to_have_count(len(PAYLOADS) + 1)
    expect(chat.error).to_have_count(0)
    assert_inert(page, dialogs, foreign_requests)
    # The same answers again, this time restored from the stored history.
    page.reload()
    blank_page(page, hostile_url + "/examples/")
    init(page, endpoint="")
    expect(chat.assistant).to_have_count(len(PAYLOADS) + 1)
    assert_inert(page, dialogs, foreign_requests)


def test_raw_html_is_inert_even_if_the_server_did_not_escape_it(
        page: Page, dialogs: list[str], foreign_requests: list[str]) -> None:
    """The renderer alone, fed unescaped payloads as deltas, final message and history."""
    answers = iter(PAYLOADS)

    def hostile_stream(route: Route) -> None:
        text = next(answers)
        message = {"id": "m", "role": "assistant", "content": text, "createdAt": "2026-01-01T00:00:00Z",
                   "provider": "evil", "model": "evil"}
        events = [("start", {"messageId": "m", "provider": "evil", "model": "evil"})]
        events += [("delta", {"text": text[i:i + 3]}) for i in range(0, len(text), 3)]
        events.append(("done", {"message": message}))
        body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        route.fulfill(status=200, content_type="text/event-stream", body=body)

    def hostile_history(route: Route) -> None:
        messages = [{"id": str(i), "role": role, "content": text, "createdAt": "2026-01-01T00:00:00Z",
                     "provider": None, "model": None}
                    for i, text in enumerate(PAYLOADS) for role in ("user", "assistant")]
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"sessionId": "s", "messages": messages}))

    page.route("**/api/chat", hostile_stream)
    page.route("**/api/session/*/messages", hostile_history)
    blank_page(page)
    init(page, endpoint="")
    page.evaluate("async n => { chats[0].open(); for (let i = 0; i < n; i++) await chats[0].sendMessage('q' + i); }",
                  len(PAYLOADS))
    chat = Chat(page)
    expect(chat.assistant).to_have_count(len(PAYLOADS) + 1)
    expect(chat.assistant.nth(1).locator(".body")).to_have_text(PAYLOADS[0])
    assert_inert(page, dialogs, foreign_requests)
    page.reload()
    blank_page(page)
    init(page, endpoint="")
    expect(chat.user).to_have_count(len(PAYLOADS))
    expect(chat.user.first).to_have_text("You: " + PAYLOADS[0])
    assert_inert(page, dialogs, foreign_requests)
