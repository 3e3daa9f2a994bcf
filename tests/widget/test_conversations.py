"""Several conversations per visitor: the list, switching, starting, deleting, and the opt-out."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.widget.helpers import Chat, blank_page, init, quoted

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__xss=1"> &amp; <b>bold</b>'


class Conversations:
    """The conversations view of the first widget on the page."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.page = chat.page
        self.button = chat.host.locator("[part=conversations]")
        self.view = chat.host.locator("[part=conversation-list]")
        self.items = self.view.locator("li")
        self.titles = self.items.locator(".pick")
        self.new = self.view.locator(".pick", has_text="New conversation").first

    def open(self) -> None:
        self.button.click()
        expect(self.view).to_be_visible()

    def delete(self, title: str) -> None:
        self.view.locator(f"li button[aria-label='Delete conversation: {title}']").click()

    def stored(self) -> list[dict]:
        return self.page.evaluate("""() => JSON.parse(localStorage.getItem(
            Object.keys(localStorage).find(k => k.startsWith('chatkit:conversations:'))) || '[]')""")

    def current(self) -> str | None:
        return self.page.evaluate(
            "() => localStorage.getItem(Object.keys(localStorage).find(k => k.startsWith('chatkit:session:')))")


def open_widget(page: Page, **options) -> tuple[Chat, Conversations]:
    blank_page(page)
    init(page, endpoint="", **options)
    page.evaluate("chats[0].open()")
    return Chat(page), Conversations(Chat(page))


def history(base_url: str, sid: str) -> httpx.Response:
    return httpx.get(f"{base_url}/api/session/{sid}/messages")


def test_start_switch_and_restore_conversations(page: Page, base_url: str) -> None:
    chat, convs = open_widget(page)
    expect(convs.button).to_have_attribute("aria-label", "Conversations")
    expect(convs.button).to_have_attribute("aria-expanded", "false")
    chat.ask("  When do you open?  ")
    first = convs.current()
    chat.host.locator("[part=new-chat]").click()
    expect(chat.user).to_have_count(0)
    chat.ask("Do you deliver?")
    second = convs.current()
    assert second != first
    assert history(base_url, first).status_code == 200  # a new conversation keeps the old one
    assert convs.stored() == [{"id": second, "title": "Do you deliver?"}, {"id": first, "title": "When do you open?"}]

    convs.open()
    expect(convs.button).to_have_attribute("aria-expanded", "true")
    expect(chat.host.locator("[part=messages]")).to_be_hidden()
    expect(chat.input).to_be_hidden()
    expect(convs.view.locator("h3")).to_have_text("Conversations")
    expect(convs.titles).to_have_text(["Do you deliver?", "When do you open?"])
    expect(convs.titles.first).to_have_attribute("aria-current", "true")
    expect(convs.titles.first).to_be_focused()
    expect(convs.titles.last).not_to_have_attribute("aria-current", "true")

    convs.titles.last.click()
    expect(convs.view).to_be_hidden()
    expect(chat.input).to_be_focused()
    expect(chat.user).to_have_text(["You: When do you open?"])
    expect(chat.assistant.last.locator(".body")).to_have_text(quoted("When do you open?"))
    assert convs.current() == first
    # The next message goes to the restored conversation, which moves to the top.
    chat.ask("And on Sunday?")
    assert [m["content"] for m in history(base_url, first).json()["messages"] if m["role"] == "user"] == [
        "When do you open?", "And on Sunday?"]
    assert [c["id"] for c in convs.stored()] == [first, second]
    page.reload()
    chat, convs = open_widget(page)
    expect(chat.user).to_have_count(2)
    convs.open()
    expect(convs.titles).to_have_text(["When do you open?", "Do you deliver?"])


def test_new_conversation_from_the_list(page: Page, base_url: str) -> None:
    chat, convs = open_widget(page)
    chat.ask("Question one")
    convs.open()
    convs.new.click()
    expect(convs.view).to_be_hidden()
    expect(chat.input).to_be_focused()
    expect(chat.user).to_have_count(0)
    expect(chat.assistant).to_have_count(1)
    assert convs.current() is None
    chat.ask("Question two")
    convs.open()
    expect(convs.titles).to_have_text(["Question two", "Question one"])
    # clear() from the API erases the current conversation and drops it from the list.
    sid = convs.current()
    page.evaluate("chats[0].clear()")
    expect(convs.view).to_be_hidden()
    assert history(base_url, sid).status_code == 404
    assert [c["title"] for c in convs.stored()] == ["Question one"]


