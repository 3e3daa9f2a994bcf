"""Visitors rate answers: thumbs up or down, an optional comment, stored on the server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.server import running_server
from tests.widget.helpers import Chat, answer, blank_page, init, scripted, server_config

pytestmark = pytest.mark.browser

LABELS = {"en": ("Helpful", "Not helpful", "Rate this answer"), "es": ("Útil", "No útil", "Valora esta respuesta"),
          "fr": ("Utile", "Pas utile", "Évaluer cette réponse"),
          "de": ("Hilfreich", "Nicht hilfreich", "Antwort bewerten"), "zh": ("有帮助", "没有帮助", "评价此回答"),
          "ar": ("مفيدة", "غير مفيدة", "قيّم هذه الإجابة")}


LIMITED = """
[rate_limit]
type = "limits"
storage = "memory://"
strategy = "fixed-window"
per_ip = ["1000/minute"]
per_session = ["2/4 seconds"]
"""


@pytest.fixture(scope="module")
def limited_url() -> Iterator[str]:
    with running_server(server_config(extra=LIMITED)) as url:
        yield url


def open_widget(page: Page, url: str = "", **options) -> Chat:
    blank_page(page, url + "/examples/")
    init(page, endpoint="", **options)
    page.evaluate("window.rated = []; chats[0].on('feedback', f => rated.push(f)); chats[0].open()")
    return Chat(page)


def thumbs(bubble: Locator) -> tuple[Locator, Locator]:
    bar = bubble.locator("[part=feedback]")
    return bar.locator("[part~=up]"), bar.locator("[part~=down]")


def stored_messages(base_url: str, page: Page) -> list[dict]:
    """The messages the server holds for the widget's current conversation."""
    sid = page.evaluate(
        "() => localStorage.getItem(Object.keys(localStorage).find(k => k.startsWith('chatkit:session:')))")
    return httpx.get(f"{base_url}/api/session/{sid}/messages").json()["messages"]


def stored_feedback(base_url: str, page: Page) -> list:
    """The feedback on each answer the server holds for the widget's conversation."""
    return [m["feedback"] for m in stored_messages(base_url, page) if m["role"] == "assistant"]


def test_rating_with_the_mouse_then_commenting(page: Page, base_url: str) -> None:
    chat = open_widget(page)
    bubble = chat.ask("Do you sell rye bread?")
    expect(chat.assistant.first.locator("[part=feedback]")).to_have_count(0)  # not the welcome message
    up, down = thumbs(bubble)
    expect(bubble.locator("[part=feedback]")).to_have_attribute("role", "group")
    expect(bubble.locator("[part=feedback]")).to_have_attribute("aria-label", "Rate this answer")
    expect(up).to_have_attribute("aria-label", "Helpful")
    expect(down).to_have_attribute("aria-label", "Not helpful")
    expect(up).to_have_attribute("aria-pressed", "false")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "false")
    assert stored_feedback(base_url, page) == [{"rating": "up", "comment": ""}]
    expect(bubble.locator("form")).to_have_count(0)

    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    box = bubble.locator("form textarea")
    expect(box).to_be_focused()
    expect(box).to_have_attribute("maxlength", "500")
    expect(box).to_have_attribute("aria-label", "What was wrong? (optional)")
    box.fill("  It did not say the price.  ")
    bubble.locator("form button", has_text="Send").click()
    expect(bubble.locator("form")).to_have_count(0)
    expect(down).to_be_focused()
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": "It did not say the price."}]
    answer_id = stored_messages(base_url, page)[-1]["id"]
    assert page.evaluate("rated") == [
        {"messageId": answer_id, "rating": "up", "comment": ""},
        {"messageId": answer_id, "rating": "down", "comment": ""},
        {"messageId": answer_id, "rating": "down", "comment": "It did not say the price."}]


