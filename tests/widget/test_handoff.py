"""Talking to a person, the visitor's side, in headless Chromium against a real server whose model
is a fake OpenAI upstream counting its requests: asking from the widget, an operator claiming and
replying through the operators' API, the reply arriving live, the visitor's answer going to the
operator and not to the model, handing back, reloading, translations, the `offer` setting and
a server without handoffs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from chatkit_core import hookimpl
from chatkit_core.chat.knowledge import Retriever
from chatkit_core.http.site_keys import hash_site_key
from chatkit_core.models import Passage
from chatkit_core.platform.plugins import pm
from tests.console.helpers import ADMIN, TOKEN
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.support.server import free_port, running_server, with_site
from tests.widget.helpers import GENEROUS_LIMITS, Chat, in_process_server, init, server_config

pytestmark = pytest.mark.browser

SITE_KEY = "ck_pub_bakery"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
ANSWER = "The assistant answers."
# Counts the page's event streams, and whether each is still open.
SOURCES = """
window.sources = [];
const Native = window.EventSource;
window.EventSource = class extends Native {
  constructor(...args) { super(...args); window.sources.push(this); }
};
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test") as fake:
        fake.default = Script(text=ANSWER)
        yield fake


@pytest.fixture(scope="module")
def server(upstream: FakeOpenAI) -> Iterator[str]:
    """Handoffs on, the model behind the fake upstream, and a site key the page must send (so the
    event stream needs it in its query)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    config = with_site(f"""
[chain]
order = ["cloud"]
retries = 0
[providers.cloud]
type = "openai"
base_url = "{upstream.url}/v1"
model = "gpt-4o-mini"
api_key = "sk-test"
[sessions]
store = "memory"
[server]
allowed_origins = ["{origin}"]
[middleware.site_keys.keys]
"{hash_site_key(SITE_KEY)}" = ["{origin}"]
[handoff]
enabled = true
heartbeat = 0.5
[logging]
level = "warning"
{GENEROUS_LIMITS}{ADMIN}""")
    with running_server(config, port=port) as url:
        yield url


@pytest.fixture
def context(context: BrowserContext) -> BrowserContext:
    context.add_init_script(SOURCES)
    return context


def open_widget(page: Page, base: str, **options) -> Chat:
    page.goto(base + "/examples/")
    page.add_script_tag(url="/widget/chatkit.js")
    init(page, endpoint="", **options)
    page.evaluate("chats[0].open()")
    return Chat(page)


def open_keyed(page: Page, server: str, **options) -> Chat:
    return open_widget(page, server, siteKey=SITE_KEY, **options)


class Desk:
    """The operators' API, as the console uses it, with the admin token."""

    def __init__(self, server: str) -> None:
        self.http = httpx.Client(base_url=server, headers=OPERATOR, timeout=10)

    def waiting(self, note: str) -> str:
        """The conversation whose visitor asked for a person with ``note``."""
        listed = self.http.get("/admin/api/handoffs").json()
        return next(cid for cid, text in listed["notes"].items() if text == note)

    def claim(self, cid: str, name: str = "Alice", locale: str = "en") -> None:
        claimed = self.http.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": name, "locale": locale})
        assert claimed.status_code == 200, claimed.text

    def reply(self, cid: str, content: str) -> None:
        sent = self.http.post(f"/admin/api/handoffs/{cid}/messages", json={"content": content})
        assert sent.status_code == 201, sent.text

    def release(self, cid: str) -> None:
        assert self.http.post(f"/admin/api/handoffs/{cid}/release").status_code == 200

    def messages(self, cid: str) -> list[dict]:
        return self.http.get(f"/admin/api/handoffs/{cid}").json()["messages"]


def ask_for_person(chat: Chat, note: str) -> None:
    chat.input.fill(note)
    chat.host.locator("[part=talk]").click()
    expect(chat.host.locator("[part=handoff] [role=status]")).to_have_text("We've asked a person to join…")
    expect(chat.user.last).to_contain_text(note)
    expect(chat.input).to_have_value("")
    expect(chat.host.locator("[part=talk]")).to_be_hidden()


