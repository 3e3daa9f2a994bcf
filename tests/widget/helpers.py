"""Shared pieces of the widget's browser tests."""

from __future__ import annotations

import json

from playwright.sync_api import Locator, Page, expect

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: F401 (imported from here too)

# What the canned provider answers when it has no prepared replies.
QUOTE_TAIL = ". This is an example reply: no language model is connected yet."


# The browser suite sends many messages from one address; limits get their own tests.
GENEROUS_LIMITS = """
[rate_limit]
type = "limits"
storage = "memory://"
per_ip = ["100000/minute"]
per_session = ["100000/minute"]
"""


def server_config(replies: list[str] | None = None, chunk_chars: int = 8, delay: float = 0.0,
                  extra: str = GENEROUS_LIMITS) -> str:
    return f"""
[chain]
order = ["demo"]

[providers.demo]
type = "canned"
replies = {json.dumps(replies or [])}
chunk_chars = {chunk_chars}
delay = {delay}

[sessions]
store = "memory"

[logging]
level = "warning"
{extra}
"""


def quoted(message: str) -> str:
    return f'You said: "{message}"{QUOTE_TAIL}'


class Chat:
    """One widget on the page, found by its position among the page's widgets."""

    def __init__(self, page: Page, index: int = 0) -> None:
        self.page = page
        self.index = index
        self.host = page.locator(".chatkit-host").nth(index)
        self.launcher = self.host.locator("[part=launcher]")
        self.panel = self.host.locator("[part=panel]")
        self.input = self.host.locator("textarea")
        self.send_button = self.host.locator("[part=send]")
        self.stop_button = self.host.locator("[part=stop]")
        self.assistant = self.host.locator(".msg.assistant:not(.typing)")
        self.user = self.host.locator(".msg.user")
        self.error = self.host.locator("[part=error]")

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def wait_idle(self) -> None:
        expect(self.send_button).to_be_visible()
        expect(self.stop_button).to_be_hidden()

    def ask(self, text: str) -> Locator:
        """Send ``text`` and wait for the whole answer; returns the answer's bubble."""
        count = self.assistant.count()
        self.send(text)
        expect(self.assistant).to_have_count(count + 1)
        self.wait_idle()
        return self.assistant.last

    def focused_part(self) -> str | None:
        return self.page.evaluate(
            "i => document.querySelectorAll('.chatkit-host')[i].shadowRoot.activeElement?.getAttribute('part')",
            self.index)


def blank_page(page: Page, path: str = "/examples/") -> None:
    """A served page without a widget, with the widget script loaded (CSP allows only 'self')."""
    page.goto(path)
    page.add_script_tag(url="/widget/chatkit.js")


def init(page: Page, **options) -> None:
    """``ChatKit.init(options)`` on the page; the handle is kept as ``window.chats[n]``."""
    page.evaluate("o => (window.chats ||= []).push(ChatKit.init(o))", options)
