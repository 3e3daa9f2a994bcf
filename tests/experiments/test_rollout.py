"""Safe rollout: a conversation keeps the variant its answers were given in whatever the config
says later (weights changed, the experiment ended or removed, a restart), new conversations
follow the config of the day, and an ended experiment's results stay readable. Each step is a
new app over the same SQLite file, as a restart with an edited config is."""

from __future__ import annotations

from tests.experiments.helpers import (
    BEARER,
    MODELS,
    PROMPTS,
    app,
    experiment_config,
    fake_openai,
    say,
    start,
    upstream_variant,
)


def sqlite(tmp_path) -> str:
    return f'store = "sqlite"\nurl = "sqlite:///{tmp_path}/conversations.sqlite3"'


async def test_changing_the_weights_moves_no_answered_conversation(tmp_path):
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, weights=(100, 0), store=sqlite(tmp_path))) as client:
            running = [await start(client) for _ in range(5)]
            for index, session in enumerate(running):
                assert (await say(client, session, f"before {index}"))["variant"]["name"] == "a"
        async with app(experiment_config(fake.url, weights=(0, 100), store=sqlite(tmp_path))) as client:
            for index, session in enumerate(running):
                answer = await say(client, session, f"after {index}", stream=index % 2 == 0)
                assert answer["variant"]["name"] == "a" and answer["model"] == MODELS["a"]
                assert upstream_variant(fake, f"after {index}") == "a"
            fresh = await start(client)
            assert (await say(client, fresh, "new visitor"))["variant"]["name"] == "b"
            assert upstream_variant(fake, "new visitor") == "b"


async def test_an_ended_experiment_keeps_its_conversations_and_its_results(tmp_path):
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, weights=(0, 100), store=sqlite(tmp_path))) as client:
            session = await start(client)
            answer = await say(client, session, "during")
            rated = await client.post(f"/api/session/{session}/messages/{answer['id']}/feedback", json={"rating": "up"})
            assert rated.status_code == 200
        async with app(experiment_config(fake.url, enabled=False, store=sqlite(tmp_path))) as client:
            assert (await say(client, session, "after the end"))["variant"]["name"] == "b"
            assert upstream_variant(fake, "after the end") == "b"
            fresh = await start(client)
            base = await say(client, fresh, "a new visitor after the end")
            assert "variant" not in base and base["model"] == MODELS["a"]  # the base config: prompt A, no variant
            assert "variant" not in (await client.get(f"/api/session/{fresh}/messages")).json()["messages"][1]
            results = (await client.get("/admin/api/experiments", headers=BEARER)).json()["experiments"]
            assert results[0]["name"] == "tone" and results[0]["enabled"] is False
            b = results[0]["variants"][1]
            assert (b["name"], b["conversations"], b["answers"], b["up"], b["followUps"]) == ("b", 1, 2, 1, 1)


async def test_a_conversation_from_before_the_experiment_stays_on_the_base_config(tmp_path):
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, experiment=False, store=sqlite(tmp_path))) as client:
            session = await start(client)
            assert "variant" not in await say(client, session, "before the experiment")
        async with app(experiment_config(fake.url, weights=(0, 100), store=sqlite(tmp_path))) as client:
            assert "variant" not in await say(client, session, "once it runs")
            system = [m["content"] for m in fake.chat_requests()[-1].json["messages"] if m["role"] == "system"]
            assert system == [PROMPTS["a"]]


async def test_the_variant_is_found_beyond_the_history_sent_to_the_model(tmp_path):
    """With ``[chat] history = 1`` the model sees the question alone; the variant is still read from
    the stored answers (and the weights changed in between)."""
    def config(weights: tuple[int, int]) -> str:
        return experiment_config(fake.url, weights=weights, store=sqlite(tmp_path)).replace(
            "[chat]\n", "[chat]\nhistory = 1\n")

    with fake_openai() as fake:
        async with app(config((100, 0))) as client:
            session = await start(client)
            assert (await say(client, session, "first"))["variant"]["name"] == "a"
        async with app(config((0, 100))) as client:
            assert (await say(client, session, "second"))["variant"]["name"] == "a"
            assert (await say(client, session, "third"))["variant"]["name"] == "a"
            assert [upstream_variant(fake, text) for text in ("first", "second", "third")] == ["a", "a", "a"]


async def test_a_variant_removed_from_the_config_leaves_its_conversations_on_the_base(tmp_path):
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, weights=(0, 100), store=sqlite(tmp_path))) as client:
            session = await start(client)
            assert (await say(client, session, "in b"))["variant"]["name"] == "b"
        async with app(experiment_config(fake.url, experiment=False, store=sqlite(tmp_path))) as client:
            answer = await say(client, session, "b is gone")
            assert "variant" not in answer and answer["model"] == MODELS["a"]
