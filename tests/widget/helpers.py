"""Shared pieces of the widget's browser tests."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from playwright.sync_api import Locator, Page, Route, expect

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import load_config
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: F401 (imported from here too)
from tests.support.server import free_port, with_site

ROOT = Path(__file__).resolve().parents[2]


def built_bundle() -> Path:
    """The widget bundle the server serves, rebuilt first if its sources changed (widget/build.py)."""
    spec = importlib.util.spec_from_file_location("widget_build", ROOT / "widget" / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.build()


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
    """The canned provider behind the sample site's pages (served at / as the demo config does)."""
    return with_site(f"""
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
""")


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


@contextlib.contextmanager
def in_process_server(config_toml: str) -> Iterator[str]:
    """A ChatKit app served by uvicorn in a thread of this process, so plugins registered with
    ``pm.register`` in the test are part of it; yields its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chatkit.toml"
        path.write_text(config_toml)
        app = create_app(build_runtime(load_config(path, environ={})))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process ChatKit server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def answer(content: str, **fields) -> dict:
    """An assistant ``Message`` as the API returns it."""
    return {"id": "m1", "role": "assistant", "content": content, "createdAt": "2026-01-01T00:00:00Z",
            "provider": "demo", "model": "demo", "incomplete": False, "truncated": False, "sources": [],
            "feedback": None, **fields}


def event_stream(message: dict, before: list[tuple[str, dict]] = ()) -> str:
    """A Server-Sent Events body answering with ``message``; ``before`` goes ahead of ``start``."""
    events = [*before, ("start", {"messageId": message["id"], "provider": "demo", "model": "demo"}),
              ("delta", {"text": message["content"]}), ("done", {"message": message})]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def scripted(page: Page, messages: list[dict], before: list[tuple[str, dict]] = ()) -> list[dict]:
    """Answer each ``/api/chat`` with a stream ending in the next of ``messages``, and
    ``GET .../messages`` with the conversation so far; returns the chat request bodies."""
    bodies: list[dict] = []
    replies = iter(messages)
    history: list[dict] = []

    def chat(route: Route) -> None:
        body = route.request.post_data_json
        bodies.append(body)
        message = next(replies)
        history.extend([{"id": f"u{len(history)}", "role": "user", "content": body["message"],
                         "createdAt": "2026-01-01T00:00:00Z", "provider": None, "model": None,
                         "incomplete": False, "truncated": False, "sources": [], "feedback": None}, message])
        route.fulfill(status=200, content_type="text/event-stream", body=event_stream(message, before))

    def messages_route(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"sessionId": "s", "messages": history}))

    page.route("**/api/chat", chat)
    page.route("**/api/session/*/messages", messages_route)
    return bodies
