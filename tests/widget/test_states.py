"""Shortened answers, answers waiting in the server's queue, and the visitor's language."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.widget.helpers import Chat, answer, blank_page, init, scripted

pytestmark = pytest.mark.browser

SHORTENED = {"en": "(answer shortened)", "es": "(respuesta acortada)", "fr": "(réponse raccourcie)",
             "de": "(Antwort gekürzt)", "zh": "（回答已缩短）", "ar": "(تم اختصار الإجابة)"}  # noqa: RUF001


def open_widget(page: Page, **options) -> Chat:
    blank_page(page)
    init(page, endpoint="", **options)
    page.evaluate("chats[0].open()")
    return Chat(page)


def test_a_shortened_answer_is_marked_after_streaming_and_after_reload(page: Page) -> None:
    scripted(page, [answer("Complete."), answer("The capital of France is Paris, a city", truncated=True)])
    chat = open_widget(page)
    expect(chat.ask("Short one").locator(".note")).to_have_count(0)
    cut = chat.ask("Long one")
    expect(cut.locator(".note")).to_have_text("(answer shortened)")
    expect(cut.locator(".body")).to_have_text("The capital of France is Paris, a city")
    page.reload()
    chat = open_widget(page)
    expect(chat.assistant).to_have_count(3)
    expect(chat.assistant.nth(1).locator(".note")).to_have_count(0)
    expect(chat.assistant.last.locator(".note")).to_have_text("(answer shortened)")


@pytest.mark.parametrize("locale", sorted(SHORTENED))
def test_the_shortened_note_speaks_every_locale(page: Page, locale: str) -> None:
    scripted(page, [answer("Paris", truncated=True)])
    chat = open_widget(page, locale=locale)
    expect(chat.ask("?").locator(".note")).to_have_text(SHORTENED[locale])


def test_an_interrupted_and_shortened_answer_shows_both_notes(page: Page) -> None:
    scripted(page, [answer("Par", truncated=True, incomplete=True)])
    chat = open_widget(page)
    expect(chat.ask("?").locator(".note")).to_have_text(["(answer interrupted)", "(answer shortened)"])


# Every change to the typing indicator, including the ones too quick to see.
RECORD_TYPING = """() => {
    window.typing = [];
    const messages = document.querySelector('.chatkit-host').shadowRoot.querySelector('[part=messages]');
    new MutationObserver((records) => {
        for (const r of records) {
            const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
            if (!node.matches('[part=typing]')) continue;
            if (r.type === 'childList' && r.addedNodes.length)
                typing.push([...r.addedNodes].map(n => n.nodeType === 3 ? n.data : n.tagName).join(' '));
            if (r.type === 'attributes') typing.push(r.attributeName + '=' + node.getAttribute(r.attributeName));
        }
    }).observe(messages, {subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label']});
    window.announced = [];
    const live = messages.parentElement.querySelector('[aria-live=polite]');
    new MutationObserver(() => announced.push(live.textContent)).observe(live, {childList: true});
}"""


def test_queued_events_show_the_wait_and_the_place_in_line_until_the_answer_starts(page: Page) -> None:
    queue = [("queued", {"position": 3}), ("queued", {"position": 2}), ("queued", {"position": 1})]
    scripted(page, [answer("Fresh out of the oven.")], before=queue)
    chat = open_widget(page)
    page.evaluate(RECORD_TYPING)
    expect(chat.ask("Busy?").locator(".body")).to_have_text("Fresh out of the oven.")
    assert page.evaluate("typing") == [
        "aria-label=Waiting for the assistant… (position 3)", "Waiting for the assistant… (position 3)",
        "aria-label=Waiting for the assistant… (position 2)", "Waiting for the assistant… (position 2)",
        "aria-label=Waiting for the assistant…", "Waiting for the assistant…",
        "aria-label=The assistant is typing", "I I I",
    ]
    expect(chat.host.locator("[part=typing]")).to_have_count(0)
    expect(chat.error).to_have_count(0)
    # Screen readers hear the wait once, then the answer.
    assert page.evaluate("announced") == ["Waiting for the assistant… (position 3)", "Fresh out of the oven."]


def test_the_queued_state_is_localized(page: Page) -> None:
    scripted(page, [answer("Bonjour")], before=[("queued", {"position": 2})])
    chat = open_widget(page, locale="fr")
    page.evaluate(RECORD_TYPING)
    chat.ask("Salut")
    assert page.evaluate("typing")[1] == "En attente de l’assistant… (position 2)"  # noqa: RUF001


def test_a_stream_that_ends_while_queued_shows_an_error_and_can_be_retried(page: Page) -> None:
    body = 'event: queued\ndata: {"position": 4}\n\n'
    page.route("**/api/chat", lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body))
    chat = open_widget(page)
    chat.send("Anyone there?")
    expect(chat.error).to_contain_text("Could not reach the chat service")
    expect(chat.host.locator("[part=typing]")).to_have_count(0)
    page.unroute("**/api/chat")
    chat.error.locator("button").click()
    expect(chat.assistant.last.locator(".body")).to_contain_text('You said: "Anyone there?"')


def chat_bodies(page: Page) -> list[dict]:
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(r.post_data_json) if r.url.endswith("/api/chat") else None)
    return bodies


@pytest.mark.parametrize(("locale", "sent"), [("pt-BR", "pt-BR"), ("es_MX", "es-MX"), ("de", "de")])
def test_the_widget_language_goes_with_every_message(page: Page, locale: str, sent: str) -> None:
    bodies = chat_bodies(page)
    chat = open_widget(page, locale=locale)
    chat.ask("One")
    chat.ask("Two")  # the real server accepted the tag and answered
    assert [b["locale"] for b in bodies] == [sent, sent]
    assert [b["message"] for b in bodies] == ["One", "Two"]


def test_without_a_locale_option_the_browser_language_is_sent(browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, locale="fr-CA")
    try:
        page = context.new_page()
        bodies = chat_bodies(page)
        chat = open_widget(page)
        expect(chat.panel).to_have_attribute("aria-label", "Discutons")
        chat.ask("Bonjour")
        assert bodies[0]["locale"] == "fr-CA"
    finally:
        context.close()


def test_a_malformed_locale_is_not_sent_and_the_message_still_goes_through(page: Page) -> None:
    bodies = chat_bodies(page)
    chat = open_widget(page, locale="<script>")
    expect(chat.ask("Hello").locator(".body")).to_contain_text('You said: "Hello"')
    assert "locale" not in bodies[0]
