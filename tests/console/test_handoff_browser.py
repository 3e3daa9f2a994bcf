"""Talking to a person, the operator's side, in headless Chromium against a real server: the live
list, claiming, the transcript, replies that reach the visitor's stream, a second operator kept
out, the audit, and handing back."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.helpers import ADMIN, TOKEN
from tests.core.conftest import CANNED
from tests.handoff.sse import Listener
from tests.support.server import running_server

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="document.title=\'owned\'"> Can a person help?'


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("handoff") / "chat.db"
    config = (CANNED + f'[sessions]\nstore = "sqlite"\nurl = "sqlite:///{database}"\n' + ADMIN
              + "[handoff]\nenabled = true\nheartbeat = 0.5\n")
    with running_server(config) as url:
        yield url


def operator(browser: Browser, url: str, name: str) -> Page:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.violations = []  # type: ignore[attr-defined]
    page.on("console", lambda message: "Content Security Policy" in message.text and page.violations.append(message))
    page.goto("/admin/login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.goto("/admin/handoffs")
    page.fill("#operator-name", name)
    page.fill("#operator-locale", "en")
    page.click("#operator-settings button[type=submit]")
    expect(page.locator("#settings-saved")).to_have_text("Saved.")
    return page


def test_an_operator_claims_replies_live_and_hands_back(browser: Browser, server: str):
    alice = operator(browser, server, "Alice")
    visitor = httpx.Client(base_url=server, timeout=10)
    session = visitor.post("/api/create-session").json()["sessionId"]
    asked = visitor.post(f"/api/session/{session}/handoff", json={"message": XSS, "locale": "en"}).json()
    cid = asked["handoff"]["conversationId"]
    row = alice.locator(f"tr[data-conversation='{cid}']")
    expect(row).to_contain_text("waiting")  # the list is live: no reload
    expect(row.locator(".note")).to_contain_text("Can a person help?")  # the markup was cleaned away on input
    assert alice.locator("main img").count() == 0

    row.locator("button.claim").click()
    expect(alice).to_have_url(re.compile(rf"/admin/handoffs/{cid}$"))
    expect(alice.locator("#state")).to_have_text("active")
    expect(alice.locator("#holder")).to_have_text("held by Alice")
    expect(alice.locator("#transcript li.user pre")).to_contain_text("Can a person help?")
    assert alice.locator("#transcript img").count() == 0 and alice.title() != "owned"
    expect(alice.locator("#live")).to_have_text("live")

    stream = Listener(f"{server}/api/session/{session}/events", {"Last-Event-ID": "0"})
    try:
        alice.fill("#reply-text", "Hello, I am Alice. How can I help?")
        alice.click("#reply button[type=submit]")
        clicked = time.monotonic()
        assert stream.wait_for(lambda events: any(e.event == "message" for e in events), 5)
        arrived = next(e for e in stream.events if e.event == "message")
        assert arrived.at - clicked < 1.0
        assert json.loads(arrived.data)["message"] == {**json.loads(arrived.data)["message"], "role": "operator",
                                                       "content": "Hello, I am Alice. How can I help?"}

        held = visitor.post("/api/chat", json={"sessionId": session, "message": "My order is late."})
        assert held.status_code == 202
        expect(alice.locator("#transcript li.user pre").last).to_have_text("My order is late.")

        bob = operator(browser, server, "Bob")
        bob.goto(f"/admin/handoffs/{cid}")
        expect(bob.locator("#holder")).to_have_text("held by Alice")
        expect(bob.locator("#reply")).to_be_hidden()
        expect(bob.locator("#claim")).to_be_hidden()
        expect(bob.locator("#hand-back")).to_be_hidden()

        alice.click("#hand-back")
        expect(alice.locator("#state")).to_have_text("closed")
        expect(alice.locator("#reply")).to_be_hidden()
        audit = alice.locator("#audit li")
        expect(audit).to_have_count(3)
        expect(audit.nth(1)).to_contain_text("Alice claimed the conversation")
        expect(audit.nth(2)).to_contain_text("Alice handed the conversation back to the assistant")
        expect(bob.locator("#state")).to_have_text("closed")  # Bob's page follows live too
        assert stream.wait_for(lambda events: any('"state":"closed"' in e.data for e in events), 5)
    finally:
        stream.close()
    resumed = visitor.post("/api/chat", json={"sessionId": session, "message": "Thanks"})
    assert resumed.status_code == 200 and resumed.json()["message"]["role"] == "assistant"
    assert alice.violations == [] and bob.violations == []  # type: ignore[attr-defined]
    alice.context.close()
    bob.context.close()


def test_the_handoff_pages_need_a_sign_in(browser: Browser, server: str):
    context = browser.new_context(base_url=server)
    page = context.new_page()
    page.goto("/admin/handoffs")
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    assert page.request.get("/admin/api/handoffs").status == 401
    context.close()


def test_a_closed_stream_gives_its_place_back(server: str):
    visitor = httpx.Client(base_url=server, timeout=10)
    session = visitor.post("/api/create-session").json()["sessionId"]
    visitor.post(f"/api/session/{session}/handoff")
    url = f"{server}/api/session/{session}/events"
    first = [Listener(url) for _ in range(3)]  # max_streams_per_session
    assert all(listener.wait_for(lambda events: len(events) > 0) for listener in first)
    assert visitor.get(f"/api/session/{session}/events").status_code == 429
    for listener in first:
        listener.close()
    for _ in range(50):  # the server notices each client leaving at its next write (a heartbeat)
        time.sleep(0.1)
        with visitor.stream("GET", f"/api/session/{session}/events") as response:
            if response.status_code == 200:
                return
    raise AssertionError("the closed streams still hold their places")
