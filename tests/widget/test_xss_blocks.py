"""The XSS corpus inside table cells, blockquotes and nested lists stays as inert as in paragraphs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chatkit_core.builtins.sanitizer import clean_markup
from tests.support.server import running_server
from tests.widget.helpers import Chat, answer, blank_page, init, scripted, server_config
from tests.widget.test_xss import PAYLOADS, assert_inert

pytestmark = pytest.mark.browser


def in_blocks(payload: str) -> str:
    """``payload`` in a table header and cell, a (nested) quote, and a list item's nested table."""
    flat = payload.replace("\n", " ").replace("|", "\\|")
    quoted = payload.replace("\n", "\n> ")
    return (f"| {flat} | b |\n|:--|--:|\n| {flat} | {flat} |\n\n> {quoted}\n> > {flat}\n\n"
            f"1. item\n   - {flat}\n     > {flat}\n\n   | h |\n   |---|\n   | {flat} |\n")


ANSWERS = [in_blocks(payload) for payload in PAYLOADS]


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    with running_server(server_config(replies=ANSWERS, chunk_chars=7)) as url:
        yield url


@pytest.fixture
def context_options() -> dict:
    return {"bypass_csp": True}


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    opened: list[str] = []

    def dismiss(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


SEND_ALL = "async n => { chats[0].open(); for (let i = 0; i < n; i++) await chats[0].sendMessage('q' + i); }"


def test_hostile_tables_and_quotes_from_the_server_stay_inert(
        page: Page, hostile_url: str, dialogs: list[str], foreign_requests: list[str]) -> None:
    blank_page(page, hostile_url + "/examples/")
    init(page, endpoint="")
    page.evaluate(SEND_ALL, len(ANSWERS))
    chat = Chat(page)
    expect(chat.assistant).to_have_count(len(ANSWERS) + 1)
    expect(chat.error).to_have_count(0)
    # The server drops everything after an unclosed tag; every other answer is still a table.
    tables = sum(1 for text in ANSWERS if "|:--|--:|" in clean_markup(text))
    assert tables > len(ANSWERS) * 0.9
    assert chat.host.locator(".msg > .body > div.table > table").count() == tables
    assert_inert(page, dialogs, foreign_requests)
    page.reload()
    blank_page(page, hostile_url + "/examples/")
    init(page, endpoint="")
    expect(chat.assistant).to_have_count(len(ANSWERS) + 1)
    assert_inert(page, dialogs, foreign_requests)


def test_unescaped_hostile_tables_and_quotes_stay_inert(
        page: Page, dialogs: list[str], foreign_requests: list[str]) -> None:
    """The renderer alone, fed the payloads without the server's escaping."""
    scripted(page, [answer(text) for text in ANSWERS])
    blank_page(page)
    init(page, endpoint="")
    page.evaluate(SEND_ALL, len(ANSWERS))
    chat = Chat(page)
    expect(chat.assistant).to_have_count(len(ANSWERS) + 1)
    expect(chat.assistant.nth(1).locator("blockquote").first).to_contain_text(PAYLOADS[0])
    # Every answer really became a table, a nested quote and a nested list.
    assert chat.host.locator(".msg > .body > div.table > table").count() == len(ANSWERS)
    assert chat.host.locator(".msg > .body > blockquote > blockquote").count() == len(ANSWERS)
    assert chat.host.locator(".body > ol > li > ul > li > blockquote").count() == len(ANSWERS)
    assert chat.host.locator(".body > ol > li > .table td").count() == len(ANSWERS)
    assert_inert(page, dialogs, foreign_requests)
    page.reload()
    blank_page(page)
    init(page, endpoint="")
    expect(chat.assistant).to_have_count(len(ANSWERS) + 1)
    assert_inert(page, dialogs, foreign_requests)
