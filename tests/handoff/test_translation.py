"""Messages between a visitor and an operator of different languages, translated by the chain (a
real fake OpenAI upstream), the original kept; without a model, untranslated and labelled."""

from __future__ import annotations

import asyncio

import msgspec

from chatkit_core.chat.translate import differ, guess
from tests.core.conftest import new_session
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.handoff.conftest import OPERATOR, handoff_config
from tests.handoff.test_api import OPENAI, events_of


async def translations(client, path: str, headers: dict[str, str], count: int) -> list[dict]:
    for _ in range(30):
        body = (await client.get(path, headers=headers)).text
        found = [msgspec.json.decode(data)["translation"] for _, kind, data in events_of(body) if kind == "translation"]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_each_side_reads_the_other_in_its_own_language(make_client):
    with FakeOpenAI(api_key="sk-test") as upstream:
        config = handoff_config('stream_seconds = "0.5s"\n', base=OPENAI.format(url=upstream.url))
        async with make_client(config) as client:
            session = await new_session(client)
            cid = (await client.post(f"/api/session/{session}/handoff", json={"locale": "fr"})).json()["handoff"][
                "conversationId"]
            await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice", "locale": "en"},
                              headers=OPERATOR)
            upstream.script(Script(text="Where is my parcel?"), Script(text="Il arrive demain."))
            asked = (await client.post("/api/chat", json={"sessionId": session, "message": "Où est mon colis ?"}))
            assert asked.status_code == 202
            operator_side = await translations(client, f"/admin/api/handoffs/{cid}/events", OPERATOR, 1)
            assert operator_side[0] == {"messageId": asked.json()["message"]["id"], "locale": "en",
                                        "content": "Where is my parcel?", "untranslated": None}
            answer = await client.post(f"/admin/api/handoffs/{cid}/messages", json={"content": "It arrives tomorrow."},
                                       headers=OPERATOR)
            visitor_side = await translations(client, f"/api/session/{session}/events", {}, 1)
            assert visitor_side == [{"messageId": answer.json()["message"]["id"], "locale": "fr",
                                     "content": "Il arrive demain.", "untranslated": None}]
            history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
            assert history[-1]["content"] == "It arrives tomorrow."  # the original is what is kept
            prompt = upstream.chat_requests()[0].json["messages"]
            assert "French" not in prompt[0]["content"] and "English" in prompt[0]["content"]


async def test_without_a_model_messages_stay_untranslated_and_say_so(make_client):
    async with make_client(handoff_config('stream_seconds = "0.5s"\n')) as client:  # the canned example provider
        session = await new_session(client)
        cid = (await client.post(f"/api/session/{session}/handoff", json={"locale": "de"})).json()["handoff"][
            "conversationId"]
        await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice", "locale": "en"},
                          headers=OPERATOR)
        await client.post("/api/chat", json={"sessionId": session, "message": "Wo ist mein Paket?"})
        found = await translations(client, f"/admin/api/handoffs/{cid}/events", OPERATOR, 1)
        assert found[0]["content"] is None and found[0]["untranslated"] == "no_model"


async def test_the_same_language_needs_no_translation(make_client):
    async with make_client(handoff_config('stream_seconds = "0.3s"\n')) as client:
        session = await new_session(client)
        cid = (await client.post(f"/api/session/{session}/handoff", json={"locale": "en-GB"})).json()["handoff"][
            "conversationId"]
        await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "A", "locale": "en"}, headers=OPERATOR)
        await client.post("/api/chat", json={"sessionId": session, "message": "Where is it?"})
        await asyncio.sleep(0.2)
        kinds = [kind for _, kind, _ in events_of((await client.get(f"/admin/api/handoffs/{cid}/events",
                                                                     headers=OPERATOR)).text)]
        assert "translation" not in kinds


def test_languages_are_guessed_from_script_or_common_words():
    assert guess("Где мой заказ?") == "ru"
    assert guess("我的包裹在哪里") == "zh"
    assert guess("Où est mon colis, s'il vous plaît ? Je ne le trouve pas") == "fr"
    assert guess("Where is my parcel? I can not find it and it is late") == "en"
    assert guess("ok") == ""
    assert differ("pt-BR", "en") and not differ("pt-BR", "pt") and not differ("", "en")
