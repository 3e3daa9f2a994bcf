"""Results from stored conversations: the counts, the Wilson interval and the sample size below
which a rate is "not enough data yet"; the operator API's door."""

from __future__ import annotations

import re

import pytest

from chatkit_core.chat.experiment_results import (
    MIN_SAMPLE,
    ExperimentResult,
    Rate,
    Sample,
    VariantResult,
    collect,
    wilson,
)
from chatkit_core.models import Feedback, Message, Source, VariantTag, new_message_id, now_rfc3339
from tests.console.helpers import TOKEN, sign_in
from tests.experiments.helpers import BEARER, app, experiment_config, fake_openai, say, start


@pytest.mark.parametrize("hits, n, low, high", [
    (8, 10, 0.4902, 0.9433),  # the textbook example (Newcombe 1998)
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
    (0, 0, 0.0, 1.0),  # no cases: nothing is known
])
def test_the_wilson_interval(hits, n, low, high):
    assert wilson(hits, n) == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_percentiles_come_from_a_bounded_uniform_sample():
    sample = Sample(size=1000)
    for value in range(100_000):
        sample.add(value)
    assert len(sample.values) == 1000 and sample.seen == 100_000
    assert abs(sample.percentile(50) - 50_000) < 5_000 and abs(sample.percentile(90) - 90_000) < 3_000
    assert Sample().percentile(50) is None


def test_a_rate_needs_enough_cases():
    assert not Rate(29, MIN_SAMPLE - 1).enough and Rate(0, MIN_SAMPLE).enough
    assert Rate(0, 0).value is None and Rate(3, 4).value == 0.75


def test_a_variant_is_apart_only_when_its_interval_clears_every_other():
    def rows(*ups: tuple[int, int]) -> ExperimentResult:
        return ExperimentResult("tone", True, [VariantResult(name, 1, up=up, down=down)
                                               for name, (up, down) in zip("abc", ups, strict=False)])

    assert rows((36, 4), (12, 28)).apart("up") == {"a": "higher", "b": "lower"}
    assert rows((36, 4), (30, 10)).apart("up") == {}  # 90% (77 to 96%) and 75% (60 to 86%) overlap
    assert rows((36, 4), (12, 28), (30, 10)).apart("up") == {"b": "lower"}
    assert rows((29, 0), (0, 29)).apart("up") == {}  # 29 ratings each: not enough data yet


def message(role: str, variant: str | None = None, **fields) -> Message:
    tag = {"variant": VariantTag("tone", variant)} if variant else {}
    return Message(id=new_message_id(), role=role, content=fields.pop("content", "text"), created_at=now_rfc3339(),
                   **tag, **fields)


async def test_counts_from_the_stored_conversations():
    with fake_openai() as fake:
        async with app(experiment_config(fake.url)) as client:
            runtime = client.app.state.runtime
            store = runtime.store

            async def conversation(*messages: Message) -> None:
                session = await start(client)
                for item in messages:
                    await store.append(session, item)

            await conversation(message("user"), message("assistant", "a", usage={"ttftMs": 120}, content="x" * 40,
                                                            feedback=Feedback(rating="up")),
                               message("user"), message("assistant", "a", incomplete=True, fallbacks=["x:timeout"]),
                               message("user"))  # unanswered: an error
            await conversation(message("user"), message("assistant", "b", sources=[Source("Hours", "/h")],
                                                            feedback=Feedback(rating="down")))
            await conversation(message("user"), message("assistant"))  # the base config: not counted
            await conversation(message("user"), message("assistant", "gone"))  # no longer configured
            results = await collect(store, runtime.listing, runtime.experiments, grounded=True)
    assert results.conversations == 4 and not results.sampled
    a, b = results.experiments[0].variants
    assert (a.conversations, a.questions, a.answers, a.up, a.down, a.followed_up, a.fallbacks, a.errors,
            a.declined) == (1, 3, 2, 1, 0, 2, 1, 2, 1)
    assert (a.ttft_ms.values, a.chars.values) == ([120.0], [40, 4])
    assert (b.conversations, b.answers, b.up, b.down, b.declined, b.errors) == (1, 1, 0, 1, 0, 0)


async def test_the_console_says_when_there_is_not_enough_data_yet():
    with fake_openai() as fake:
        async with app(experiment_config(fake.url, weights=(1, 0))) as client:
            for index in range(MIN_SAMPLE):
                session = await start(client)
                answer = await say(client, session, f"question {index}")
                if index < 3:
                    await client.post(f"/api/session/{session}/messages/{answer['id']}/feedback",
                                      json={"rating": "up"})
            await sign_in(client)
            page = (await client.get("/admin/experiments")).text
            row = re.search(r'<tr data-variant="a">(.*?)</tr>', page, re.S)[1]
            cells = dict(re.findall(r'<td data-rate="(\w+)">(.*?)</td>', row, re.S))
            assert "not enough data yet" in cells["up"] and "3 of 3" in cells["up"]  # 3 ratings of 30 needed
            assert cells["declined"].strip() == "\u2013 (no knowledge base)"
            assert re.search(r'>0%</span> <span class="ci"[^>]*>0\u201311%</span>', cells["error"])  # 0 of 30: 0 to 11%
            assert "A rate needs 30 cases" in page


async def test_the_operator_api_wants_the_token():
    with fake_openai() as fake:
        async with app(experiment_config(fake.url)) as client:
            anonymous = await client.get("/admin/api/experiments")
            assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            assert (await client.get("/admin/api/experiments", headers=BEARER)).status_code == 200
            assert (await client.get("/admin/api/experiments", headers={"Authorization": TOKEN})).status_code == 401
            await sign_in(client)  # the console's cookie opens it too
            assert (await client.get("/admin/api/experiments")).status_code == 200
        async with app(experiment_config(fake.url)) as client:
            wrong = {"Authorization": "Bearer not-the-token-at-all"}
            statuses = [(await client.get("/admin/api/experiments", headers=wrong)).status_code for _ in range(11)]
            assert statuses == [401] * 10 + [429]
            refused = await client.get("/admin/api/experiments", headers=BEARER)  # guessing is over for a while
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


async def test_without_a_console_there_is_no_operator_api():
    with fake_openai() as fake:
        text = experiment_config(fake.url).replace(f'[admin]\ntoken = "{TOKEN}"\n', "")
        async with app(text) as client:
            assert (await client.get("/admin/api/experiments", headers=BEARER)).status_code == 404
