"""Streamed deltas are sanitized on the fly, add up to the final message, and cost linear work."""

import pytest

from chatkit_core.builtins.sanitizer import clean_markup
from chatkit_core.chat.sanitize import StreamCleaner
from tests.security.conftest import active_parts

PARAGRAPH = "Here is **bold** text, a < b, `<div>` as code & more words to fill the line. "
TEXTS = [
    "\n\n".join([PARAGRAPH * 2] * 20),
    "Try this:\n\n```html\n<script>alert(1)</script>\n\n<b>still code</b>\n```\n\nDone. I <3 bread",
    "Hello <scr" + "ipt>alert(1)</script> there [link](javascript:alert(1)) and [ok](https://example.com)",
    "ends inside a fence\n```\n<div>",
]


def stream(text: str, size: int, clean=clean_markup) -> tuple[str, str]:
    cleaner = StreamCleaner(clean)
    streamed = "".join(cleaner.feed(text[i : i + size]) for i in range(0, len(text), size))
    final = cleaner.finish()
    return streamed + cleaner.rest(final), final


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("size", [1, 3, 8, 64])
def test_deltas_add_up_to_the_final_message(text, size):
    streamed, final = stream(text, size)
    assert streamed == final == clean_markup(text)
    assert active_parts(streamed) == []


def test_settled_paragraphs_are_not_cleaned_again():
    cleaned_chars = 0

    def counting(text: str) -> str:
        nonlocal cleaned_chars
        cleaned_chars += len(text)
        return clean_markup(text)

    text = TEXTS[0]
    stream(text, 8, counting)
    deltas = len(text) // 8
    # Without settling, every delta would re-clean everything so far: about deltas * len / 2.
    assert cleaned_chars < 4 * len(text) + deltas * 2 * len(PARAGRAPH * 2)
    assert cleaned_chars < deltas * len(text) / 8
