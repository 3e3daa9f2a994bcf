"""Visitors attach files in the widget: the attach button when the server takes uploads, a
preview that can be removed before sending, errors in the visitor's language, the file reaching
the model upstream (the fake Ollama server, speaking the real protocol) and the note of what the
model used."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Script
from tests.support.server import running_server, with_site
from tests.uploads.conftest import CORPUS
from tests.widget.helpers import GENEROUS_LIMITS, Chat, blank_page, init

pytestmark = pytest.mark.browser

PHOTO = CORPUS / "photo-gps.jpg"
INVOICE = CORPUS / "invoice-javascript.pdf"


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["llava", "llama3.2"], vision=["llava"]) as fake:
        fake.default = Script(text="A brass hinge.")
        yield fake


def served(ollama: FakeOllama, model: str, inputs: str) -> str:
    return with_site(f"""
[chain]
order = ["local"]
retries = 0
[providers.local]
type = "ollama"
base_url = "{ollama.url}"
model = "{model}"
inputs = {inputs}
[sessions]
store = "memory"
[uploads]
enabled = true
max_per_message = 2
{GENEROUS_LIMITS}""")


@pytest.fixture(scope="module")
def vision_url(ollama: FakeOllama) -> Iterator[str]:
    with running_server(served(ollama, "llava", '["text", "image"]')) as url:
        yield url


@pytest.fixture(scope="module")
def text_url(ollama: FakeOllama) -> Iterator[str]:
    with running_server(served(ollama, "llama3.2", '["text"]')) as url:
        yield url


def open_chat(page: Page, url: str, **options) -> Chat:
    blank_page(page, url + "/examples/")
    init(page, endpoint=url, **options)
    page.evaluate("chats[0].open()")  # the widget asks whether the server takes files when first opened
    chat = Chat(page)
    expect(attach_button(chat)).to_be_visible()
    return chat


def attach_button(chat: Chat):
    return chat.host.locator("[part=attach]")


def attach(chat: Chat, *files) -> None:
    chat.host.locator("input[type=file]").set_input_files(list(files))


def chips(chat: Chat):
    return chat.host.locator("[part=attachment]")


def test_a_photo_reaches_a_vision_model_as_ollama_images(page: Page, vision_url: str, ollama: FakeOllama) -> None:
    ollama.requests.clear()
    chat = open_chat(page, vision_url)
    attach(chat, PHOTO)
    expect(chips(chat)).to_have_count(1)
    expect(chips(chat).locator("img")).to_have_attribute("src", re.compile("^data:image/jpeg;base64,"))
    expect(chips(chat)).not_to_have_attribute("aria-busy", "true")
    answer = chat.ask("What is this part?")
    expect(answer.locator(".body")).to_have_text("A brass hinge.")
    expect(chat.user.last.locator("[part=files] li")).to_have_text(["photo-gps.jpg"])
    expect(chips(chat)).to_have_count(0)
    [image] = ollama.images()
    assert image.startswith(b"\xff\xd8") and image != PHOTO.read_bytes()  # re-encoded, without its GPS position
    question = ollama.chat_requests()[-1].json["messages"][-1]
    assert question["content"] == "What is this part?" and len(question["images"]) == 1
    expect(answer.locator(".note")).to_have_count(0)


def test_a_photo_alone_is_sent_with_no_text(page: Page, vision_url: str, ollama: FakeOllama) -> None:
    ollama.requests.clear()
    chat = open_chat(page, vision_url)
    chat.input.press("Enter")  # nothing typed, nothing attached: nothing is sent
    attach(chat, PHOTO)
    expect(chips(chat)).not_to_have_attribute("aria-busy", "true")
    chat.input.press("Enter")
    answer = chat.assistant.nth(1)  # after the welcome
    expect(answer.locator(".body")).to_have_text("A brass hinge.")
    expect(chat.user).to_have_count(1)
    expect(chat.user.last.locator("[part=files] li")).to_have_text(["photo-gps.jpg"])
    expect(chips(chat)).to_have_count(0)
    question = ollama.chat_requests()[-1].json["messages"][-1]
    assert question["content"] == "" and len(question["images"]) == 1
    assert len(ollama.chat_requests()) == 1
    chat.wait_idle()
    attach(chat, PHOTO)  # the send button works the same
    expect(chips(chat)).not_to_have_attribute("aria-busy", "true")
    chat.send_button.click()
    expect(chat.assistant).to_have_count(3)
    assert len(ollama.images()) == 2


def test_a_pdfs_text_reaches_a_text_model(page: Page, text_url: str, ollama: FakeOllama) -> None:
    ollama.requests.clear()
    chat = open_chat(page, text_url)
    attach(chat, INVOICE)
    expect(chips(chat)).to_have_text("invoice-javascript.pdf")
    chat.ask("What is the total of my invoice?")
    question = ollama.chat_requests()[-1].json["messages"][-1]
    assert question["content"].startswith("What is the total of my invoice?")
    assert "Invoice 2041: total 129.00 EUR" in question["content"] and "images" not in question


def test_a_text_model_gets_no_image_and_the_visitor_is_told(page: Page, text_url: str, ollama: FakeOllama) -> None:
    ollama.requests.clear()
    chat = open_chat(page, text_url)
    attach(chat, PHOTO)
    expect(chips(chat)).not_to_have_attribute("aria-busy", "true")
    answer = chat.ask("What is this part?")
    expect(answer.locator(".note")).to_have_text("(images not used: this assistant reads text only)")
    assert ollama.images() == []


def test_a_file_removed_before_sending_is_not_sent(page: Page, text_url: str, ollama: FakeOllama) -> None:
    ollama.requests.clear()
    chat = open_chat(page, text_url)
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Serial number KX-9"}
    invoice = {"name": INVOICE.name, "mimeType": "application/pdf", "buffer": INVOICE.read_bytes()}
    attach(chat, invoice, notes)
    expect(chips(chat)).to_have_count(2)
    chat.host.get_by_role("button", name="Remove: invoice-javascript.pdf").click()
    expect(chips(chat)).to_have_text(["notes.txt"])
    expect(chat.input).to_be_focused()
    chat.ask("Which part is it?")
    content = ollama.chat_requests()[-1].json["messages"][-1]["content"]
    assert "Serial number KX-9" in content and "Invoice 2041" not in content


def test_refusals_are_in_the_visitors_language(page: Page, vision_url: str) -> None:
    chat = open_chat(page, vision_url, locale="fr")
    expect(attach_button(chat)).to_have_accessible_name("Joindre un fichier")
    alert = chat.host.locator("[part=attachments] [role=alert]")
    attach(chat, CORPUS / "script.svg")  # refused by the server, from its bytes
    expect(alert).to_have_text("Ce type de fichier ne peut pas être envoyé. Envoyez une image (PNG, JPEG, WebP), "
                               "un PDF ou un fichier texte.")
    expect(chips(chat)).to_have_count(0)
    attach(chat, {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF" + b"0" * (10 * 1024 * 1024)})
    expect(alert).to_have_text("Ce fichier est trop volumineux. Envoyez-en un de moins de 10\u00a0Mo.")
    attach(chat, PHOTO, INVOICE, CORPUS / "latin1-notes.txt")  # two per message
    expect(chips(chat)).to_have_count(2)
    expect(alert).to_have_text("Trop de fichiers. Retirez-en et réessayez.")


def test_no_attach_button_when_the_server_takes_no_files(page: Page) -> None:
    blank_page(page)
    init(page, endpoint="")
    page.evaluate("chats[0].open()")
    chat = Chat(page)
    expect(chat.input).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(attach_button(chat)).to_be_hidden()