def test_rating_with_the_keyboard(page: Page, base_url: str) -> None:
    chat = open_widget(page)
    bubble = chat.ask("Are you open on Mondays?")
    up, down = thumbs(bubble)
    # The thumbs are in the tab order right before the input.
    chat.input.focus()
    page.keyboard.press("Shift+Tab")
    expect(down).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(up).to_be_focused()
    page.keyboard.press("Enter")
    expect(up).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(down).to_have_attribute("aria-pressed", "true")
    box = bubble.locator("form textarea")
    expect(box).to_be_focused()
    # Escape closes the comment box, not the dialog, and gives focus back to the thumb.
    page.keyboard.type("never mind")
    page.keyboard.press("Escape")
    expect(bubble.locator("form")).to_have_count(0)
    expect(chat.panel).to_be_visible()
    expect(down).to_be_focused()
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": ""}]
    # Thumbs down again reopens the box without changing the rating; Tab reaches Send.
    page.keyboard.press("Enter")
    expect(box).to_be_focused()
    page.keyboard.type("Closed on Mondays, but it said open.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(bubble.locator("form")).to_have_count(0)
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": "Closed on Mondays, but it said open."}]


def test_skip_closes_the_comment_box_and_keeps_the_rating(page: Page, base_url: str) -> None:
    chat = open_widget(page)
    bubble = chat.ask("Gluten-free?")
    _, down = thumbs(bubble)
    down.click()
    bubble.locator("form textarea").fill("x" * 600)
    expect(bubble.locator("form textarea")).to_have_value("x" * 500)
    bubble.locator("form button", has_text="Skip").click()
    expect(bubble.locator("form")).to_have_count(0)
    expect(down).to_have_attribute("aria-pressed", "true")
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": ""}]
    assert [e["comment"] for e in page.evaluate("rated")] == [""]


def test_stored_ratings_come_back_with_the_history(page: Page) -> None:
    chat = open_widget(page)
    chat.ask("First question")
    chat.ask("Second question")
    first = chat.assistant.nth(1)
    thumbs(first)[1].click()
    first.locator("form button", has_text="Send").click()  # an empty comment just closes the box
    expect(first.locator("form")).to_have_count(0)
    up, _ = thumbs(chat.assistant.last)
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    page.reload()
    chat = open_widget(page)
    expect(chat.assistant).to_have_count(3)
    expect(chat.assistant.first.locator("[part=feedback]")).to_have_count(0)
    pressed = chat.host.locator("[part=feedback] [aria-pressed=true]")
    expect(pressed).to_have_count(2)
    first_up, first_down = thumbs(chat.assistant.nth(1))
    expect(first_down).to_have_attribute("aria-pressed", "true")
    expect(first_up).to_have_attribute("aria-pressed", "false")
    expect(thumbs(chat.assistant.last)[0]).to_have_attribute("aria-pressed", "true")
    # Changing a restored rating replaces it.
    first_up.click()
    expect(first_up).to_have_attribute("aria-pressed", "true")
    expect(first_down).to_have_attribute("aria-pressed", "false")
    page.reload()
    chat = open_widget(page)
    expect(thumbs(chat.assistant.nth(1))[0]).to_have_attribute("aria-pressed", "true")
    expect(chat.host.locator("[part=feedback] [aria-pressed=true]")).to_have_count(2)


def test_a_rate_limited_rating_is_explained_and_can_be_retried(page: Page, limited_url: str) -> None:
    # Ratings share the chat's limit: the question and one rating use up the window.
    chat = open_widget(page, url=limited_url)
    bubble = chat.ask("Can I order a cake?")
    up, down = thumbs(bubble)
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    down.click()
    error = bubble.locator("[part=feedback] [role=alert]")
    expect(error).to_have_text(re.compile(r"^Too many messages\. Please try again in [1-4] seconds?\.$"))
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "false")
    expect(bubble.locator("form")).to_have_count(0)
    assert stored_feedback(limited_url, page) == [{"rating": "up", "comment": ""}]
    assert [e["rating"] for e in page.evaluate("rated")] == ["up"]
    page.wait_for_timeout(4_500)
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(error).to_have_count(0)
    expect(bubble.locator("form textarea")).to_be_focused()
    assert stored_feedback(limited_url, page) == [{"rating": "down", "comment": ""}]


