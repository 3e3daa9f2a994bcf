"""The extractive provider: the site's own sentences with a link, or a plain "not found"."""

from __future__ import annotations

from pathlib import Path

import pytest
from chatkit_knowledge.build import build
from chatkit_knowledge.extractive import ExtractiveOptions, ExtractiveProvider, compose
from chatkit_knowledge.options import SqliteOptions
from litestar.testing import AsyncTestClient

from chatkit_core.chat.providers import ChatMessage, ChatRequest
from chatkit_core.http.app import create_app
from chatkit_core.models import Passage
from chatkit_core.platform.assembly import build_runtime
from tests.core.conftest import config_from, new_session
from tests.fakes.server import closed_port_url

HOURS = Passage(text="We bake from 5:00. On Sunday we open from 8:00 to 13:00. Parking is behind the shop.",
                title="Opening hours", url="/hours.html#sunday", score=0.9)


def ask(question: str, passages: list[Passage], locale: str = "", **keys) -> str:
    request = ChatRequest(messages=[ChatMessage("user", question)], passages=passages, locale=locale)
    return compose(request, ExtractiveOptions(type="extractive", **keys))


def test_the_answer_quotes_the_best_sentences_and_cites_the_page():
    answer = ask("When do you open on Sunday?", [HOURS], sentences=1)
    assert answer == "On Sunday we open from 8:00 to 13:00.\n\nSource: [Opening hours](/hours.html#sunday) [1]"
    two = ask("Sunday parking?", [HOURS])
    assert two.startswith("On Sunday we open from 8:00 to 13:00. Parking is behind the shop.")


def test_nothing_found_is_said_in_the_visitors_language_with_the_contact_line():
    assert ask("Do you sell gift cards?", []) == "I could not find that on this site."
    assert ask("¿Venden tarjetas regalo?", []) == "No he encontrado eso en este sitio."
    assert ask("Vendez-vous des cartes cadeaux ?", []) == "Je n'ai pas trouvé cela sur ce site."
    assert ask("Habt ihr Gutscheine?", []) == "Das habe ich auf dieser Website nicht gefunden."
    assert ask("你们有礼品卡吗？", []) == "我在本网站上没有找到相关信息。"  # noqa: RUF001
    assert ask("هل لديكم بطاقات هدايا؟", []) == "لم أجد ذلك في هذا الموقع."
    assert ask("gift cards?", [], locale="fr-CA") == "Je n'ai pas trouvé cela sur ce site."
    assert ask("gift cards?", [], contact="Call 01 23 45 67 89.") == (
        "I could not find that on this site.\n\nCall 01 23 45 67 89.")


async def test_it_streams_in_small_chunks():
    provider = ExtractiveProvider("site", ExtractiveOptions(type="extractive", chunk_chars=10))
    request = ChatRequest(messages=[ChatMessage("user", "Sunday?")], passages=[HOURS])
    chunks = [chunk async for chunk in provider.stream(request)]
    text = "".join(chunk.text for chunk in chunks)
    assert text == compose(request, provider.options)
    assert all(len(chunk.text) <= 10 for chunk in chunks) and len(chunks) > 5


def config(index: Path, web: Path) -> str:
    return f"""
[chain]
order = ["local", "site"]
retries = 0
[providers.local]
type = "ollama"
base_url = "{closed_port_url()}"
[providers.site]
type = "extractive"
contact = "Ask us at the counter."
[rate_limit]
type = "none"
[knowledge]
type = "sqlite"
sources = ["{web}"]
path = "{index}"
"""


@pytest.fixture
def bakery(tmp_path: Path) -> str:
    web = tmp_path / "web"
    web.mkdir()
    (web / "hours.html").write_text("<title>Opening hours</title><main><h2 id='sunday'>Sunday</h2>"
                                    "<p>On Sunday we open from 8:00 to 13:00.</p></main>")
    (web / "tricky.html").write_text("<title>Tricky &lt;b&gt;</title><main><p>Our cheesecake recipe: "
                                     "&lt;img src=x onerror=alert(1)&gt; and [a link](javascript:alert(1)).</p></main>")
    text = config(tmp_path / "index.sqlite3", web)
    knowledge = config_from(text).knowledge
    build(SqliteOptions(**{k: v for k, v in knowledge.items()}))
    return text


async def test_without_a_model_the_chain_falls_back_to_the_sites_own_words(bakery):
    async with AsyncTestClient(create_app(build_runtime(config_from(bakery))), raise_server_exceptions=False) as client:
        session = await new_session(client)
        reply = (await client.post("/api/chat", json={"sessionId": session, "message": "Are you open on Sunday?"}))
        message = reply.json()["message"]
        assert message["provider"] == "site"
        assert message["content"].startswith("On Sunday we open from 8:00 to 13:00.")
        assert message["sources"] == [{"title": "Opening hours \u203a Sunday", "url": "/hours.html#sunday"}]
        missing = await client.post("/api/chat", json={"sessionId": session, "message": "Any job vacancies?",
                                                       "stream": True})
        assert "I could not find that on this site.\\n\\nAsk us at the counter." in missing.text
        assert '"sources":[]' in missing.text.split("event: done")[1]


async def test_page_text_reaches_visitors_only_through_the_output_sanitizer(bakery):
    async with AsyncTestClient(create_app(build_runtime(config_from(bakery))), raise_server_exceptions=False) as client:
        session = await new_session(client)
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "cheesecake recipe"})
        message = reply.json()["message"]
    assert "cheesecake recipe" in message["content"]
    assert "<img" not in message["content"] and "javascript:" not in message["content"].replace("\\", "")
    assert message["sources"][0]["url"] == "/tricky.html"
