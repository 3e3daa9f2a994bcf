"""What each variant's turns come to, counted under its name: declines (no source where a
knowledge base exists, the extractive provider's "not found"), fallbacks, errors, follow-ups,
handoffs; and the pieces a variant changes reach the upstream: knowledge settings, the extractive
answer length, the answer cache's keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chatkit_knowledge.build import build
from chatkit_knowledge.options import SqliteOptions

from tests.console.helpers import ADMIN, sign_in
from tests.core.conftest import config_from
from tests.experiments.helpers import BEARER, app, experiment_config, fake_openai, metric, say, start
from tests.fakes.server import Script, closed_port_url


def outcome(metrics: str, variant: str, name: str) -> float:
    return metric(metrics, "chatkit_experiment_outcomes_total", experiment="tone", variant=variant, outcome=name)


async def session_in(client, variant: str) -> str:
    """A new conversation the running experiment assigns to ``variant`` (ids are random: try a few)."""
    experiments = client.app.state.runtime.experiments
    for _ in range(200):
        session = await start(client)
        if experiments.running.assign(session).name == variant:
            return session
    raise AssertionError(f"no session landed in {variant}")


async def test_fallbacks_and_errors_are_counted_for_the_variant(tmp_path):
    with fake_openai() as fake:
        down = f'[providers.down]\ntype = "ollama"\nbase_url = "{closed_port_url()}"\n'
        text = experiment_config(fake.url, extra=down)
        text += '[experiments.tone.variants.b.chain]\norder = ["down", "cloud"]\n'
        async with app(text) as client:
            fell_back = await say(client, await session_in(client, "b"), "via the fallback")
            assert fell_back["fallbacks"] == ["down:connect"] and fell_back["variant"]["name"] == "b"
            session = await session_in(client, "a")
            fake.script(Script(status=500))
            failed = await client.post("/api/chat", json={"sessionId": session, "message": "fails"})
            assert failed.status_code == 503
            metrics = (await client.get("/metrics")).text
            assert (outcome(metrics, "b", "fallback"), outcome(metrics, "a", "fallback")) == (1, 0)
            assert (outcome(metrics, "a", "error"), outcome(metrics, "b", "error")) == (1, 0)
            # Once answered, the conversation's unanswered question counts as an error of its variant.
            assert (await say(client, session, "and now?"))["variant"]["name"] == "a"
            rows = (await client.get("/admin/api/experiments", headers=BEARER)).json()["experiments"][0]["variants"]
            assert [(r["name"], r["errors"], r["fallbacks"]) for r in rows] == [("a", 1, 0), ("b", 0, 1)]
            assert rows[0]["rates"]["error"] == {"value": 0.5, "low": 0.0945, "high": 0.9055, "n": 2, "enough": False,
                                               "apart": None}


async def test_asking_for_a_person_counts_for_the_conversations_variant():
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, extra="[handoff]\nenabled = true\n")) as client:
            session = await session_in(client, "b")
            await say(client, session, "can I talk to a person?")
            for _ in range(2):  # asking again while waiting changes nothing
                asked = await client.post(f"/api/session/{session}/handoff", json={"message": "please call me"})
                assert asked.status_code == 202, asked.text
            metrics = (await client.get("/metrics")).text
            assert (outcome(metrics, "b", "handoff"), outcome(metrics, "a", "handoff")) == (1, 0)
            rows = (await client.get("/admin/api/experiments", headers=BEARER)).json()["experiments"][0]["variants"]
            # The note waiting for a person is neither an answer nor an error of the variant.
            assert [(r["name"], r["handoffs"], r["answers"], r["errors"]) for r in rows] == [
                ("a", 0, 0, 0), ("b", 1, 1, 0)]


async def test_each_variant_has_its_own_cached_answers():
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, extra="[cache]\nenabled = true\n")) as client:
            first_a = await say(client, await session_in(client, "a"), "What are your hours?")
            first_b = await say(client, await session_in(client, "b"), "What are your hours?")
            again_b = await say(client, await session_in(client, "b"), "what are your hours")
            assert (first_a["cached"], first_b["cached"], again_b["cached"]) == (False, False, True)
            assert again_b["variant"] == {"experiment": "tone", "name": "b"} and again_b["model"] == "gpt-4o"
            assert len(fake.chat_requests()) == 2


@pytest.fixture
def bakery(tmp_path: Path) -> tuple[Path, Path]:
    """A small site, indexed: three pages about bread, one about cakes."""
    web = tmp_path / "web"
    web.mkdir()
    for name, text in (("rye", "Our rye bread is sourdough. It keeps a week. We bake rye bread daily."),
                       ("wheat", "Our wheat bread is baked at dawn. Wheat bread comes sliced or whole."),
                       ("spelt", "Spelt bread is on Fridays. Spelt bread is made with honey."),
                       ("cakes", "Cakes are made to order. Order cakes two days ahead.")):
        (web / f"{name}.html").write_text(f"<title>{name}</title><main><p>{text}</p></main>")
    index = tmp_path / "index.sqlite3"
    build(SqliteOptions(type="sqlite", sources=[str(web)], path=str(index)))
    return web, index


def knowledge(web: Path, index: Path) -> str:
    return f'[knowledge]\ntype = "sqlite"\nsources = ["{web}"]\npath = "{index}"\ntop_k = 1\n'


async def test_a_variants_knowledge_settings_reach_the_prompt(bakery):
    with fake_openai() as fake:
        text = experiment_config(fake.url, extra=knowledge(*bakery))
        text += "[experiments.tone.variants.b.knowledge]\ntop_k = 3\n"
        async with app(text) as client:
            for variant in ("a", "b"):
                await say(client, await session_in(client, variant), "tell me about your bread")
            passages = [len(re.findall(r"<<<PASSAGE \d", "\n".join(m["content"] for m in r.json["messages"])))
                        for r in fake.chat_requests()]
            assert passages == [1, 3]


EXTRACTIVE = """
[chain]
order = ["site"]
[providers.site]
type = "extractive"
sentences = 3
[rate_limit]
type = "none"
[sessions]
new_per_minute = 0
[experiments.tone.variants.a]
weight = 1
[experiments.tone.variants.b]
weight = 1
[experiments.tone.variants.b.providers.site]
sentences = 1
"""


async def test_declines_and_the_extractive_answer_length_per_variant(bakery):
    async with app(EXTRACTIVE + ADMIN + knowledge(*bakery)) as client:
        long = await say(client, await session_in(client, "a"), "rye bread?")
        short = await say(client, await session_in(client, "b"), "rye bread?")
        assert long["content"].startswith("Our rye bread is sourdough. It keeps a week. We bake rye bread daily.\n")
        assert short["content"].startswith("Our rye bread is sourdough.\n")  # one sentence: b's override
        assert long["sources"] and short["sources"]
        session = await session_in(client, "b")
        nothing = await say(client, session, "do you sell gift vouchers?")
        assert nothing["content"] == "I could not find that on this site." and nothing["sources"] == []
        metrics = (await client.get("/metrics")).text
        assert (outcome(metrics, "b", "declined"), outcome(metrics, "a", "declined")) == (1, 0)
        rows = (await client.get("/admin/api/experiments", headers=BEARER)).json()["experiments"][0]["variants"]
        assert [(r["name"], r["answers"], r["declined"]) for r in rows] == [("a", 1, 0), ("b", 2, 1)]
        # The stored record carries the variant, so the console's export does too.
        await sign_in(client)
        exported = json.loads((await client.get(f"/admin/conversations/{session}/export")).text)
        assert exported["messages"][1]["variant"] == {"experiment": "tone", "name": "b"}
        assert "variant" not in exported["messages"][0]


def test_every_variant_of_the_config_is_exported_from_the_start():
    from chatkit_core.platform.assembly import build_runtime

    runtime = build_runtime(config_from(EXTRACTIVE))
    text = runtime.metrics.render().decode()
    for variant in ("a", "b"):
        assert f'chatkit_experiment_answers_total{{experiment="tone",variant="{variant}"}} 0.0' in text
        assert outcome(text, variant, "declined") == 0 and f'outcome="declined",variant="{variant}"' in text
