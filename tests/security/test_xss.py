"""The XSS corpus, as visitor messages and as model output: nothing active is stored or sent."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chatkit_core.builtins.sanitizer import clean_markup
from tests.security.conftest import PAYLOADS, active_parts, canned, new_session, sse_events


def test_the_corpus_is_large_and_the_check_sees_its_markup() -> None:
    assert len(PAYLOADS) >= 300
    raw_active = [payload for payload in PAYLOADS if active_parts(payload)]
    assert len(raw_active) > 0.8 * len(PAYLOADS)


def test_every_payload_cleans_to_inert_text() -> None:
    dirty = {payload: found for payload in PAYLOADS if (found := active_parts(clean_markup(payload)))}
    assert dirty == {}


async def test_payloads_sent_by_visitors_are_stored_and_returned_inert(make_client) -> None:
    async with make_client(canned()) as client:
        session = await new_session(client)
        answered = 0
        for payload in PAYLOADS:
            response = await client.post("/api/chat", json={"sessionId": session, "message": payload})
            assert response.status_code in (200, 400), response.text  # 400: nothing left once markup went
            if response.status_code == 200:
                answered += 1
                assert active_parts(response.json()["message"]["content"]) == []
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    assert answered > 100 and len(history) == 2 * answered
    assert {m["id"]: found for m in history if (found := active_parts(m["content"]))} == {}


async def test_payloads_answered_by_the_model_are_inert_whole_and_streamed(make_client) -> None:
    async with make_client(canned(replies=PAYLOADS, chunk_chars=3)) as client:
        session = await new_session(client)
        for index, _ in enumerate(PAYLOADS):
            if index % 2:
                response = await client.post("/api/chat", json={"sessionId": session, "message": "hi"})
                assert active_parts(response.json()["message"]["content"]) == []
                continue
            response = await client.post("/api/chat", json={"sessionId": session, "message": "hi", "stream": True})
            events = sse_events(response.text)
            assert events[0][0] == "start" and events[-1][0] == "done", response.text
            deltas = [data["text"] for name, data in events if name == "delta"]
            shown = ["".join(deltas[:n]) for n in range(1, len(deltas) + 1)]  # what a live renderer shows
            assert [text for text in shown if active_parts(text)] == []
            assert active_parts(events[-1][1]["message"]["content"]) == []
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    answers = [m for m in history if m["role"] == "assistant"]
    assert len(answers) == len(PAYLOADS)
    assert [m["content"] for m in answers if active_parts(m["content"])] == []


HARMLESS = [
    "a < b and b > c",
    "x && y || z",
    "Use `<div>` for blocks and `<span>` inline.",
    "```html\n<div class=\"card\">\n  <p>Hi</p>\n</div>\n```",
    "I <3 sourdough",
    "See [the menu](https://bakery.example/menu) or [write to us](mailto:hello@bakery.example).",
    "Tom & Jerry's \"cafe\"",
    "1 < 2 > 0 & 3 <= 4",
]


@pytest.mark.parametrize("text", HARMLESS)
async def test_harmless_text_keeps_its_meaning_both_ways(make_client, text: str) -> None:
    async with make_client(canned(replies=[text])) as client:
        session = await new_session(client)
        response = await client.post("/api/chat", json={"sessionId": session, "message": text})
        stream = await client.post("/api/chat", json={"sessionId": session, "message": text, "stream": True})
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    events = sse_events(stream.text)
    deltas = "".join(data["text"] for name, data in events if name == "delta")
    streamed = events[-1][1]["message"]["content"]
    for content in (history[0]["content"], response.json()["message"]["content"], streamed):
        assert content == text
        assert active_parts(content) == []
    # A tail that might still have become markup is held back; the done message completes it.
    assert streamed.startswith(deltas) and active_parts(deltas) == []


PIECES = ["<", ">", "&", "\"", "'", "=", "/", ":", "[", "]", "(", ")", "!", "`", "```", "~~~", "\n", " ", "\t",
          "script", "img", "svg", "a", "href", "src", "onerror", "javascript", "data", "vbscript", "alert(1)",
          "&#58;", "&amp;", "&lt;", "&#x6A;", "http://x.example", "mailto:a@b.example", "<!--", "-->", "\x00"]
markupish = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=40).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=markupish)
@example(text="<</")  # dropping only the "<" before "/" left "</" to drop next time
def test_any_mix_of_markup_pieces_cleans_to_inert_text(text: str) -> None:
    cleaned = clean_markup(text)
    assert active_parts(cleaned) == []
    assert clean_markup(cleaned) == cleaned


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(blacklist_characters="<>&`~[]!\r", blacklist_categories=["Cc", "Cs", "Cf"])))
def test_text_without_markup_characters_keeps_its_meaning(text: str) -> None:
    assert clean_markup(text) == text
