"""The issue's acceptance: an experiment of two system prompts (and two models) at 50/50; new
conversations split within the expected range, every message of a conversation goes through its
variant (checked at the fake OpenAI upstream), ratings are counted per variant in /metrics, the
operator API and the console."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

from chatkit_core.chat.experiments import bucket
from tests.console.helpers import sign_in
from tests.experiments.helpers import (
    BEARER,
    MODELS,
    app,
    experiment_config,
    fake_openai,
    metric,
    say,
    start,
    upstream_variant,
)

CONVERSATIONS = 200
# Binomial(200, 1/2) has a standard deviation of 7.07: 70 to 130 is ±4.2 of them, a range a fair
# split leaves about once in 30,000 runs (normal approximation, continuity corrected).
LOW, HIGH = 70, 130


async def test_two_hundred_conversations_split_keep_their_variant_and_are_rated_per_variant():
    with fake_openai() as fake:
        async with app(experiment_config(fake.url)) as client:
            seen: dict[str, str] = {}
            ratings: Counter[tuple[str, str]] = Counter()
            for index in range(CONVERSATIONS):
                session = await start(client)
                first = await say(client, session, f"conversation {index}, question 1")
                second = await say(client, session, f"conversation {index}, question 2", stream=True)
                name = first["variant"]["name"]
                assert first["variant"] == second["variant"] == {"experiment": "tone", "name": name}
                assert first["model"] == second["model"] == MODELS[name]
                for question in (1, 2):  # what the upstream received: the variant's prompt and model
                    assert upstream_variant(fake, f"conversation {index}, question {question}") == name
                seen[session] = name
                if index % 5 == 0:  # rate some answers: variant a's up, b's first one down
                    rating = "up" if name == "a" else "down"
                    rated = await client.post(f"/api/session/{session}/messages/{first['id']}/feedback",
                                              json={"rating": rating})
                    assert rated.status_code == 200 and rated.json()["variant"] == first["variant"]
                    ratings[name, rating] += 1
            split = Counter(seen.values())
            assert LOW <= split["a"] <= HIGH and split["a"] + split["b"] == CONVERSATIONS, split
            history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
            assert [m.get("variant") for m in history] == [None, second["variant"], None, second["variant"]]

            metrics = (await client.get("/metrics")).text
            for name in ("a", "b"):
                assert metric(metrics, "chatkit_experiment_answers_total", experiment="tone",
                              variant=name) == 2 * split[name]
                for rating in ("up", "down"):
                    assert metric(metrics, "chatkit_experiment_feedback_total", experiment="tone", variant=name,
                                  rating=rating) == ratings[name, rating]
                assert metric(metrics, "chatkit_experiment_outcomes_total", experiment="tone", variant=name,
                              outcome="follow_up") == split[name]

            results = (await client.get("/admin/api/experiments", headers=BEARER)).json()
            tone = results["experiments"][0]
            assert tone["name"] == "tone" and tone["enabled"] is True
            by_name = {variant["name"]: variant for variant in tone["variants"]}
            for name in ("a", "b"):
                row = by_name[name]
                assert (row["conversations"], row["answers"], row["up"], row["down"], row["declined"],
                        row["handoffs"], row["followUps"]) == (split[name], 2 * split[name], ratings[name, "up"],
                                                              ratings[name, "down"], 0, 0, split[name])

            await sign_in(client)
            page = (await client.get("/admin/experiments")).text
            rows = dict(re.findall(r'<tr data-variant="(\w)">(.*?)</tr>', page, re.S))
            assert f"<td>{split['a']}</td><td>{2 * split['a']}</td>" in rows["a"]
            counts = re.search(r'<p class="meta counts">(.*?)</p>', page, re.S)[1]
            assert f"a: {ratings['a', 'up']} up, 0 down" in counts and f"b: 0 up, {ratings['b', 'down']} down" in counts


def test_the_split_follows_the_weights_for_any_session_ids():
    """The hash over many ids (fixed, so this never flakes): 1:1 and 1:3 land within 2% of the weights."""
    ids = [f"session-{index:06d}" for index in range(20_000)]
    for total, share in ((2, 1), (4, 1)):
        inside = sum(bucket("tone", session, total) < share for session in ids)
        assert abs(inside / len(ids) - share / total) < 0.02
    # Another experiment splits the same visitors independently of the first.
    both = sum(bucket("tone", s, 2) == 0 and bucket("model", s, 2) == 0 for s in ids)
    assert abs(both / len(ids) - 0.25) < 0.02


def test_a_session_gets_the_same_bucket_in_every_process():
    """Not Python's salted hash(): another process with another PYTHONHASHSEED agrees."""
    code = "from chatkit_core.chat.experiments import bucket; print(bucket('tone', 'abc', 1000))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert int(other.stdout) == bucket("tone", "abc", 1000)
