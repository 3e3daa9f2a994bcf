"""The core's side of grounded answers, with a throwaway retriever plugin registered in-process."""

from __future__ import annotations

import pytest

from chatkit_core import hookimpl
from chatkit_core.chat.knowledge import Retriever, RetrieverOptions, cited_sources, context_message, search_query
from chatkit_core.chat.providers import ChatRequest, Chunk, Provider, ProviderOptions
from chatkit_core.models import Passage
from chatkit_core.platform.config import ConfigError
from chatkit_core.platform.plugins import pm
from tests.core.conftest import config_from, new_session

PAGES = [
    Passage(text="We are open Monday to Saturday, 8:00 to 18:00. Closed on Sunday.", title="Opening hours",
            url="/hours.html", score=3.0),
    Passage(text="Croissant 2.40. Contains gluten, milk and butter.", title="Menu", url="/menu.html#pastries",
            score=1.0),
    Passage(text="Weak match", title="Other", url="javascript:alert(1)", score=0.1),
]
SEEN: list[ChatRequest] = []


class ListRetriever(Retriever):
    class Options(RetrieverOptions, kw_only=True, forbid_unknown_fields=True):
        fail: bool = False

    queries: list[str] = []

    async def search(self, query: str, limit: int) -> list[Passage]:
        type(self).queries.append(query)
        if self.options.fail:
            raise RuntimeError("index file is corrupt")
        return PAGES[:limit]


class EchoProvider(Provider):
    """Answers with the system messages it was given, citing passage 1."""

    Options = ProviderOptions

    async def stream(self, request: ChatRequest):
        SEEN.append(request)
        yield Chunk(text="See [1]. ")
        yield Chunk(text="Thanks")


class Plugin:
    @hookimpl
    def register_retrievers(self, register):
        register("list", ListRetriever)

    @hookimpl
    def register_providers(self, register):
        register("echo", EchoProvider)


@pytest.fixture(autouse=True)
def plugin():
    pm.register(Plugin(), name="test-knowledge")
    SEEN.clear()
    ListRetriever.queries = []
    yield
    pm.unregister(name="test-knowledge")


BASE = """
[chain]
order = ["echo"]
[providers.echo]
type = "echo"
[rate_limit]
type = "none"
[chat]
system_prompt = "You are the bakery's assistant."
"""


async def test_passages_reach_the_model_after_the_system_prompt_and_sources_come_back(make_client):
    async with make_client(BASE + '[knowledge]\ntype = "list"\ntop_k = 3\nmin_score = 0.5\n') as client:
        session = await new_session(client)
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "Open on Sunday?"})
        assert reply.status_code == 200, reply.text
        message = reply.json()["message"]
        assert message["sources"] == [{"title": "Opening hours", "url": "/hours.html"}]
        system = [m.content for m in SEEN[0].messages if m.role == "system"]
        assert system[0] == "You are the bakery's assistant."
        assert "[1] Opening hours (/hours.html)" in system[1] and "[2] Menu" in system[1]
        assert "Weak match" not in system[1]  # below min_score
        assert [p.title for p in SEEN[0].passages] == ["Opening hours", "Menu"]
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
        assert history[-1]["sources"] == message["sources"]
        assert history[0]["sources"] == [] and history[0]["feedback"] is None


async def test_streamed_done_carries_the_sources(make_client):
    async with make_client(BASE + '[knowledge]\ntype = "list"\n') as client:
        session = await new_session(client)
        response = await client.post("/api/chat", json={"sessionId": session, "message": "hours", "stream": True})
        done = response.text.split("event: done")[1]
        assert '"sources":[{"title":"Opening hours","url":"/hours.html"}]' in done


async def test_a_short_follow_up_searches_with_the_previous_question(make_client):
    async with make_client(BASE + '[knowledge]\ntype = "list"\n') as client:
        session = await new_session(client)
        for text in ("When are you open on weekdays?", "and on Sunday?"):
            await client.post("/api/chat", json={"sessionId": session, "message": text})
        assert ListRetriever.queries == ["When are you open on weekdays?",
                                         "When are you open on weekdays? and on Sunday?"]


async def test_a_failing_index_answers_without_passages_and_degrades_health(make_client):
    async with make_client(BASE + '[knowledge]\ntype = "list"\nfail = true\n') as client:
        session = await new_session(client)
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "hours?"})
        assert reply.status_code == 200
        assert reply.json()["message"]["sources"] == []
        assert [m.role for m in SEEN[0].messages] == ["system", "user"]
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["knowledge"] == {"type": "list", "status": "down", "detail": "RuntimeError"}


async def test_without_a_knowledge_table_nothing_changes(make_client):
    async with make_client(BASE) as client:
        session = await new_session(client)
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "hours?"})
        assert reply.json()["message"]["sources"] == []
        assert "knowledge" not in (await client.get("/health")).json()
        assert ListRetriever.queries == []


def test_unknown_retriever_type_names_the_key():
    from chatkit_core.platform.assembly import build_knowledge

    with pytest.raises(ConfigError, match=r"knowledge.type: unknown retriever type 'vector'.*list"):
        build_knowledge(config_from(BASE + '[knowledge]\ntype = "vector"\n'))
    with pytest.raises(ConfigError, match=r"knowledge.top_k: top_k must be at least 1|knowledge: top_k"):
        build_knowledge(config_from(BASE + '[knowledge]\ntype = "list"\ntop_k = 0\n'))


def test_context_stays_within_max_context_chars():
    options = RetrieverOptions(type="x", max_context_chars=300, prompt_template="P:\n{passages}")
    long = [Passage(text="word " * 200, title=f"T{i}", url=f"/p{i}") for i in range(5)]
    message = context_message(long, options)
    assert message.startswith("P:\n[1] T0 (/p0)")
    assert len(message) <= 300 + len("P:\n")


def test_citations_pick_the_sources_and_a_short_follow_up_joins_the_previous_question():
    assert [s.title for s in cited_sources("As [2] says, and [2] again", PAGES)] == ["Menu"]
    assert [s.title for s in cited_sources("No citation", PAGES[:2])] == ["Opening hours", "Menu"]
    assert [s.title for s in cited_sources("[9] is out of range", PAGES[:1])] == ["Opening hours"]
    assert search_query("what about Sunday", "When are you open?") == "When are you open? what about Sunday"
    assert search_query("Do you deliver cakes to the city centre?", "hours?") == (
        "Do you deliver cakes to the city centre?")
    assert search_query("How much is it?", "Do you bake rye bread?") == "Do you bake rye bread? How much is it?"
    assert search_query("¿Y el domingo?", "¿Qué horario tenéis?") == "¿Qué horario tenéis? ¿Y el domingo?"
    assert search_query("Are you hiring?", "Do you deliver to Lakeside?") == "Are you hiring?"


async def test_a_bad_locale_is_refused(make_client):
    async with make_client(BASE) as client:
        session = await new_session(client)
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "hi", "locale": "<script>"})
        assert reply.status_code == 400 and reply.json()["error"]["field"] == "locale"
        ok = await client.post("/api/chat", json={"sessionId": session, "message": "hi", "locale": "pt-BR"})
        assert ok.status_code == 200
        assert SEEN[-1].locale == "pt-BR"
