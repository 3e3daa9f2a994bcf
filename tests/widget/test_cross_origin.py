"""A widget on one site talking to a ChatKit server on another origin, through CORS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import free_port, running_server
from tests.widget.helpers import Chat, init, quoted, server_config

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def api_port() -> Iterator[int]:
    """The API on 127.0.0.1; pages on localhost, a different origin, which the server allows."""
    port = free_port()
    extra = f'[server]\nallowed_origins = ["http://localhost:{port}"]\n'
    with running_server(server_config(extra=extra), port=port):
        yield port


@pytest.fixture
def context_options() -> dict:
    # The sample pages only allow their own origin; this page embeds a widget from elsewhere.
    return {"bypass_csp": True}


def embed(page: Page, page_origin: str, api_origin: str) -> Chat:
    page.goto(page_origin + "/examples/")
    page.add_script_tag(url=api_origin + "/widget/chatkit.js")
    init(page, endpoint=api_origin, siteKey="pk_cross_site")
    page.evaluate("chats[0].open()")
    return Chat(page)


def test_allowed_origin_chats_with_a_site_key(page: Page, api_port: int) -> None:
    requests = []
    page.on("request", lambda r: requests.append(r) if "/api/" in r.url and r.method != "OPTIONS" else None)
    chat = embed(page, f"http://localhost:{api_port}", f"http://127.0.0.1:{api_port}")
    answer = chat.ask("Cross-origin hello")
    expect(answer.locator(".body")).to_have_text(quoted("Cross-origin hello"))
    assert requests and all(r.headers.get("x-chatkit-site-key") == "pk_cross_site" for r in requests)


def test_refused_origin_shows_a_readable_error(page: Page, api_port: int) -> None:
    chat = embed(page, f"http://127.0.0.1:{api_port}", f"http://localhost:{api_port}")
    chat.send("Anyone there?")
    expect(chat.error).to_contain_text("Could not reach the chat service.")
