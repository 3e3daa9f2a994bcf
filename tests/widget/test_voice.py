"""Voice in the widget, with the browser's speech APIs replaced in the page by fakes (an init
script): the microphone fills the message box as words come and sends on a pause or a tap, in
the widget's language; answers are read aloud on request, or all of them once the visitor turns
that on (remembered); without the APIs there are no voice buttons. Every locale names them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.widget.helpers import Chat, blank_page, init, quoted

pytestmark = pytest.mark.browser

# What the page's speech APIs do is recorded: `recognizers` started (with their language), and
# what was `spoken`. `recognizer.say(words, final)` is the visitor speaking; `recognizer.pause()`
# the recognizer ending on silence; `speechSynthesis.finish()` the end of the utterance.
FAKE_SPEECH = """
window.recognizers = [];
window.spoken = [];
class FakeRecognition {
  start() {
    this.on = true;
    recognizers.push({ lang: this.lang, interim: this.interimResults });
    window.recognizer = this;
  }
  stop() { this.pause(); }
  abort() { if (this.on) this.onerror({ error: 'aborted' }); this.pause(); }
  pause() { if (!this.on) return; this.on = false; this.onend(); }
  say(words, final) {
    const result = [{ transcript: words, confidence: 0.9 }];
    result.isFinal = final;
    this.onresult({ resultIndex: 0, results: [result] });
  }
}
window.webkitSpeechRecognition = FakeRecognition;
delete window.SpeechRecognition;
window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; } };
const synth = {
  speak(said) { this.current = said; spoken.push({ text: said.text, lang: said.lang }); },
  cancel() { const said = this.current; this.current = null; said?.onerror?.({ error: 'interrupted' }); },
  finish() { const said = this.current; this.current = null; said?.onend?.({}); },
};
Object.defineProperty(window, 'speechSynthesis', { value: synth, configurable: true });
"""

NO_SPEECH = """
delete window.webkitSpeechRecognition;
delete window.SpeechRecognition;
delete window.SpeechSynthesisUtterance;
delete window.speechSynthesis;
"""

# (microphone, an answer's read-aloud button, reading every answer, attach) in each locale.
LABELS = {"en": ("Speak your message", "Read aloud", "Read answers aloud", "Attach a file"),
          "es": ("Dictar tu mensaje", "Leer en voz alta", "Leer las respuestas en voz alta", "Adjuntar un archivo"),
          "fr": ("Dicter votre message", "Lire à voix haute", "Lire les réponses à voix haute", "Joindre un fichier"),
          "de": ("Nachricht sprechen", "Vorlesen", "Antworten vorlesen", "Datei anhängen"),
          "zh": ("语音输入消息", "朗读", "朗读所有回答", "添加附件"),
          "ar": ("تحدّث لكتابة رسالتك", "القراءة بصوت عالٍ", "قراءة الإجابات بصوت عالٍ", "إرفاق ملف")}


def speaking_page(page: Page, **options) -> Chat:
    page.add_init_script(FAKE_SPEECH)
    blank_page(page)
    init(page, endpoint="", **options)
    page.evaluate("chats[0].open()")
    return Chat(page)


def mic(chat: Chat):
    return chat.host.locator("[part=mic]")


def read_all(chat: Chat):
    return chat.host.locator("[part=read-aloud]")


def test_the_microphone_fills_the_message_as_words_come_and_sends_on_a_pause(page: Page) -> None:
    chat = speaking_page(page, locale="fr-CA")
    expect(mic(chat)).to_have_attribute("aria-pressed", "false")
    mic(chat).click()
    expect(mic(chat)).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("recognizers") == [{"lang": "fr-CA", "interim": True}]
    page.evaluate("recognizer.say('Avez-vous', false)")
    expect(chat.input).to_have_value("Avez-vous")
    page.evaluate("recognizer.say('Avez-vous du pain', true)")
    expect(chat.input).to_have_value("Avez-vous du pain")
    expect(chat.user).to_have_count(0)
    page.evaluate("recognizer.pause()")
    expect(chat.user.last).to_contain_text("Avez-vous du pain")
    expect(chat.assistant.last.locator(".body")).to_have_text(quoted("Avez-vous du pain"))
    expect(chat.input).to_have_value("")
    expect(mic(chat)).to_have_attribute("aria-pressed", "false")


def test_a_tap_sends_what_was_heard_after_what_was_typed_and_silence_sends_nothing(page: Page) -> None:
    chat = speaking_page(page)
    chat.input.fill("Order 12:")
    mic(chat).focus()
    page.keyboard.press("Enter")  # the keyboard works the microphone too
    page.evaluate("recognizer.say('where is it', false)")
    expect(chat.input).to_have_value("Order 12: where is it")
    page.keyboard.press("Enter")
    expect(chat.assistant.last.locator(".body")).to_have_text(quoted("Order 12: where is it"))
    chat.wait_idle()
    mic(chat).click()
    page.evaluate("recognizer.onerror({error: 'no-speech'}); recognizer.pause()")
    expect(mic(chat)).to_have_attribute("aria-pressed", "false")
    expect(chat.user).to_have_count(1)


# What a recognizer's errors tell the visitor, in each locale: (not allowed, nothing heard).
MIC_ERRORS = {"en": ("No microphone allowed: check your browser.", "Nothing heard. Please try again."),
              "es": ("Micrófono no permitido: revisa el navegador.", "No se oyó nada. Inténtalo de nuevo."),
              "fr": ("Micro non autorisé : vérifiez le navigateur.", "Rien entendu. Réessayez."),
              "de": ("Kein Mikrofon erlaubt: bitte Browser prüfen.", "Nichts gehört. Bitte noch einmal."),
              "zh": ("麦克风未获允许。", "没有听到声音，请重试。"),  # noqa: RUF001
              "ar": ("الميكروفون غير مسموح به.", "لم نسمع شيئًا. حاول مرة أخرى.")}


@pytest.mark.parametrize("locale", MIC_ERRORS)
def test_a_microphone_error_is_said_in_the_visitors_language_and_the_button_resets(page: Page, locale: str) -> None:
    chat = speaking_page(page, locale=locale)
    alert = chat.host.locator("[part=attachments] [role=alert]")  # role=alert: read out as it changes
    blocked, unheard = MIC_ERRORS[locale]
    expect(alert).to_be_hidden()
    mic(chat).click()
    page.evaluate("recognizer.onerror({error: 'not-allowed'}); recognizer.pause()")
    expect(alert).to_have_text(blocked)
    expect(alert).to_be_visible()
    expect(mic(chat)).to_have_attribute("aria-pressed", "false")
    mic(chat).click()  # a new try clears the message
    expect(alert).to_have_text("")
    expect(mic(chat)).to_have_attribute("aria-pressed", "true")
    page.evaluate("recognizer.say('hello', false); recognizer.onerror({error: 'no-speech'}); recognizer.pause()")
    expect(alert).to_have_text(unheard)
    expect(mic(chat)).to_have_attribute("aria-pressed", "false")
    expect(chat.user).to_have_count(0)  # words cut short by an error are not sent
    mic(chat).click()
    page.evaluate("recognizer.onerror({error: 'network'}); recognizer.pause()")
    expect(alert).not_to_have_text(unheard)
    expect(alert).not_to_have_text("")
    mic(chat).click()
    chat.host.locator("[part=new-chat]").click()  # stopped by the widget (aborted): nothing to say
    expect(alert).to_have_text("")
    expect(mic(chat)).to_have_attribute("aria-pressed", "false")


def test_an_answer_is_read_aloud_on_request_and_stops_when_pressed_again(page: Page) -> None:
    chat = speaking_page(page, locale="de")
    answer = chat.ask("Brot?")
    read = answer.get_by_role("button", name="Vorlesen")
    expect(read).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("spoken") == []  # off by default
    read.click()
    expect(read).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("spoken") == [{"text": quoted("Brot?"), "lang": "de"}]
    read.click()
    expect(read).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("speechSynthesis.current") is None
    read.click()
    page.evaluate("speechSynthesis.finish()")
    expect(read).to_have_attribute("aria-pressed", "false")


def test_reading_every_answer_is_off_until_turned_on_and_remembered(page: Page) -> None:
    chat = speaking_page(page)
    expect(read_all(chat)).to_have_attribute("aria-pressed", "false")
    chat.ask("first")
    assert page.evaluate("spoken") == []
    read_all(chat).click()
    expect(read_all(chat)).to_have_attribute("aria-pressed", "true")
    chat.ask("second")
    page.wait_for_function("spoken.length === 1")
    assert page.evaluate("spoken[0].text") == quoted("second")
    expect(chat.assistant.last.locator("[part=read]")).to_have_attribute("aria-pressed", "true")
    page.reload()
    chat = speaking_page(page)
    expect(read_all(chat)).to_have_attribute("aria-pressed", "true")
    read_all(chat).click()
    chat.ask("third")
    assert page.evaluate("spoken") == []


def test_no_voice_buttons_without_the_speech_apis(page: Page) -> None:
    page.add_init_script(NO_SPEECH)
    blank_page(page)
    assert page.evaluate("['webkitSpeechRecognition', 'SpeechRecognition', 'speechSynthesis'].some(n => n in window)") \
        is False
    init(page, endpoint="")
    page.evaluate("chats[0].open()")
    chat = Chat(page)
    answer = chat.ask("hello")
    expect(answer.locator("[part=feedback]")).to_be_visible()
    expect(chat.host.locator("[part=mic], [part=read], [part=read-aloud]")).to_have_count(0)


@pytest.mark.parametrize("locale", sorted(LABELS))
def test_every_locale_names_the_voice_and_attach_buttons(page: Page, locale: str) -> None:
    microphone, read, every, attach = LABELS[locale]
    chat = speaking_page(page, locale=locale)
    expect(mic(chat)).to_have_accessible_name(microphone)
    expect(read_all(chat)).to_have_accessible_name(every)
    expect(chat.host.locator("[part=attach]")).to_have_attribute("aria-label", attach)
    expect(chat.ask("hi").locator("[part=read]")).to_have_accessible_name(read)
