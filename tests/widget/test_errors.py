"""Failures a visitor can meet, each shown as a readable, localized message with a retry button."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import free_port, running_server, with_site
from tests.widget.helpers import Chat, blank_page, init, quoted, server_config

pytestmark = pytest.mark.browser

LIMITED = server_config(extra="""
[server]
max_message_chars = 60

[rate_limit]
type = "limits"
storage = "memory://"
strategy = "fixed-window"
per_ip = ["1000/minute"]
per_session = ["2/2 seconds"]
""")

DOWN = with_site(f"""
[chain]
order = ["local"]
retries = 0

[providers.local]
type = "ollama"
base_url = "http://127.0.0.1:{free_port()}"
timeout = 2

[logging]
level = "warning"
""")


@pytest.fixture(scope="module")
def limited_url() -> Iterator[str]:
    with running_server(LIMITED) as url:
        yield url


@pytest.fixture(scope="module")
def down_url() -> Iterator[str]:
    with running_server(DOWN) as url:
        yield url


def start(page: Page, url: str, **options) -> Chat:
    blank_page(page, url + "/examples/")
    init(page, endpoint="", **options)
    page.evaluate("window.errors = []; chats[0].on('error', e => errors.push(e.code)); chats[0].open()")
    return Chat(page)


def test_unavailable_providers_show_a_localized_message(page: Page, down_url: str) -> None:
    chat = start(page, down_url, locale="es-MX")
    chat.send("¿Tienen pan de centeno?")
    expect(chat.error).to_contain_text("El asistente no está disponible en este momento.")
    expect(chat.error.locator("button")).to_have_text("Reintentar")
    expect(chat.error).to_have_attribute("role", "alert")
    assert page.evaluate("errors") == ["providers_unavailable"]
    chat.error.locator("button").click()
    expect(chat.error).to_have_count(1)
    expect(chat.user).to_have_count(1)
    assert page.evaluate("errors") == ["providers_unavailable"] * 2


def test_network_failure_then_retry_succeeds(page: Page) -> None:
    chat = start(page, "", locale="fr")
    page.route("**/api/chat", lambda route: route.abort())
    chat.send("Avez-vous des croissants ?")
    expect(chat.error).to_contain_text("Impossible de joindre le service de chat.")
    page.unroute("**/api/chat")
    chat.error.locator("button").click()
    expect(chat.error).to_have_count(0)
    expect(chat.assistant.last.locator(".body")).to_have_text(quoted("Avez-vous des croissants ?"))
    expect(chat.user).to_have_count(1)


def test_rate_limit_names_the_wait_and_retry_waits_for_it(page: Page, limited_url: str) -> None:
    chat = start(page, limited_url)
    chat.ask("one")
    chat.ask("two")
    chat.send("three")
    expect(chat.error).to_contain_text(re.compile(r"Too many messages\. Please try again in [12] seconds?\."))
    retry = chat.error.locator("button")
    expect(retry).to_be_disabled()
    assert page.evaluate("errors") == ["rate_limited"]
    expect(retry).to_be_enabled(timeout=5_000)
    retry.click()
    expect(chat.error).to_have_count(0)
    expect(chat.assistant.last.locator(".body")).to_have_text(quoted("three"))


def test_message_too_long_is_explained(page: Page, limited_url: str) -> None:
    chat = start(page, limited_url, locale="de", strings={"retry": "Nochmal"})
    chat.send("x" * 100)
    expect(chat.error).to_contain_text("Die Nachricht ist zu lang.")
    expect(chat.error.locator("button")).to_have_text("Nochmal")
    assert page.evaluate("errors") == ["message_too_long"]
