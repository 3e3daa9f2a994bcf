"""The sample site and the widget in Chromium, through nginx and under the edge's CSP."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.deploy.edge import NGINX, running_nginx
from tests.support.server import running_server

playwright = pytest.importorskip("playwright.sync_api")

from tests.support.browser import CHROMIUM  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.nginx,
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (apt-get install nginx-light)"),
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="chromium is not installed"),
]

REPLY = "Our sourdough is baked every morning at six."

CONFIG = f"""
[providers.demo]
type = "canned"
replies = ["{REPLY}"]
chunk_chars = 6
delay = 0.03
"""

# Resolves with the first assistant message, or rejects with the widget's error.
ASK = """async (text) => {
  const chat = ChatKit.instances[0];
  await new Promise((resolve) => chat.on('ready', resolve));
  return await new Promise((resolve, reject) => {
    let deltas = 0;
    chat.on('delta', () => { deltas += 1; });
    chat.on('message', (m) => { if (m.role === 'assistant') resolve({content: m.content, deltas}); });
    chat.on('error', (e) => reject(new Error(`${e.code}: ${e.message}`)));
    chat.sendMessage(text);
  });
}"""

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture(scope="module")
def edge() -> Iterator[str]:
    with running_server(CONFIG) as backend, running_nginx(backend.removeprefix("http://")) as url:
        yield url



@pytest.fixture
def page(browser, edge: str):
    context = browser.new_context(base_url=edge)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.mark.parametrize("path", ["/", "/examples/csp.html"])
def test_the_widget_chats_under_the_edge_policy(page, path: str):
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    response = page.goto(path)
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_function("window.ChatKit && ChatKit.instances.length > 0")
    answer = page.evaluate(ASK, "When is the bread baked?")
    assert answer["content"] == REPLY
    assert answer["deltas"] > 1  # streamed through nginx, not delivered in one piece
    assert page.evaluate("window.__violations") == []
    assert console_errors == []
