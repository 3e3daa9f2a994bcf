"""A widget on one site talking to a ChatKit server on another origin, through CORS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
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


def embed(page: Page, page_origin: str, api_origin: str, script_origin: str = "") -> Chat:
    page.goto(page_origin + "/examples/")
    page.add_script_tag(url=(script_origin or api_origin) + "/widget/chatkit.js")
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


def chatkit_errors(page: Page) -> list[str]:
    """What the widget logs with console.error (the browser logs its own CORS lines too)."""
    logged: list[str] = []
    page.on("console", lambda m: logged.append(m.text) if m.type == "error" and m.text.startswith("ChatKit") else None)
    return logged


def test_a_refused_origin_is_named_in_the_console_with_the_key_to_change(page: Page, api_port: int) -> None:
    logged = chatkit_errors(page)
    page_origin, api_origin = f"http://127.0.0.1:{api_port}", f"http://localhost:{api_port}"
    chat = embed(page, page_origin, api_origin)
    page.evaluate("window.errors = []; chats[0].on('error', e => errors.push(e.code))")
    chat.send("Anyone there?")
    expect(chat.error).to_contain_text("This website is not allowed to use the chat service.")
    expect(chat.error).not_to_contain_text("connection")
    chat.error.locator("[part=retry]").click()
    expect(chat.error).to_contain_text("not allowed")
    assert page.evaluate("errors") == ["forbidden", "forbidden"]
    assert logged == [f"ChatKit: the chat server {api_origin} refused this page's origin {page_origin}, so the "
                      f'widget cannot reach its API. Add "{page_origin}" to [server] allowed_origins in the '
                      "server's config file (or to ALLOWED_ORIGINS) and restart it."]


def test_an_unreachable_server_is_still_a_connection_problem(page: Page, api_port: int) -> None:
    logged = chatkit_errors(page)
    page_origin = f"http://localhost:{api_port}"
    chat = embed(page, page_origin, f"http://127.0.0.1:{free_port()}", script_origin=page_origin)
    chat.send("Anyone there?")
    expect(chat.error).to_contain_text("Could not reach the chat service.")
    assert logged == []


LOAD = """([src, integrity]) => new Promise((resolve) => {
    const script = Object.assign(document.createElement('script'), {src, integrity, crossOrigin: 'anonymous'});
    script.onload = () => resolve('loaded');
    script.onerror = () => resolve('blocked');
    document.head.append(script);
})"""


def test_the_documented_snippet_with_integrity_loads_the_hashed_file_on_any_page(page: Page, api_port: int) -> None:
    """docs/widget.md's snippet: the hashed name with its SRI value and crossorigin, from another origin
    (here one the API refuses: the file still loads, so the widget can say what to change)."""
    api_origin = f"http://localhost:{api_port}"
    manifest = httpx.get(api_origin + "/widget/manifest.json").json()
    hashed = f"{api_origin}/widget/{manifest['chatkit.js']}"
    page.goto(f"http://127.0.0.1:{api_port}/examples/")
    tampered = manifest["integrity"][:-4] + ("AAAA" if not manifest["integrity"].endswith("AAAA") else "BBBB")
    assert page.evaluate(LOAD, [hashed, tampered]) == "blocked"
    assert page.evaluate("typeof ChatKit") == "undefined"
    assert page.evaluate(LOAD, [hashed, manifest["integrity"]]) == "loaded"
    assert page.evaluate("ChatKit.version") == httpx.get(api_origin + "/health").json()["version"]
