"""A first question answered recently is answered again from the cache, with no provider call."""

from __future__ import annotations

import json

from litestar.testing import AsyncTestClient

from chatkit_core.http.testing import app_client
from tests.cache.conftest import cache_config
from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Script

QUESTION = "What are your opening hours?"


async def new_session(client: AsyncTestClient) -> str:
    response = await client.post("/api/create-session")
    assert response.status_code == 201, response.text
    return response.json()["sessionId"]


async def chat(client: AsyncTestClient, message: str = QUESTION, session: str | None = None,
               **fields: object) -> dict:
    session = session or await new_session(client)
    response = await client.post("/api/chat", json={"sessionId": session, "message": message, **fields})
    assert response.status_code == 200, response.text
    return response.json()["message"]


def events(text: str) -> list[tuple[str, dict]]:
    parsed = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


async def stream(client: AsyncTestClient, message: str = QUESTION) -> list[tuple[str, dict]]:
    session = await new_session(client)
    response = await client.post("/api/chat", json={"sessionId": session, "message": message, "stream": True})
    assert response.status_code == 200, response.text
    return events(response.text)


async def test_a_repeated_first_question_is_answered_from_the_cache_without_a_provider_call(fake_ollama):
    fake_ollama.script(Script(text="We open at nine."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        first = await chat(client)
        session = await new_session(client)
        again = await chat(client, session=session)
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
        metrics = (await client.get("/metrics")).text
    assert len(fake_ollama.chat_requests()) == 1
    assert first["cached"] is False and again["cached"] is True
    assert again["content"] == first["content"] == "We open at nine."
    assert (again["provider"], again["model"]) == ("local", "llama3.2")
    assert again["id"] != first["id"] and again["usage"] is None
    assert [m["role"] for m in history] == ["user", "assistant"] and history[1] == again
    assert 'chatkit_answer_cache_total{result="hit"} 1.0' in metrics
    assert 'chatkit_answer_cache_total{result="miss"} 1.0' in metrics
    assert 'chatkit_answer_cache_total{result="store"} 1.0' in metrics


async def test_a_cached_answer_streams_the_same_events_as_a_model_answer(fake_ollama):
    fake_ollama.script(Script(text="We open at nine."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        model = await stream(client)
        cached = await stream(client)
    assert len(fake_ollama.chat_requests()) == 1
    assert [name for name, _ in model] == ["start", "delta", "delta", "delta", "delta", "done"]
    assert [name for name, _ in cached] == ["start", "delta", "done"]
    assert cached[0][1].keys() == model[0][1].keys() == {"messageId", "provider", "model"}
    assert cached[0][1]["provider"] == "local" and cached[0][1]["messageId"] == cached[-1][1]["message"]["id"]
    assert "".join(data["text"] for name, data in cached if name == "delta") == "We open at nine."
    done, model_done = cached[-1][1]["message"], model[-1][1]["message"]
    assert done.keys() == model_done.keys()
    assert done["cached"] is True and model_done["cached"] is False


async def test_streamed_and_whole_answers_share_the_cache(fake_ollama):
    fake_ollama.script(Script(text="We open at nine."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        await stream(client)
        whole = await chat(client)
    assert len(fake_ollama.chat_requests()) == 1 and whole["cached"] is True


async def test_questions_match_once_normalised(fake_ollama):
    fake_ollama.script(Script(text="We open at nine."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        await chat(client, "What are your opening hours?")
        wide = "\uff37\uff28\uff21\uff34"  # "WHAT" in full-width letters, NFKC makes it ASCII
        variants = ["  what ARE your\topening   hours ?! ", "What are your opening hours",
                    f"{wide} are your opening hours?"]
        answers = [await chat(client, variant) for variant in variants]
        fake_ollama.script(Script(text="Another answer."))
        other = await chat(client, "What are your opening hours today?")
    assert all(answer["cached"] for answer in answers)
    assert other["cached"] is False and other["content"] == "Another answer."
    assert len(fake_ollama.chat_requests()) == 2


async def test_a_different_locale_misses(fake_ollama):
    fake_ollama.script(Script(text="We open at nine."), Script(text="Nous ouvrons à neuf heures."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        await chat(client, locale="en")
        french = await chat(client, locale="fr")
        again = await chat(client, locale="fr")
    assert french["cached"] is False and again["cached"] is True
    assert again["content"] == "Nous ouvrons à neuf heures."
    assert len(fake_ollama.chat_requests()) == 2


async def test_a_different_system_prompt_or_chain_misses():
    with FakeOllama(models=["llama3.2", "llama3.1"]) as fake_ollama:
        fake_ollama.script(Script(text="We open at nine."))
        brief = cache_config(fake_ollama.url, extra='[chat]\nsystem_prompt = "Be brief."')
        async with app_client(brief) as first:
            await chat(first)
            entries = first.app.state.runtime.cache.cache.entries
        others = [cache_config(fake_ollama.url, extra='[chat]\nsystem_prompt = "Be kind."'),
                  cache_config(fake_ollama.url, extra='[chat]\nsystem_prompt = "Be brief."', model="llama3.1")]
        for text in others:
            async with app_client(text) as client:
                client.app.state.runtime.cache.cache.entries = entries  # the same entries, another setup
                assert (await chat(client))["cached"] is False
        async with app_client(brief) as same:
            same.app.state.runtime.cache.cache.entries = entries
            assert (await chat(same))["cached"] is True
    assert len(fake_ollama.chat_requests()) == 3


async def test_follow_up_turns_neither_read_nor_write_the_cache(fake_ollama):
    fake_ollama.script(Script(text="We open at nine."), Script(text="Until six."), Script(text="Until six."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        session = await new_session(client)
        await chat(client, "Hello", session=session)
        follow_up = await chat(client, QUESTION, session=session)
        first = await chat(client, "Until when?")
        again = await chat(client, "Until when?")
        metrics = (await client.get("/metrics")).text
    assert follow_up["cached"] is False and first["cached"] is False and again["cached"] is True
    assert len(fake_ollama.chat_requests()) == 3
    assert 'chatkit_answer_cache_total{result="store"} 2.0' in metrics  # "Hello" and "Until when?"


async def test_with_one_message_of_history_nothing_is_cached(fake_ollama):
    fake_ollama.script(Script(text="One."), Script(text="Two."))
    async with app_client(cache_config(fake_ollama.url, extra="[chat]\nhistory = 1")) as client:
        answers = [await chat(client), await chat(client)]
    assert [a["content"] for a in answers] == ["One.", "Two."] and not any(a["cached"] for a in answers)


async def test_truncated_and_incomplete_answers_are_never_cached(fake_ollama):
    fake_ollama.script(Script(text="We open at", finish="length"), Script(text="We open at nine and close at six.",
                                                                          fault="cut", after=2),
                       Script(text="We open at nine."), Script(text="We open at nine."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        truncated = await chat(client)
        cut = await stream(client)
        whole = await chat(client)
        again = await chat(client)
    assert truncated["truncated"] is True and truncated["cached"] is False
    assert cut[-1][0] == "error"
    assert whole["cached"] is False and again["cached"] is True and again["content"] == "We open at nine."
    assert len(fake_ollama.chat_requests()) == 3


async def test_a_failed_chain_is_not_cached_and_the_retry_is_answered(fake_ollama):
    fake_ollama.script(Script(status=500), Script(status=500), Script(text="We open at nine."))
    async with app_client(cache_config(fake_ollama.url)) as client:
        session = await new_session(client)
        failed = await client.post("/api/chat", json={"sessionId": session, "message": QUESTION})
        retry = await chat(client, session=session)
    assert failed.status_code == 503
    assert retry["cached"] is False and retry["content"] == "We open at nine."


async def test_the_cache_is_off_by_default(fake_ollama):
    fake_ollama.script(Script(text="One."), Script(text="Two."))
    text = cache_config(fake_ollama.url, cache="")
    async with app_client(text) as client:
        answers = [await chat(client), await chat(client)]
        health = (await client.get("/health")).json()
    assert [a["content"] for a in answers] == ["One.", "Two."] and not any(a["cached"] for a in answers)
    assert "answerCache" not in health


async def test_health_shows_the_cache(fake_ollama):
    async with app_client(cache_config(fake_ollama.url)) as client:
        health = (await client.get("/health")).json()
    assert health["answerCache"] == {"type": "memory", "status": "up", "detail": ""}


async def test_openapi_documents_the_cached_flag(fake_ollama):
    async with app_client(cache_config(fake_ollama.url)) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    assert schema["components"]["schemas"]["Message"]["properties"]["cached"]["type"] == "boolean"
