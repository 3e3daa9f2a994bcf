"""The main states of the widget, rendered and saved as pictures.

With CHATKIT_SCREENSHOTS=1 the pictures replace those in docs/img/; otherwise they go to a
temporary folder, and the test still checks every state renders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.server import running_server
from tests.widget.helpers import Chat, server_config

pytestmark = pytest.mark.browser

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

# (file, page, viewport, question, answer, open the launcher first)
STATES = [
    ("light.png", "/", (1100, 760), "Do you have sourdough today?",
     "Yes! Our **country sourdough** comes out of the oven at 7:00, 11:00 and 15:00.\n\n"
     "Also on the shelves today:\n\n- Rye & seed loaf (wheat-free)\n- Cardamom buns\n- Butter croissants\n\n"
     "You can reserve a loaf by phone or see the [full menu](https://crumbandcrust.example/menu).", True),
    ("dark.png", "/examples/themed.html", (1100, 760), "How do I track my cake order?",
     "Use the code from your confirmation email, for example `CAKE-2041`:\n\n1. Open **My orders**\n"
     "2. Paste the code\n3. Press *Track*\n\nThe night desk answers until 22:00.", True),
    ("rtl.png", "/examples/rtl.html", (900, 760), "هل لديكم خبز طازج اليوم؟",
     "نعم! نخبز **خبز العجين المخمّر** كل صباح.\n\n- الكرواسون بالزبدة\n- كعك الهيل\n\n"
     "نفتح من الثلاثاء إلى الأحد.", False),
    ("mobile.png", "/", (375, 667), "How early should I order a birthday cake?",
     "We need **72 hours\u2019 notice** for most celebration cakes. Vegan and gluten-free options are "
     "available, and delivery within 5 km is free.", True),
]


@pytest.fixture(scope="module")
def showcase_url() -> Iterator[str]:
    with running_server(server_config(replies=[state[4] for state in STATES], chunk_chars=40)) as url:
        yield url


def test_screenshots_of_the_main_states(browser: Browser, showcase_url: str, tmp_path: Path) -> None:
    folder = DOCS_IMG if os.environ.get("CHATKIT_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    for name, path, (width, height), question, _, click in STATES:
        phone = width < 640
        context = browser.new_context(base_url=showcase_url, viewport={"width": width, "height": height},
                                      is_mobile=phone, has_touch=phone, reduced_motion="reduce")
        page = context.new_page()
        page.goto(path)
        chat = Chat(page)
        if click:
            chat.launcher.click()
        chat.ask(question)
        page.evaluate("document.querySelector('.chatkit-host').shadowRoot.activeElement?.blur()")
        page.screenshot(path=folder / name)
        context.close()
        assert (folder / name).stat().st_size > 10_000
