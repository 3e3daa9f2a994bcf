"""The console in headless Chromium, against a real server fed by the fake upstreams."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.helpers import TOKEN
from tests.console.seed import Deployment, deployment, seed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("console")) as running:
        seed(running)
        yield running


@pytest.fixture
def page(browser: Browser, site: Deployment) -> Iterator[Page]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page: Page) -> None:
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Conversations")


def titles(page: Page) -> list[str]:
    return page.locator("a.title").all_inner_texts()


def test_sign_in_list_search_and_filters(page: Page, site: Deployment):
    page.goto("/admin/login")
    page.fill("#token", "not the token at all")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not right")
    sign_in(page)
    assert titles(page)[:4] == ["When is the sourdough ready?", "Tell me about pricing", "Do you ship to Canada?",
                                "What are your opening hours?"]
    page.fill("input[name=q]", "canada")
    page.click("button:has-text('Filter')")
    assert titles(page) == ["Do you ship to Canada?"]
    page.fill("input[name=q]", "")
    for box, expected in (("down", "What are your opening hours?"), ("fell_back", "Do you ship to Canada?"),
                          ("incomplete", "Tell me about pricing")):
        page.goto("/admin/conversations")
        page.check(f"input[name={box}]")
        page.click("button:has-text('Filter')")
        assert titles(page) == [expected], box
    page.goto("/admin/conversations")
    page.select_option("select[name=provider]", "cloud")
    page.click("button:has-text('Filter')")
    assert titles(page) == ["Do you ship to Canada?"]
    page.goto("/admin/conversations")
    page.fill("input[name=since]", "2999-01-01")
    page.click("button:has-text('Filter')")
    expect(page.locator(".empty")).to_have_text("No conversations match.")


def test_pages_follow_the_cursor(page: Page, site: Deployment):
    for index in range(55):
        site.chat(f"Paging question {index}")
    sign_in(page)
    page.goto("/admin/conversations?q=paging")
    first = titles(page)
    assert len(first) == 50 and first[0] == "Paging question 54"
    page.click("a.next")
    assert titles(page) == [f"Paging question {index}" for index in reversed(range(5))]
    expect(page.locator("a.next")).to_have_count(0)


def test_transcript_shows_provider_fallbacks_timings_and_feedback(page: Page, site: Deployment):
    sign_in(page)
    page.goto("/admin/conversations?q=canada")
    page.click("a.title:has-text('Do you ship to Canada?')")
    answer = page.locator("li.message.assistant")
    expect(answer.locator(".content")).to_have_text("Yes, we ship to Canada within a week.")
    details = answer.locator("dl.details")
    expect(details).to_contain_text("cloud (gpt-4o-mini)")
    expect(details).to_contain_text("local:")
    expect(details).to_contain_text("ttftMs=")
    page.goto(f"/admin/conversations/{site.sessions['hours']}")
    expect(page.locator("dl.details")).to_contain_text("thumbs down")
    expect(page.locator("dl.details q")).to_have_text("We asked about Sunday")
    page.goto(f"/admin/conversations/{site.sessions['pricing']}")
    expect(page.locator("dl.details")).to_contain_text("the answer was cut off")


def test_export_one_and_the_filtered_list(page: Page, site: Deployment):
    sign_in(page)
    page.goto(f"/admin/conversations/{site.sessions['canada']}")
    with page.expect_download() as download:
        page.click("a:has-text('Export JSONL')")
    lines = Path(download.value.path()).read_text().splitlines()
    conversation = json.loads(lines[0])
    assert len(lines) == 1 and conversation["id"] == site.sessions["canada"]
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    assert conversation["messages"][1]["fallbacks"][0].startswith("local:")
    page.goto("/admin/conversations?down=1")
    with page.expect_download() as download:
        page.click("a:has-text('Export JSONL')")
    exported = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [c["id"] for c in exported] == [site.sessions["hours"]]
    assert exported[0]["messages"][1]["feedback"] == {"rating": "down", "comment": "We asked about Sunday"}


def test_erase_asks_then_removes_the_conversation(page: Page, site: Deployment):
    session, _ = site.chat("Please forget me")
    sign_in(page)
    page.goto(f"/admin/conversations/{session}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Erase conversation')")
    expect(page.locator("h1")).to_have_text("Conversation")
    assert httpx.get(f"{site.url}/api/session/{session}/messages").status_code == 200
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Erase conversation')")
    expect(page.locator(".notice")).to_have_text("The conversation was erased.")
    assert "Please forget me" not in titles(page)
    assert httpx.get(f"{site.url}/api/session/{session}/messages").status_code == 404


def test_dashboard_renders_with_data(page: Page, site: Deployment):
    sign_in(page)
    page.click("nav >> text=Dashboard")
    expect(page.locator("h1")).to_have_text("Dashboard")
    assert page.locator("svg.columns rect[height]:not([height='0.0'])").count() >= 1
    providers = page.locator("section.card", has_text="Providers")
    expect(providers.locator("tbody tr")).to_have_count(2)
    expect(providers.locator("tbody tr", has_text="local")).to_contain_text("ms")  # a TTFT percentile
    expect(providers.locator("svg.rates rect.bad")).to_have_count(2)
    expect(page.locator(".ratio")).to_have_text("50%")
    expect(page.locator("ol.unanswered")).to_contain_text("tell me about pricing")
    page.click("text=last 7d")
    expect(page.locator("h2", has_text="Chats per day")).to_be_visible()


def test_signed_out_visitor_is_sent_to_sign_in(page: Page, site: Deployment):
    for path in ("/admin/conversations", "//admin/dashboard", f"/admin/conversations/{site.sessions['hours']}"):
        page.goto(site.url + path)
        assert page.locator("text=What are your opening hours?").count() == 0, path
        assert "/admin/login" in page.url or page.locator("#token").count() == 0, path
