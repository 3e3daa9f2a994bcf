"""The console's pages, rendered and saved as pictures.

With CHATKIT_SCREENSHOTS=1 the pictures replace docs/img/console-*.png; otherwise they go to a
temporary folder, and the test still checks every page renders.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.console.helpers import TOKEN
from tests.console.seed import deployment
from tests.fakes.server import Script

pytestmark = pytest.mark.browser

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

# (question, answer, what goes wrong, rating)
CHATS = [
    ("Do you have sourdough today?", "Yes, the country sourdough comes out at 7:00, 11:00 and 15:00.", None, "up"),
    ("How early should I order a birthday cake?", "We need 72 hours' notice for most celebration cakes.", None, None),
    ("Do you deliver to Lyon?", "I could not find delivery areas on this site.", None, "down"),
    ("Is the rye loaf wheat-free?", "The rye and seed loaf is made without wheat flour.", "fallback", None),
    ("Can I pay by invoice?", "For wholesale orders we can send an invoice at the end of", "cut", None),
    ("Are you open on Sunday?", "We open on Sundays from 8:00 to 13:00.", None, "up"),
    ("Do you have vegan croissants?", "Not yet; our vegan range is the cardamom bun and the rye loaf.", None, None),
]


def test_console_pages(browser: Browser, tmp_path_factory):
    folder = DOCS_IMG if os.environ.get("CHATKIT_SCREENSHOTS") else tmp_path_factory.mktemp("shots")
    with deployment(tmp_path_factory.mktemp("screens")) as site:
        sessions = []
        for question, answer, trouble, rating in CHATS:
            if trouble == "fallback":
                site.local.script(Script(status=503))
                site.cloud.script(Script(text=answer, first_chunk_delay=0.2))
            elif trouble == "cut":
                site.local.script(Script(text=answer + " the month.", fault="cut", after=8))
            else:
                site.local.script(Script(text=answer, first_chunk_delay=0.05))
            session, message = site.chat(question, stream=trouble == "cut")
            sessions.append(session)
            if rating:
                comment = "It does not say which areas." if rating == "down" else ""
                httpx.post(f"{site.url}/api/session/{session}/messages/{message['id']}/feedback",
                           json={"rating": rating, "comment": comment})
        context = browser.new_context(base_url=site.url, viewport={"width": 1200, "height": 760})
        page = context.new_page()
        page.goto("/admin/login")
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        expect(page.locator("a.title")).to_have_count(len(CHATS))
        page.screenshot(path=str(folder / "console-list.png"), full_page=True)
        page.goto(f"/admin/conversations/{sessions[3]}")
        expect(page.locator("dl.details")).to_contain_text("local:")
        page.screenshot(path=str(folder / "console-transcript.png"), full_page=True)
        page.goto("/admin/dashboard")
        expect(page.locator(".ratio")).to_have_text("67%")
        page.screenshot(path=str(folder / "console-dashboard.png"), full_page=True)
        context.close()
    for name in ("console-list.png", "console-transcript.png", "console-dashboard.png"):
        assert (folder / name).stat().st_size > 10_000, name