def until(page: Page, script: str, timeout: float = 10.0) -> None:
    """Waits for ``script`` to be true in the page (the sample pages' CSP rules out wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"never true: {script}"
        page.wait_for_timeout(50)


def open_streams(page: Page) -> int:
    return page.evaluate("sources.filter((s) => s.readyState !== EventSource.CLOSED).length")


def test_a_person_takes_over_replies_live_and_hands_back(page: Page, server: str, upstream: FakeOpenAI) -> None:
    desk = Desk(server)
    chat = open_keyed(page, server, locale="en")
    status = chat.host.locator("[part=handoff] [role=status]")
    expect(chat.host.locator("[part=talk]")).to_be_hidden()  # no conversation yet to ask about
    expect(chat.ask("Where is my order?").locator(".body")).to_have_text(ANSWER)
    before = len(upstream.chat_requests())
    talk = chat.host.locator("[part=talk]")
    expect(talk).to_have_text("Talk to a person")
    ask_for_person(chat, "Order 1234 never came")
    cid = desk.waiting("Order 1234 never came")
    url = page.evaluate("sources[0].url")
    assert f"siteKey={SITE_KEY}" in url  # EventSource sends no headers

    desk.claim(cid)
    expect(status).to_have_text("Alice has joined")
    desk.reply(cid, "Hello, I am Alice. <b>Let me</b> look.")
    sent = time.monotonic()
    person = chat.host.locator(".msg.operator")
    expect(person).to_have_count(1, timeout=1000)
    assert time.monotonic() - sent < 1.0
    expect(person.locator(".who")).to_have_text("Alice:")
    expect(person.locator(".body")).to_have_text("Hello, I am Alice. Let me look.")
    assert person.get_attribute("part") == "message operator"
    expect(chat.host.locator("[aria-live=polite]").last).to_have_text("Alice: Hello, I am Alice. Let me look.")

    chat.send("It was due on Monday.")
    expect(chat.user.last).to_have_text("You: It was due on Monday.")
    chat.wait_idle()
    expect(chat.host.locator(".typing")).to_have_count(0)
    expect(chat.error).to_have_count(0)
    assert desk.messages(cid)[-1]["content"] == "It was due on Monday."
    assert chat.assistant.count() == 2  # the welcome and the first answer: nothing answered it
    assert len(upstream.chat_requests()) == before  # the model was not called while held

    desk.release(cid)
    expect(status).to_have_text("You're chatting with the assistant again")
    expect(talk).to_be_visible()
    until(page, "sources.every((s) => s.readyState === EventSource.CLOSED)")
    expect(chat.ask("Thanks!").locator(".body")).to_have_text(ANSWER)
    assert len(upstream.chat_requests()) == before + 1
    assert person.count() == 1 and open_streams(page) == 0

    # Asking again after a reload: the new stream replays the first request's events, which
    # neither close it nor show the person's message twice.
    page.reload()
    chat = open_keyed(page, server, locale="en")
    expect(person).to_have_count(1)
    expect(person.locator(".who")).to_have_text("Alice:")  # the last holder
    expect(status).to_have_text("")
    ask_for_person(chat, "One more thing")
    until(page, "sources.length === 1 && sources[0].readyState === EventSource.OPEN")
    page.wait_for_timeout(700)
    expect(status).to_have_text("We've asked a person to join…")
    expect(person).to_have_count(1)
    assert open_streams(page) == 1
    desk.release(desk.waiting("One more thing"))
    expect(status).to_have_text("You're chatting with the assistant again")


def test_a_reload_keeps_the_state_and_the_messages_without_doubling_them(page: Page, server: str) -> None:
    desk = Desk(server)
    chat = open_keyed(page, server, locale="en")
    chat.ask("Hello")
    ask_for_person(chat, "A person please, about a cake")
    cid = desk.waiting("A person please, about a cake")
    desk.claim(cid, "Bea")
    desk.reply(cid, "Bea here: which cake?")
    person = chat.host.locator(".msg.operator")
    expect(person).to_have_count(1)

    page.reload()
    chat = open_keyed(page, server, locale="en")
    expect(chat.host.locator("[part=handoff] [role=status]")).to_have_text("Bea has joined")
    expect(person).to_have_count(1)
    expect(person.locator(".who")).to_have_text("Bea:")
    expect(person.locator(".body")).to_have_text("Bea here: which cake?")
    until(page, "sources.length === 1 && sources[0].readyState === EventSource.OPEN")
    desk.reply(cid, "We have lemon and chocolate.")
    expect(person).to_have_count(2)
    page.wait_for_timeout(700)  # a heartbeat re-reads the log: still nothing twice
    expect(person).to_have_count(2)
    expect(chat.host.locator("[part=talk]")).to_be_hidden()

    # Dropping the stream: the next one starts after the last event seen.
    page.evaluate("sources[0].close(); sources[0].onerror()")
    desk.reply(cid, "Which size?")
    until(page, "sources.length === 2 && sources[1].readyState === EventSource.OPEN", 8)
    assert "lastEventId=" in page.evaluate("sources[1].url")
    expect(person).to_have_count(3)
    expect(person.last.locator(".body")).to_have_text("Which size?")
    page.evaluate("chats[0].destroy()")
    assert open_streams(page) == 0
    desk.release(cid)


def test_a_person_writing_in_another_language_is_translated_with_the_original_on_demand(
        page: Page, server: str, upstream: FakeOpenAI) -> None:
    desk = Desk(server)
    chat = open_keyed(page, server, locale="de")
    chat.ask("Hallo")
    chat.input.fill("Ich möchte mit einer Person sprechen")
    chat.host.locator("[part=talk]").click()
    status = chat.host.locator("[part=handoff] [role=status]")
    expect(status).to_have_text("Wir haben eine Person gebeten, dazuzukommen…")
    cid = desk.waiting("Ich möchte mit einer Person sprechen")
    desk.claim(cid, "Alice", "en")
    expect(status).to_have_text("Alice ist dazugekommen")
    upstream.script(Script(text="Hallo, ich bin Alice."))
    desk.reply(cid, "Hello, I am Alice.")
    person = chat.host.locator(".msg.operator")
    expect(person.locator(".body")).to_have_text("Hallo, ich bin Alice.")
    flip = person.locator("[part=original]")
    expect(flip).to_have_text("Original anzeigen")
    flip.click()
    expect(person.locator(".body")).to_have_text("Hello, I am Alice.")
    expect(flip).to_have_text("Übersetzung anzeigen")
    desk.release(cid)


@pytest.mark.parametrize("locale, talk, asked", [
    ("en", "Talk to a person", "We've asked a person to join…"),
    ("es", "Hablar con una persona", "Hemos pedido a una persona que se una…"),
    ("fr", "Parler à une personne", "Nous avons demandé à une personne de vous rejoindre…"),
    ("de", "Mit einer Person sprechen", "Wir haben eine Person gebeten, dazuzukommen…"),
    ("zh", "联系人工客服", "已请人工客服加入…"),
    ("ar", "التحدث إلى شخص", "طلبنا من أحد أعضاء الفريق الانضمام…"),
])
def test_every_locale_offers_a_person_and_says_one_was_asked_for(
        page: Page, server: str, locale: str, talk: str, asked: str) -> None:
    chat = open_keyed(page, server, locale=locale)
    chat.ask("?")
    button = chat.host.locator("[part=talk]")
    expect(button).to_have_text(talk)
    button.focus()
    page.keyboard.press("Enter")
    expect(chat.host.locator("[part=handoff] [role=status]")).to_have_text(asked)


def test_without_handoffs_there_is_no_control_and_no_stream(page: Page, base_url: str) -> None:
    asked: list[int] = []
    page.on("response", lambda r: "/handoff" in r.url and asked.append(r.status))
    chat = open_widget(page, base_url)
    chat.ask("Hello")
    chat.ask("And again")
    page.wait_for_timeout(300)
    assert asked == [200]  # asked once, answered "never", not asked again
    expect(chat.host.locator("[part=handoff]")).to_be_hidden()
    expect(chat.host.locator("[part=talk]")).to_be_hidden()
    assert page.evaluate("sources.length") == 0


# `offer = "after_decline"`: a real server whose retriever finds pages about opening hours only.

HOURS = Passage(text="Open Monday to Saturday, 8:00 to 18:00.", title="Opening hours", url="/hours.html", score=2.0)


class HoursRetriever(Retriever):
    async def search(self, query: str, limit: int) -> list[Passage]:
        return [HOURS] if "open" in query.lower() else []


class HoursPlugin:
    @hookimpl
    def register_retrievers(self, register):
        register("test-hours", HoursRetriever)


@pytest.fixture(scope="module")
def declining_url() -> Iterator[str]:
    pm.register(HoursPlugin(), name="test-hours")
    try:
        config = (server_config(replies=["We are open Monday to Saturday."]) + '\n[knowledge]\ntype = "test-hours"\n'
                  + ADMIN + '[handoff]\nenabled = true\noffer = "after_decline"\n')
        with in_process_server(config) as url:
            yield url
    finally:
        pm.unregister(name="test-hours")


def test_after_decline_offers_a_person_only_once_an_answer_had_no_source(page: Page, declining_url: str) -> None:
    chat = open_widget(page, declining_url)
    talk = chat.host.locator("[part=talk]")
    expect(chat.ask("When are you open?").locator("[part=sources]")).to_be_visible()
    page.wait_for_timeout(300)
    expect(talk).to_be_hidden()
    expect(chat.ask("Do you repair bicycles?").locator("[part=sources]")).to_have_count(0)
    expect(talk).to_be_visible()
    page.reload()  # restored from the history: the decline is still there
    chat = open_widget(page, declining_url)
    expect(chat.assistant).to_have_count(3)
    expect(talk).to_be_visible()


@pytest.fixture(scope="module")
def never_url() -> Iterator[str]:
    with in_process_server(server_config() + ADMIN + '[handoff]\nenabled = true\noffer = "never"\n') as url:
        yield url


def test_offer_never_shows_no_control_but_a_handoff_asked_for_elsewhere_still_shows_untranslated(
        page: Page, never_url: str) -> None:
    chat = open_widget(page, never_url)
    chat.ask("Hello")
    page.wait_for_timeout(300)
    talk = chat.host.locator("[part=talk]")
    expect(talk).to_be_hidden()
    expect(chat.host.locator("[part=handoff]")).to_be_hidden()
    # The site may ask through the API (a button of its own): the widget shows the state on reload.
    session = page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('chatkit:session:'))[1]")
    asked = httpx.post(f"{never_url}/api/session/{session}/handoff", json={"locale": "de"})
    assert asked.status_code == 202
    page.reload()
    chat = open_widget(page, never_url, locale="de")
    status = chat.host.locator("[part=handoff] [role=status]")
    expect(status).to_have_text("Wir haben eine Person gebeten, dazuzukommen…")
    expect(talk).to_be_hidden()
    # No language model here (the canned provider): a person's message comes untranslated, and says so.
    desk = Desk(never_url)
    cid = asked.json()["handoff"]["conversationId"]
    desk.claim(cid, "Alice", "en")
    desk.reply(cid, "Hello, I am Alice.")
    person = chat.host.locator(".msg.operator")
    expect(person.locator(".body")).to_have_text("Hello, I am Alice.")
    expect(person.locator(".note")).to_have_text("(nicht übersetzt)")
    expect(person.locator("[part=original]")).to_have_count(0)
