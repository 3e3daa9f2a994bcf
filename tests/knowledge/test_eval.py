"""The demo site's evaluation set: the right pages are found, and the extractive answerer
answers what the site holds and declines what it does not.

``eval_questions.json`` holds visitors' questions, each answerable one with the page of
``web/`` that answers it. The index is built from ``web/`` with the demo's ``[knowledge]``
settings, and every question goes through the app like a visitor's.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from chatkit_knowledge.build import build
from chatkit_knowledge.language import NOT_FOUND
from chatkit_knowledge.options import SqliteOptions
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import convert
from tests.conftest import ROOT
from tests.core.conftest import config_from, new_session

QUESTIONS = json.loads((ROOT / "tests" / "knowledge" / "eval_questions.json").read_text(encoding="utf-8"))


def page_of(url: str) -> str:
    return url.split("#")[0].lstrip("/") or "index.html"


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory) -> str:
    """The demo's [knowledge] table, its index built in a temporary file, behind an extractive-only chain."""
    knowledge = tomllib.loads((ROOT / "demo" / "chatkit.toml").read_text(encoding="utf-8"))["knowledge"]
    # Relative to the demo config's folder, as its paths are.
    knowledge["sources"] = [str((ROOT / "demo" / source).resolve()) for source in knowledge["sources"]]
    knowledge["path"] = str(tmp_path_factory.mktemp("eval") / "knowledge.sqlite3")
    report = build(convert(knowledge, SqliteOptions, "knowledge"))
    assert report.pages >= 5 and not report.failed, report.failed
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in knowledge.items())
    # One conversation a question, all from one test client: sessions are not capped.
    return f'[chain]\norder = ["site"]\n[providers.site]\ntype = "extractive"\n[rate_limit]\ntype = "none"\n' \
           f"[sessions]\nnew_per_minute = 0\n[knowledge]\n{table}\n"


async def answers(config: str, questions: list[dict]) -> list[dict]:
    async with AsyncTestClient(create_app(build_runtime(config_from(config))), raise_server_exceptions=False) as client:
        found = []
        for question in questions:
            session = await new_session(client)
            reply = await client.post("/api/chat", json={"sessionId": session, "message": question["question"]})
            assert reply.status_code == 200, reply.text
            found.append(reply.json()["message"])
        return found


def declined(message: dict) -> bool:
    return not message["sources"] and any(message["content"].startswith(text) for text in NOT_FOUND.values())


async def test_recall_at_3(demo_config):
    from chatkit_core.platform.assembly import build_knowledge

    knowledge = build_knowledge(config_from(demo_config))
    await knowledge.retriever.start()
    misses = []
    for question in QUESTIONS["answerable"]:
        passages = await knowledge.find(question["question"])
        if question["page"] not in [page_of(p.url) for p in passages[:3]]:
            misses.append((question["question"], question["page"], [page_of(p.url) for p in passages[:3]]))
    recall = 1 - len(misses) / len(QUESTIONS["answerable"])
    assert recall >= 0.9, misses


async def test_the_extractive_answerer_answers_from_the_right_page(demo_config):
    messages = await answers(demo_config, QUESTIONS["answerable"])
    pairs = zip(QUESTIONS["answerable"], messages, strict=True)
    wrong = [(q["question"], q["page"], m["sources"][:1]) for q, m in pairs
             if not m["sources"] or page_of(m["sources"][0]["url"]) != q["page"]]
    assert 1 - len(wrong) / len(messages) >= 0.85, wrong


async def test_the_extractive_answerer_declines_what_the_site_does_not_say(demo_config):
    messages = await answers(demo_config, QUESTIONS["unanswerable"])
    answered = [(q["question"], m["content"]) for q, m in zip(QUESTIONS["unanswerable"], messages, strict=True)
                if not declined(m)]
    assert 1 - len(answered) / len(messages) >= 0.8, answered
