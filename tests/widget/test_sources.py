"""The site's pages an answer drew on, listed under it as safe links."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from chatkit_core import hookimpl
from chatkit_core.chat.knowledge import Retriever
from chatkit_core.models import Passage
from chatkit_core.platform.plugins import pm
from tests.widget.helpers import Chat, answer, blank_page, in_process_server, init, scripted, server_config

pytestmark = pytest.mark.browser

HOSTILE_SOURCES = [
    {"title": "Opening hours", "url": "https://example.com/hours"},
    {"title": "Pastries & cakes", "url": "/menu.html#pastries"},
    {"title": "Script link", "url": "javascript:window.__xss=1"},
    {"title": "Data link", "url": "data:text/html,<script>window.__xss=1</script>"},
    {"title": "Mail us", "url": "mailto:hello@example.com"},
    {"title": "<img src=x onerror=window.__xss=1>", "url": "https://example.com/escaped"},
    {"title": "<b onmouseover=window.__xss=1>raw</b>", "url": ""},
    {"title": "", "url": "https://example.com/untitled"},
    {"title": "", "url": ""},
    None,
    {"title": "Not a string", "url": 42},
]


def open_widget(page: Page, **options) -> Chat:
    blank_page(page)
    init(page, endpoint="", **options)
    page.evaluate("chats[0].open()")
    return Chat(page)


def assert_safe_sources(page: Page, base_url: str) -> None:
    sources = Chat(page).assistant.last.locator("[part=sources]")
    expect(sources.locator("div")).to_have_text("Sources")
    expect(sources.locator("li")).to_have_text([
        "Opening hours", "Pastries & cakes", "Script link", "Data link", "Mail us",
        "<img src=x onerror=window.__xss=1>", "<b onmouseover=window.__xss=1>raw</b>", "https://example.com/untitled",
        "Not a string",
    ])
    links = sources.locator("a")
    expect(links).to_have_text(["Opening hours", "Pastries & cakes", "<img src=x onerror=window.__xss=1>",
                                "https://example.com/untitled"])
    hrefs = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.com/hours", base_url + "/menu.html#pastries", "https://example.com/escaped",
                     "https://example.com/untitled"]
    for i in range(4):
        expect(links.nth(i)).to_have_attribute("target", "_blank")
        expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer")
    assert sources.locator("img, b, script").count() == 0
    sources.locator("li").nth(6).hover()
    assert page.evaluate("window.__xss") is None


def test_sources_render_as_safe_links_after_streaming_and_after_reload(page: Page, base_url: str) -> None:
    scripted(page, [answer("We open at **8:00**.", sources=HOSTILE_SOURCES)])
    chat = open_widget(page)
    reply = chat.ask("When do you open?")
    expect(reply.locator(".body")).to_have_text("We open at 8:00.")
    assert_safe_sources(page, base_url)
    # The part sits inside the bubble, after the answer's text and before the thumbs (among the actions).
    assert reply.evaluate("node => [...node.children].map(c => c.getAttribute('part') || c.className)") == [
        "sr", "body", "sources", "actions"]
    expect(reply.locator("[part=actions] > [part=feedback]")).to_have_count(1)
    page.reload()
    chat = open_widget(page)
    expect(chat.assistant).to_have_count(2)
    assert_safe_sources(page, base_url)


def test_answers_without_sources_have_no_list_and_the_heading_is_localized(page: Page) -> None:
    scripted(page, [answer("Hello"), answer("Abrimos a las 8.", sources=[{"title": "Horario", "url": "/"}])])
    chat = open_widget(page, locale="es")
    expect(chat.ask("Hola").locator("[part=sources]")).to_have_count(0)
    sources = chat.ask("¿Cuándo abren?").locator("[part=sources]")
    expect(sources.locator("div")).to_have_text("Fuentes")
    expect(sources.locator("a")).to_have_text("Horario")


def test_the_conversation_scrolls_to_show_the_sources_of_a_long_answer(page: Page) -> None:
    long_answer = "\n\n".join(f"Paragraph {i} about our bread." for i in range(30))
    scripted(page, [answer(long_answer, sources=[{"title": "Bread", "url": "/bread.html"}])])
    chat = open_widget(page)
    link = chat.ask("Tell me everything").locator("[part=sources] a")
    expect(link).to_be_in_viewport()
    assert chat.host.locator("[part=messages]").evaluate("m => m.scrollHeight - m.scrollTop - m.clientHeight") < 2


def test_a_source_the_answer_links_to_is_shown_once_in_the_list(page: Page, base_url: str) -> None:
    """The list under the answer is the one place for its sources: a link in the text to one of
    them (any section of that page) reads as plain text; other links stay links."""
    content = ("We open at 8:00 ([weekdays](/hours.html#week)); see also [our blog](https://blog.example/post).\n\n"
               "Source: [Opening hours](/hours.html) [1]")
    scripted(page, [answer(content, sources=[{"title": "Opening hours", "url": "/hours.html"}])])
    chat = open_widget(page)

    def shown_once(reply) -> None:
        body = reply.locator(".body")
        expect(body).to_contain_text("We open at 8:00 (weekdays); see also our blog.")
        expect(body).to_contain_text("Source: Opening hours [1]")
        assert reply.locator("a").evaluate_all("links => links.map(a => a.href)") == [
            "https://blog.example/post", base_url + "/hours.html"]
        expect(reply.locator("[part=sources] a")).to_have_text("Opening hours")

    shown_once(chat.ask("When do you open?"))
    page.reload()
    chat = open_widget(page)
    expect(chat.assistant).to_have_count(2)
    shown_once(chat.assistant.last)


HEADINGS = {"en": "Sources", "es": "Fuentes", "fr": "Sources", "de": "Quellen", "zh": "来源", "ar": "المصادر"}


@pytest.mark.parametrize("locale", sorted(HEADINGS))
def test_every_locale_names_the_sources(page: Page, locale: str) -> None:
    scripted(page, [answer("8:00", sources=[{"title": "Hours", "url": "/hours.html"}])])
    chat = open_widget(page, locale=locale)
    expect(chat.ask("?").locator("[part=sources] div")).to_have_text(HEADINGS[locale])


# End to end: a real server whose retriever returns pages of the site.

PAGES = [
    Passage(text="Open Monday to Saturday, 8:00 to 18:00.", title="Opening hours", url="/hours.html", score=2.0),
    Passage(text="Croissant 2.40", title="<em>Menu</em> & prices", url="https://bakery.example/menu", score=1.0),
]


class PagesRetriever(Retriever):
    async def search(self, query: str, limit: int) -> list[Passage]:
        return PAGES[:limit]


class PagesPlugin:
    @hookimpl
    def register_retrievers(self, register):
        register("test-pages", PagesRetriever)


@pytest.fixture(scope="module")
def knowledge_url() -> Iterator[str]:
    pm.register(PagesPlugin(), name="test-pages")
    try:
        config = server_config(replies=["We are open Monday to Saturday."]) + '\n[knowledge]\ntype = "test-pages"\n'
        with in_process_server(config) as url:
            yield url
    finally:
        pm.unregister(name="test-pages")


def test_sources_from_a_real_server_show_after_streaming_and_in_restored_history(
        page: Page, knowledge_url: str) -> None:
    page.goto(knowledge_url + "/examples/")
    page.add_script_tag(url="/widget/chatkit.js")
    init(page, endpoint="")
    page.evaluate("chats[0].open()")
    chat = Chat(page)
    reply = chat.ask("Are you open on Sunday?")
    expect(reply.locator(".body")).to_have_text("We are open Monday to Saturday.")
    expected = ["Opening hours", "Menu & prices"]  # the server strips markup from titles
    links = reply.locator("[part=sources] a")
    expect(links).to_have_text(expected)
    assert links.evaluate_all("links => links.map(a => a.href)") == [
        knowledge_url + "/hours.html", "https://bakery.example/menu"]
    session = page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('chatkit:session:'))[1]")
    stored = httpx.get(f"{knowledge_url}/api/session/{session}/messages").json()["messages"][-1]
    assert [s["url"] for s in stored["sources"]] == ["/hours.html", "https://bakery.example/menu"]
    page.reload()
    page.add_script_tag(url="/widget/chatkit.js")
    init(page, endpoint="")
    page.evaluate("chats[0].open()")
    expect(chat.assistant).to_have_count(2)
    expect(chat.assistant.last.locator("[part=sources] a")).to_have_text(expected)
    assert page.locator(".chatkit-host em").count() == 0


def test_sources_follow_the_theme_and_can_be_restyled_through_their_part(page: Page) -> None:
    scripted(page, [answer("8:00", sources=[{"title": "Hours", "url": "/hours.html"}])])
    chat = open_widget(page, theme="dark")
    page.evaluate("""() => { const sheet = new CSSStyleSheet();  // the page's CSP forbids inline styles
        sheet.replaceSync('.chatkit-host::part(sources) { border-top-color: rgb(1, 2, 3) }');
        document.adoptedStyleSheets = [sheet]; }""")
    sources = chat.ask("?").locator("[part=sources]")
    assert sources.evaluate("s => getComputedStyle(s).borderTopColor") == "rgb(1, 2, 3)"
    assert sources.locator("a").evaluate("a => getComputedStyle(a).color") == "rgb(141, 180, 255)"  # dark link
