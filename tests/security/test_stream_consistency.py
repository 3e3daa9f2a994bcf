"""Streamed deltas add up to exactly the final ``done`` content, for answers whose markup,
entities, fences and links are split across chunks anywhere, in-process and on a real server."""

from __future__ import annotations

import json

import httpx
import pytest

from chatkit_core.builtins.sanitizer import clean_markup
from chatkit_core.chat.sanitize import StreamCleaner
from tests.security.conftest import PAYLOADS, active_parts, canned, sse_events
from tests.support.server import running_server

TRICKY = [
    "Use <b>bold</b> and <i>italics</i> sparingly.",
    "a < b and b > c, x && y, 1 &lt; 2 &amp; 3 &gt; 2",
    "Entities: &copy; &#169; &#xA9; &nbsp;&amp; and a bare & sign &unknown; &am",
    "Inline `<div>` and `a && b` code, then <span>gone</span>.",
    "```html\n<div class=\"card\">\n  <p>Hi & bye</p>\n</div>\n```\nAfter the fence <em>x</em>.",
    "~~~\n<script>alert(1)</script>\n~~~\n\nNext paragraph.",
    "Start `code with <tags> inside` end, and `unclosed <b>tick",
    "See [the docs](https://example.com/docs?a=1&b=2) and [mail](mailto:a@example.com).",
    "![chart](https://example.com/c.png) then [ref][1]\n\n[1]: https://example.com",
    "Nested [[a](b)](c) and [x](javascript:alert(1)) and [y]( java\nscript:alert(1))",
    "Para one.\n\nPara two with <b>bold\n\nstill</b> going.\n\nThree.",
    "Emoji 👨‍👩‍👧 and ünïcödé <3 and 3 > 2 <= 4",
    "<p>Para</p><p>Another <a href=\"x\">link</a></p><!-- comment --> tail",
    "Table:\n\n| a | b |\n|---|---|\n| <i>1</i> | [2](https://x.example) |\n",
    "```\nunclosed fence with <tags> & things\nthat runs to the end",
    "Math: if x<y and y>z then x<z; arrows <- and -> and <=>.",
    "Trailing markup <",
    "Trailing entity &lt",
    "Trailing link [text](https://exa",
    "Bang! Wow!! [not an image] !",
]


def streamed(text: str, size: int) -> tuple[str, str]:
    cleaner = StreamCleaner(clean_markup)
    joined = "".join(cleaner.feed(text[index:index + size]) for index in range(0, len(text), size))
    final = cleaner.finish()
    return joined + cleaner.rest(final), final


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("text", TRICKY + PAYLOADS)
def test_deltas_add_up_to_the_final_content(text: str, size: int) -> None:
    joined, final = streamed(text, size)
    assert joined == final
    assert active_parts(final) == []


def test_on_a_real_server_deltas_done_and_history_agree() -> None:
    answers = TRICKY + [p for p in PAYLOADS[::5] if not any("\ud800" <= c <= "\udfff" for c in p)]  # TOML-safe
    with running_server(canned(answers, chunk_chars=3)) as url:
        session = httpx.post(f"{url}/api/create-session").json()["sessionId"]
        for _ in answers:
            response = httpx.post(f"{url}/api/chat", json={"sessionId": session, "message": "hi", "stream": True},
                                  timeout=30)
            events = sse_events(response.text)
            deltas = "".join(data["text"] for name, data in events if name == "delta")
            assert events[-1][0] == "done", response.text
            assert deltas == events[-1][1]["message"]["content"], json.dumps(events)[:500]
        history = httpx.get(f"{url}/api/session/{session}/messages").json()["messages"]
    assert len([m for m in history if m["role"] == "assistant"]) == len(answers)
