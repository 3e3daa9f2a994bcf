"""Browser fixtures: one Chromium per module, a fresh context per test, a real ChatKit server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.server import running_server
from tests.widget.helpers import built_bundle, server_config

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="session", autouse=True)
def bundle() -> Path:
    """The browser tests drive the built bundle, not the sources: rebuilt here if they changed."""
    return built_bundle()


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """A server whose model quotes the visitor's message back, a few characters at a time."""
    with running_server(server_config(chunk_chars=6, delay=0.02)) as url:
        yield url



@pytest.fixture
def foreign_requests() -> list[str]:
    """URLs the page tried to fetch from anywhere but loopback (all of them refused)."""
    return []


@pytest.fixture
def context_options() -> dict:
    """Extra ``browser.new_context`` options; a module overrides this fixture to change them."""
    return {}


@pytest.fixture
def context(browser: Browser, base_url: str, foreign_requests: list[str],
            context_options: dict) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800}, **context_options)

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.fallback()
        else:
            foreign_requests.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page
