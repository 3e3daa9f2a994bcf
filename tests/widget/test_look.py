"""Theming, right-to-left layout, contrast, keyboard use, phones, several widgets and a strict CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.widget.helpers import Chat, blank_page, init, quoted

pytestmark = pytest.mark.browser

WHITE = "rgb(255, 255, 255)"
DARK_BG = "rgb(22, 24, 29)"

# Every text colour against the background it sits on, as CSS variables of the widget.
TEXT_PAIRS = [("--fg", "--bg"), ("--fg", "--ab"), ("--mu", "--bg"), ("--mu", "--ab"), ("--af", "--a"),
              ("--ln", "--bg"), ("--ln", "--ab"), ("--er", "--eb")]

RESOLVE = """names => {
    const root = document.querySelector('.chatkit-host').shadowRoot.querySelector('.ck');
    const probe = document.createElement('span');
    root.append(probe);
    const out = {};
    for (const name of names) {
        probe.style.color = `var(${name})`;
        out[name] = getComputedStyle(probe).color.match(/[\\d.]+/g).slice(0, 3).map(Number);
    }
    probe.remove();
    return out;
}"""


def contrast(a: list[float], b: list[float]) -> float:
    def luminance(rgb: list[float]) -> float:
        linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def panel_background(page: Page) -> str:
    return Chat(page).panel.evaluate("p => getComputedStyle(p).backgroundColor")


@pytest.mark.parametrize(("theme", "scheme", "background"), [
    ("light", "dark", WHITE), ("dark", "light", DARK_BG), ("auto", "light", WHITE), ("auto", "dark", DARK_BG)])
def test_themes_follow_the_option_and_the_system_setting(
        page: Page, theme: str, scheme: str, background: str) -> None:
    page.emulate_media(color_scheme=scheme)
    blank_page(page)
    init(page, endpoint="", theme=theme)
    page.evaluate("chats[0].open()")
    assert panel_background(page) == background


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(page: Page, theme: str) -> None:
    blank_page(page)
    init(page, endpoint="", theme=theme)
    colours = page.evaluate(RESOLVE, sorted({name for pair in TEXT_PAIRS for name in pair}))
    ratios = {f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2) for fg, bg in TEXT_PAIRS}
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios


def test_site_colours_and_parts_restyle_the_widget(page: Page) -> None:
    page.goto("/examples/themed.html")
    chat = Chat(page)
    chat.launcher.click()
    header = chat.host.locator("[part=header]")
    assert header.evaluate("h => getComputedStyle(h).backgroundColor") == "rgb(15, 118, 110)"
    assert panel_background(page) == "rgb(23, 27, 33)"
    assert chat.launcher.evaluate("b => getComputedStyle(b).borderRadius") == "14px"
    launcher, viewport = chat.launcher.bounding_box(), page.viewport_size
    assert launcher["x"] < 40 and launcher["y"] > viewport["height"] - 100
    panel = chat.panel.bounding_box()
    assert panel["x"] < 40


def test_arabic_is_translated_and_laid_out_right_to_left(page: Page) -> None:
    page.goto("/examples/rtl.html")
    chat = Chat(page)
    root = chat.host.locator(".ck")
    expect(root).to_have_attribute("dir", "rtl")
    expect(root).to_have_attribute("lang", "ar")
    assert chat.panel.evaluate("p => getComputedStyle(p).direction") == "rtl"
    expect(chat.input).to_have_attribute("placeholder", "اكتب رسالتك…")
    expect(chat.host.locator("[part=title]")).to_have_text("تحدث معنا")
    chat.ask("مرحبا")
    user, answer = chat.user.last.bounding_box(), chat.assistant.last.bounding_box()
    assert user["x"] < answer["x"]
    assert chat.send_button.bounding_box()["x"] < chat.input.bounding_box()["x"]


def test_keyboard_only_use(page: Page) -> None:
    page.goto("/examples/snippet.html")
    chat = Chat(page)
    for _ in range(10):
        page.keyboard.press("Tab")
        if chat.focused_part() == "launcher":
            break
    assert chat.focused_part() == "launcher"
    outline = chat.launcher.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    expect(chat.panel).to_be_visible()
    assert chat.focused_part() == "input"
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    expect(chat.input).to_have_value("line one\nline two")
    page.keyboard.press("Enter")
    expect(chat.user.last).to_have_text("You: line one\nline two")
    chat.wait_idle()
    # Tab stays inside the open dialog.
    parts = []
    for _ in range(14):
        page.keyboard.press("Tab")
        parts.append(chat.focused_part())
    assert None not in parts
    assert {"new-chat", "close", "input", "send"} <= set(parts)
    page.keyboard.press("Escape")
    expect(chat.panel).to_be_hidden()
    assert chat.focused_part() == "launcher"


def test_focus_returns_to_where_it_was(page: Page) -> None:
    page.goto("/examples/snippet.html")
    chat = Chat(page)
    page.locator("a").first.focus()
    page.evaluate("ChatKit.instances[0].open()")
    assert chat.focused_part() == "input"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.textContent") == "← Examples"


def test_phone_layout_fills_the_screen(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 375, "height": 667}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto("/")
    chat = Chat(page)
    chat.launcher.tap()
    expect(chat.panel).to_be_visible()
    chat.panel.evaluate("p => Promise.all(p.getAnimations().map(a => a.finished))")
    assert chat.panel.bounding_box() == {"x": 0, "y": 0, "width": 375, "height": 667}
    expect(chat.launcher).to_be_hidden()
    composer = chat.host.locator("[part=composer]").bounding_box()
    assert composer["y"] + composer["height"] <= 667
    assert chat.input.evaluate("t => getComputedStyle(t).fontSize") == "16px"
    chat.ask("Open on Monday?")
    expect(chat.assistant.last).to_be_in_viewport()
    # An on-screen keyboard shrinks the visual viewport; the panel follows it.
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 2})
    page.wait_for_function("""() => {
        const panel = document.querySelector('.chatkit-host').shadowRoot.querySelector('[part=panel]');
        const box = panel.getBoundingClientRect();
        return visualViewport.height < 400 && Math.abs(box.height - visualViewport.height) < 1
            && Math.abs(box.top - visualViewport.offsetTop) < 1;
    }""")
    cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 1})
    chat.host.locator("[part=close]").tap()
    expect(chat.launcher).to_be_visible()
    context.close()


def test_two_widgets_on_one_page_are_independent(page: Page) -> None:
    blank_page(page)
    add_boxes(page)
    init(page, endpoint="", target="#first", title="First")
    init(page, endpoint="", target="#second", title="Second", locale="fr")
    first, second = Chat(page, 0), Chat(page, 1)
    first.input.fill("typed in the first")
    expect(second.input).to_have_value("")
    page.evaluate("Promise.all([chats[0].sendMessage('alpha'), chats[1].sendMessage('beta')])")
    expect(first.assistant.last.locator(".body")).to_have_text(quoted("alpha"))
    expect(second.assistant.last.locator(".body")).to_have_text(quoted("beta"))
    expect(first.user).to_have_count(1)
    expect(second.user).to_have_count(1)
    expect(second.input).to_have_attribute("placeholder", "Écrivez votre message…")
    page.reload()
    blank_page(page)
    add_boxes(page)
    init(page, endpoint="", target="#first")
    init(page, endpoint="", target="#second")
    expect(first.user).to_have_text(["You: alpha"])
    expect(second.user).to_have_text(["You: beta"])


def test_works_under_a_strict_content_security_policy(page: Page) -> None:
    page.add_init_script("""window.violations = [];
        document.addEventListener('securitypolicyviolation', e => violations.push(e.violatedDirective));""")
    page.goto("/examples/csp.html")
    chat = Chat(page)
    assert chat.launcher.evaluate("b => getComputedStyle(b).position") == "fixed"
    chat.launcher.click()
    answer = chat.ask("**Strict** pages?")
    expect(answer.locator("strong")).to_have_text("Strict")
    assert chat.panel.evaluate("p => getComputedStyle(p).borderRadius") == "14px"  # the site's --chatkit-radius
    assert page.evaluate("violations") == []


def test_reduced_motion_turns_animation_off(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, reduced_motion="reduce")
    page = context.new_page()
    page.goto("/examples/snippet.html")
    chat = Chat(page)
    chat.launcher.click()
    assert chat.panel.evaluate("p => getComputedStyle(p).animationName") == "none"
    assert chat.launcher.evaluate("b => getComputedStyle(b).transitionDuration") == "0s"
    context.close()


def add_boxes(page: Page) -> None:
    page.evaluate("""() => { for (const id of ['first', 'second']) {
        const box = Object.assign(document.createElement('div'), {id, className: 'chat-box'});
        document.body.append(box);
    } }""")


def test_inline_and_full_page_fill_their_space(page: Page) -> None:
    page.goto("/examples/inline.html")
    target = page.locator("#support-chat").bounding_box()
    expect(Chat(page).panel).to_be_visible()
    assert Chat(page).panel.bounding_box() == target
    expect(Chat(page).panel).to_have_attribute("role", "region")
    expect(Chat(page).launcher).to_have_count(0)
    page.goto("/examples/fullpage.html")
    assert Chat(page).panel.bounding_box() == {"x": 0, "y": 0, "width": 1280, "height": 800}