def test_delete_erases_on_the_server(page: Page, base_url: str) -> None:
    chat, convs = open_widget(page)
    chat.ask("Keep me")
    kept = convs.current()
    chat.host.locator("[part=new-chat]").click()
    chat.ask("Erase me")
    erased = convs.current()
    convs.open()
    # Delete another conversation: the current one stays on screen.
    convs.delete("Keep me")
    expect(convs.titles).to_have_text(["Erase me"])
    assert history(base_url, kept).status_code == 404
    assert convs.current() == erased
    # Delete the current one: the view stays open and a new conversation waits behind it.
    convs.delete("Erase me")
    expect(convs.items).to_have_count(0)
    expect(convs.new).to_be_focused()
    assert history(base_url, erased).status_code == 404
    assert convs.stored() == [] and convs.current() is None
    convs.button.click()
    expect(chat.user).to_have_count(0)
    expect(chat.assistant).to_have_count(1)


def test_a_failed_delete_is_explained_and_keeps_the_conversation(page: Page, base_url: str) -> None:
    chat, convs = open_widget(page, locale="de")
    chat.ask("Bleib da")
    sid = convs.current()
    convs.open()
    page.route("**/api/session/*",
               lambda route: route.abort() if route.request.method == "DELETE" else route.fallback())
    convs.view.locator("li button[aria-label='Unterhaltung löschen: Bleib da']").click()
    expect(convs.view.locator("[role=alert]")).to_contain_text("Der Chat-Dienst ist nicht erreichbar.")
    expect(convs.titles).to_have_text(["Bleib da"])
    assert history(base_url, sid).status_code == 200
    page.unroute("**/api/session/*")
    convs.view.locator("li button[aria-label='Unterhaltung löschen: Bleib da']").click()
    expect(convs.items).to_have_count(0)
    expect(convs.view.locator("[role=alert]")).to_have_count(0)
    assert history(base_url, sid).status_code == 404


def test_a_conversation_erased_elsewhere_leaves_the_list(page: Page, base_url: str) -> None:
    chat, convs = open_widget(page)
    chat.ask("Gone soon")
    gone = convs.current()
    chat.host.locator("[part=new-chat]").click()
    chat.ask("Still here")
    assert httpx.delete(f"{base_url}/api/session/{gone}").status_code == 204
    convs.open()
    convs.titles.last.click()
    page.wait_for_function("() => !Object.keys(localStorage).some(k => k.startsWith('chatkit:session:'))")
    expect(chat.user).to_have_count(0)
    assert [c["title"] for c in convs.stored()] == ["Still here"]
    convs.open()
    expect(convs.titles).to_have_text(["Still here"])


def test_ratings_come_back_when_switching(page: Page) -> None:
    chat, convs = open_widget(page)
    chat.ask("Rate me")
    chat.assistant.last.locator("[part~=up]").click()
    expect(chat.assistant.last.locator("[part~=up]")).to_have_attribute("aria-pressed", "true")
    chat.host.locator("[part=new-chat]").click()
    chat.ask("Other")
    expect(chat.host.locator("[aria-pressed=true]")).to_have_count(0)
    convs.open()
    convs.titles.last.click()
    expect(chat.assistant.last.locator("[part~=up]")).to_have_attribute("aria-pressed", "true")
    # Rating in a restored conversation goes to that conversation.
    chat.assistant.last.locator("[part~=down]").click()
    expect(chat.assistant.last.locator("[part~=down]")).to_have_attribute("aria-pressed", "true")
    page.reload()
    chat, convs = open_widget(page)
    expect(chat.assistant.last.locator("[part~=down]")).to_have_attribute("aria-pressed", "true")


def test_hostile_titles_stay_text(page: Page) -> None:
    chat, convs = open_widget(page)
    chat.ask(HOSTILE)
    convs.open()
    expect(convs.titles).to_have_text([HOSTILE])
    # Entries written by someone else: markup in titles, and junk the widget ignores.
    page.evaluate("""h => {
        const key = Object.keys(localStorage).find(k => k.startsWith('chatkit:conversations:'));
        const list = JSON.parse(localStorage.getItem(key));
        list.push({id: 'x-1', title: '<svg onload="window.__xss=1">'}, null, 7, {title: 'no id'},
                  {id: 'x-2', title: 5});
        localStorage.setItem(key, JSON.stringify(list));
    }""", HOSTILE)
    convs.button.click()
    convs.open()
    expect(convs.titles).to_have_text([HOSTILE, '<svg onload="window.__xss=1">', "New conversation"])
    assert convs.view.locator("img, svg[onload], b").count() == 0
    assert page.evaluate("window.__xss") is None
    # Broken storage is no conversation at all.
    page.evaluate("""() => localStorage.setItem(
        Object.keys(localStorage).find(k => k.startsWith('chatkit:conversations:')), '{not json')""")
    convs.button.click()
    convs.open()
    expect(convs.items).to_have_count(0)