def test_a_comment_lost_to_the_network_stays_in_the_box_for_another_try(page: Page, base_url: str) -> None:
    chat = open_widget(page, locale="fr")
    bubble = chat.ask("Livrez-vous ?")
    _, down = thumbs(bubble)
    expect(down).to_have_attribute("aria-label", "Pas utile")
    down.click()
    box = bubble.locator("form textarea")
    box.fill("La réponse était fausse.")
    page.route("**/feedback", lambda route: route.abort())
    bubble.locator("form button", has_text="Envoyer").click()
    error = bubble.locator("[part=feedback] [role=alert]")
    expect(error).to_have_text(re.compile(r"^Impossible de joindre le service de chat\."))
    expect(box).to_have_value("La réponse était fausse.")
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": ""}]
    page.unroute("**/feedback")
    bubble.locator("form button", has_text="Envoyer").click()
    expect(bubble.locator("form")).to_have_count(0)
    expect(error).to_have_count(0)
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": "La réponse était fausse."}]


def test_an_interrupted_answer_without_an_id_has_no_thumbs(page: Page) -> None:
    chat = open_widget(page)
    chat.send("Please tell me everything about your croissants " * 3)
    expect(chat.assistant).to_have_count(2)
    chat.stop_button.click()
    chat.wait_idle()
    expect(chat.assistant.last.locator(".note")).to_have_text("(answer interrupted)")
    expect(chat.host.locator("[part=feedback]")).to_have_count(0)


def test_a_hostile_comment_is_sent_as_text(page: Page, base_url: str) -> None:
    chat = open_widget(page)
    bubble = chat.ask("Hi")
    thumbs(bubble)[1].click()
    bubble.locator("form textarea").fill('<img src=x onerror="window.__xss=1">')
    bubble.locator("form button", has_text="Send").click()
    expect(bubble.locator("form")).to_have_count(0)
    assert chat.host.locator("img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("rated")[-1]["comment"] == '<img src=x onerror="window.__xss=1">'
    stored = stored_feedback(base_url, page)[0]
    assert stored["rating"] == "down" and "<img" not in stored["comment"]


@pytest.mark.parametrize("locale", sorted(LABELS))
def test_the_thumbs_speak_every_locale(page: Page, locale: str) -> None:
    scripted(page, [answer("Paris")])
    chat = open_widget(page, locale=locale)
    up, down = thumbs(chat.ask("?"))
    expect(up).to_have_attribute("aria-label", LABELS[locale][0])
    expect(down).to_have_attribute("aria-label", LABELS[locale][1])
    expect(chat.host.locator("[part=feedback]")).to_have_attribute("aria-label", LABELS[locale][2])


def test_the_comment_box_leaves_focus_where_the_visitor_went_meanwhile(page: Page, base_url: str) -> None:
    chat = open_widget(page)
    bubble = chat.ask("Is the rye bread sourdough?")
    _, down = thumbs(bubble)
    held = []
    page.route("**/feedback", lambda route: held.append(route))  # held here, as on a slow network
    down.click()
    # While it travels the visitor goes back to the message box and writes the next question.
    chat.input.click()
    page.keyboard.type("And the spelt")
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()
    comment = bubble.locator("form textarea")
    expect(comment).to_be_visible()
    expect(down).to_have_attribute("aria-pressed", "true")
    assert chat.focused_part() == "input"
    page.keyboard.type(" bread?")
    expect(chat.host.locator("[part=input]")).to_have_value("And the spelt bread?")
    expect(comment).to_have_value("")
    # Sending the comment later from the box itself still returns focus to the thumb.
    page.unroute("**/feedback")
    comment.fill("Too short")
    bubble.locator("form button", has_text="Send").click()
    expect(bubble.locator("form")).to_have_count(0)
    expect(down).to_be_focused()
    assert stored_feedback(base_url, page) == [{"rating": "down", "comment": "Too short"}]
