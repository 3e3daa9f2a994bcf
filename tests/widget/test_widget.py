"""The widget against a real server: opening, streaming, stopping, history and sessions."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.widget.helpers import Chat, blank_page, init, quoted

pytestmark = pytest.mark.browser


def test_launcher_opens_a_labelled_dialog_and_focuses_the_input(page: Page) -> None:
    page.goto("/")
    chat = Chat(page)
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_have_attribute("aria-expanded", "false")
    chat.launcher.click()
    expect(chat.panel).to_be_visible()
    expect(chat.panel).to_have_attribute("role", "dialog")
    expect(chat.panel).to_have_attribute("aria-modal", "true")
    expect(chat.panel).to_have_attribute("aria-label", "Ask Crumb & Crust")
    expect(chat.launcher).to_have_attribute("aria-expanded", "true")
    assert chat.focused_part() == "input"
    expect(chat.assistant.first).to_contain_text("Ask me about today")


def test_answer_streams_in_delta_by_delta(page: Page) -> None:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    # Record every state the answer bubble goes through, and whether the typing dots came first.
    page.evaluate("""() => {
        const root = document.querySelector('.chatkit-host').shadowRoot;
        window.states = []; window.typingFirst = null;
        new MutationObserver(() => {
            const bubbles = root.querySelectorAll('.msg.assistant:not(.typing) .body');
            if (window.typingFirst === null && root.querySelector('.typing')) window.typingFirst = bubbles.length === 1;
            if (bubbles.length > 1) window.states.push(bubbles[bubbles.length - 1].textContent);
        }).observe(root, {subtree: true, childList: true, characterData: true});
    }""")
    message = "Do you bake rye bread on Saturdays?"
    answer = chat.ask(message)
    expect(answer).to_have_text("Assistant: " + quoted(message))
    states = [s for s in dict.fromkeys(page.evaluate("window.states")) if s]
    assert len(states) >= 5, states
    assert all(quoted(message).startswith(s) for s in states)
    assert page.evaluate("window.typingFirst") is True
    expect(chat.user.last).to_have_text("You: " + message)
    expect(page.locator(".chatkit-host [aria-live=polite]")).to_have_text(quoted(message))


def test_stop_keeps_the_partial_answer_marked_interrupted(page: Page, base_url: str) -> None:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    message = "Please tell me everything about your croissants " * 3
    chat.send(message)
    expect(chat.assistant).to_have_count(2)
    expect(chat.stop_button).to_be_visible()
    chat.stop_button.click()
    chat.wait_idle()
    partial = chat.assistant.last
    expect(partial.locator(".note")).to_have_text("(answer interrupted)")
    text = partial.locator(".body").text_content()
    page.wait_for_timeout(300)
    assert partial.locator(".body").text_content() == text
    assert len(text) < len(quoted(message.strip()))
    # The server kept the partial answer as incomplete; the restored history says so too.
    page.wait_for_timeout(300)
    page.reload()
    Chat(page).launcher.click()
    expect(Chat(page).assistant.last.locator(".note")).to_have_text("(answer interrupted)")


def test_reload_restores_the_conversation(page: Page) -> None:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    chat.ask("What time do you open?")
    chat.ask("And on Sunday?")
    page.reload()
    chat = Chat(page)
    chat.launcher.click()
    expect(chat.user).to_have_text(["You: What time do you open?", "You: And on Sunday?"])
    expect(chat.assistant).to_have_count(3)
    expect(chat.assistant.last).to_have_text("Assistant: " + quoted("And on Sunday?"))


def test_escaped_text_from_the_api_is_shown_as_characters(page: Page) -> None:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    message = "Fish & chips? 5 > 3, \"quoted\" and it's fine"
    answer = chat.ask(message)
    expect(answer.locator(".body")).to_have_text(quoted(message))
    page.reload()
    chat = Chat(page)
    chat.launcher.click()
    expect(chat.user.last).to_have_text("You: " + message)
    expect(chat.assistant.last.locator(".body")).to_have_text(quoted(message))


def test_expired_session_starts_a_new_one_silently(page: Page) -> None:
    page.goto("/")
    page.evaluate("k => localStorage.setItem(k, 'expired-session-id-0000000000000000')", session_key(page))
    created = []
    page.on("request", lambda r: created.append(r.url) if r.url.endswith("/api/create-session") else None)
    page.reload()
    chat = Chat(page)
    chat.launcher.click()
    expect(chat.assistant).to_have_count(1)
    expect(chat.error).to_have_count(0)
    chat.ask("Hello again")
    expect(chat.error).to_have_count(0)
    assert len(created) == 1
    assert page.evaluate("k => localStorage.getItem(k)", session_key(page)) != "expired-session-id-0000000000000000"


def test_new_conversation_erases_the_session_of_a_single_thread(page: Page, base_url: str) -> None:
    page.goto("/examples/single.html")
    chat = Chat(page)
    chat.launcher.click()
    chat.ask("Remember my order")
    old = page.evaluate("k => localStorage.getItem(k)", session_key(page))
    with page.expect_request(lambda r: r.method == "DELETE") as deleted:
        chat.host.locator("[part=new-chat]").click()
    assert deleted.value.url.endswith(f"/api/session/{old}")
    expect(chat.user).to_have_count(0)
    expect(chat.assistant).to_have_count(1)
    page.wait_for_timeout(200)
    assert httpx.get(f"{base_url}/api/session/{old}/messages").status_code == 404
    chat.ask("A fresh start")
    page.reload()
    chat = Chat(page)
    chat.launcher.click()
    expect(chat.user).to_have_text(["You: A fresh start"])


def test_markdown_subset_renders_as_elements(page: Page) -> None:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    message = ('x"\n\n**bold** and _italic_ and `code` and [menu](https://example.com/menu) '
               "and [bad](javascript:void(0))\n\n- one\n- two\n\n1. first\n2. second\n\n```\nfenced & raw\n```\n\n\"")
    body = chat.ask(message).locator(".body")
    expect(body.locator("strong")).to_have_text("bold")
    expect(body.locator("em")).to_have_text("italic")
    expect(body.locator(":scope > p code")).to_have_text("code")
    expect(body.locator("ul > li")).to_have_text(["one", "two"])
    expect(body.locator("ol > li")).to_have_text(["first", "second"])
    expect(body.locator("pre > code")).to_have_text("fenced & raw")
    link = body.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/menu")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(body).to_contain_text("and bad")


def test_javascript_api_methods_and_events(page: Page) -> None:
    page.goto("/examples/")
    globals_before = set(page.evaluate("Object.keys(window)"))
    page.add_script_tag(url="/widget/chatkit.js")
    init(page, endpoint="", title="API test")
    page.evaluate("""() => {
        window.seen = [];
        for (const name of ['ready', 'open', 'close', 'message', 'delta', 'error'])
            chats[0].on(name, d => seen.push(name + (d && d.role ? ':' + d.role : '')));
    }""")
    expect(page.locator(".chatkit-host")).to_have_count(1)
    page.evaluate("chats[0].open()")
    page.evaluate("chats[0].close()")
    page.evaluate("chats[0].toggle()")
    page.evaluate("chats[0].sendMessage('Via the API')")
    seen = page.evaluate("seen")
    assert seen[:4] == ["ready", "open", "close", "open"]
    assert seen[4] == "message:user" and seen[-1] == "message:assistant"
    assert seen.count("delta") >= 2
    page.evaluate("chats[0].clear()")
    expect(Chat(page).user).to_have_count(0)
    handler_count = page.evaluate("""() => { let n = 0; const f = () => n++; chats[0].on('open', f).off('open', f);
        chats[0].close(); chats[0].open(); return n }""")
    assert handler_count == 0
    page.evaluate("chats[0].destroy()")
    expect(page.locator(".chatkit-host")).to_have_count(0)
    globals_after = set(page.evaluate("Object.keys(window)")) - {"chats", "seen"}
    assert sorted(globals_after - globals_before) == ["ChatKit"]


def test_site_key_is_sent_on_every_api_request(page: Page) -> None:
    blank_page(page)
    requests = []
    page.on("request", lambda r: requests.append(r) if "/api/" in r.url else None)
    init(page, endpoint="", siteKey="pk_live_bakery")
    page.evaluate("chats[0].open()")
    page.evaluate("chats[0].sendMessage('Key check')")
    page.reload()
    blank_page(page)
    init(page, endpoint="", siteKey="pk_live_bakery")
    page.evaluate("chats[0].clear()")
    page.wait_for_timeout(200)
    routes = {r.method + " " + r.url.split("/api/")[1].split("/")[0] for r in requests}
    assert routes == {"GET uploads", "POST create-session", "POST chat", "GET session", "DELETE session"}
    assert all(r.headers.get("x-chatkit-site-key") == "pk_live_bakery" for r in requests)


def session_key(page: Page) -> str:
    return page.evaluate("() => Object.keys(localStorage).find(k => k.startsWith('chatkit:session:')) || "
                         "'chatkit:session:' + location.origin + '/'")


def test_session_expiring_mid_conversation_is_replaced_silently(page: Page, base_url: str) -> None:
    page.goto("/")
    chat = Chat(page)
    chat.launcher.click()
    chat.ask("First question")
    old = page.evaluate("k => localStorage.getItem(k)", session_key(page))
    assert httpx.delete(f"{base_url}/api/session/{old}").status_code == 204
    answer = chat.ask("Second question")
    expect(answer.locator(".body")).to_have_text(quoted("Second question"))
    expect(chat.error).to_have_count(0)
    assert page.evaluate("k => localStorage.getItem(k)", session_key(page)) not in (None, old)