def test_at_most_ten_conversations_are_kept(page: Page) -> None:
    blank_page(page)
    key = page.evaluate("() => 'chatkit:conversations:' + location.origin + '/'")
    page.evaluate("([k, l]) => localStorage.setItem(k, l)",
                  [key, json.dumps([{"id": f"old-{n}", "title": f"Old {n}"} for n in range(10)])])
    init(page, endpoint="")
    page.evaluate("chats[0].open()")
    chat, convs = Chat(page), Conversations(Chat(page))
    chat.ask("Newest")
    assert [c["title"] for c in convs.stored()] == ["Newest"] + [f"Old {n}" for n in range(9)]


def test_the_single_saved_conversation_joins_the_list(page: Page, base_url: str) -> None:
    sid = httpx.post(f"{base_url}/api/create-session", json={}).json()["sessionId"]
    httpx.post(f"{base_url}/api/chat", json={"sessionId": sid, "message": "Saved before\nthe list existed"})
    blank_page(page)
    page.evaluate("s => localStorage.setItem('chatkit:session:' + location.origin + '/', s)", sid)
    init(page, endpoint="")
    page.evaluate("chats[0].open()")
    chat, convs = Chat(page), Conversations(Chat(page))
    expect(chat.user).to_have_count(1)
    assert convs.stored() == [{"id": sid, "title": "Saved before the list existed"}]
    assert convs.current() == sid


def test_keyboard_and_escape(page: Page) -> None:
    chat, convs = open_widget(page)
    chat.ask("Keyboard")
    convs.button.focus()
    page.keyboard.press("Enter")
    expect(convs.titles.first).to_be_focused()
    page.keyboard.press("Tab")
    expect(convs.view.locator("li button[aria-label='Delete conversation: Keyboard']")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(convs.new).to_be_focused()
    # Escape closes the view, not the dialog, and returns focus to its button.
    page.keyboard.press("Escape")
    expect(convs.view).to_be_hidden()
    expect(chat.panel).to_be_visible()
    expect(convs.button).to_be_focused()
    expect(convs.button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Space")
    expect(convs.titles.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(convs.view).to_be_hidden()
    expect(chat.input).to_be_focused()
    expect(chat.user).to_have_text(["You: Keyboard"])


def test_arabic_list_reads_right_to_left(page: Page) -> None:
    chat, convs = open_widget(page, locale="ar")
    expect(convs.button).to_have_attribute("aria-label", "المحادثات")
    chat.ask("مرحبا")
    convs.open()
    expect(convs.view.locator("h3")).to_have_text("المحادثات")
    expect(convs.view.locator("li button[aria-label='حذف المحادثة: مرحبا']")).to_be_visible()
    pick, delete = convs.titles.first.bounding_box(), convs.items.first.locator("button").last.bounding_box()
    assert delete["x"] < pick["x"]


@pytest.mark.parametrize("how", ["option", "attribute"])
def test_opting_out_keeps_a_single_thread(page: Page, base_url: str, how: str) -> None:
    if how == "option":
        _, convs = open_widget(page, conversations=False)
    else:
        page.goto("/examples/single.html")
        Chat(page).launcher.click()
    chat, convs = Chat(page), Conversations(Chat(page))
    chat.ask("Only thread")
    old = convs.current()
    expect(convs.button).to_have_count(0)
    expect(convs.view).to_be_hidden()
    # New conversation erases the old one, as a single-thread widget always did.
    with page.expect_request(lambda r: r.method == "DELETE") as deleted:
        chat.host.locator("[part=new-chat]").click()
    assert deleted.value.url.endswith(f"/api/session/{old}")
    page.wait_for_timeout(200)
    assert history(base_url, old).status_code == 404
    chat.ask("Fresh")
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('chatkit:conversations:'))") == []


LIST_LABELS = {"en": ("Conversations", "New conversation"), "es": ("Conversaciones", "Nueva conversación"),
               "fr": ("Conversations", "Nouvelle conversation"), "de": ("Unterhaltungen", "Neues Gespräch"),
               "zh": ("对话列表", "新对话"), "ar": ("المحادثات", "محادثة جديدة")}


@pytest.mark.parametrize("locale", sorted(LIST_LABELS))
def test_the_list_speaks_every_locale(page: Page, locale: str) -> None:
    _, convs = open_widget(page, locale=locale)
    heading, new = LIST_LABELS[locale]
    expect(convs.button).to_have_attribute("aria-label", heading)
    convs.open()
    expect(convs.view.locator("h3")).to_have_text(heading)
    expect(convs.view.locator(".pick")).to_have_text([new])
