"""Every ``# example:`` block of docs/plugins.md, registered as a plugin and used as documented."""

from __future__ import annotations

import argparse
import re
import sys
import time
import types
from collections.abc import Iterator

import pytest

from chatkit_core.chat.listing import BadCursor, ConversationQuery
from chatkit_core.cli import parser
from chatkit_core.models import Feedback, Message, new_message_id, now_rfc3339
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import load_config
from chatkit_core.platform.plugins import problems
from chatkit_core.testing.app import config_from, registered
from tests.conftest import ROOT
from tests.console.helpers import ADMIN, sign_in

DOC = (ROOT / "docs" / "plugins.md").read_text()
EXAMPLES = dict(re.findall(r"```python\n# example: (\w+)\n(.*?)```", DOC, re.S))
BASE = '[rate_limit]\ntype = "none"\n[providers.main]\ntype = "parrot"\n'


def load(kind: str) -> types.ModuleType:
    module = types.ModuleType(f"docs_example_{kind}")
    sys.modules[module.__name__] = module  # msgspec and dataclasses resolve names through it
    exec(compile(EXAMPLES[kind], f"docs/plugins.md ({kind})", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def examples() -> Iterator[dict[str, types.ModuleType]]:
    modules = {kind: load(kind) for kind in EXAMPLES}
    with registered(modules.values()):
        yield modules


def test_every_kind_has_an_example():
    assert set(EXAMPLES) == {"provider", "sanitizer", "middleware", "store", "limiter", "retriever", "command",
                             "cache", "concurrency"}


def test_the_examples_register_cleanly(examples):
    assert not [problem for problem in problems() if "docs_example" in problem or "testing-" in problem]


async def test_provider_sanitizer_middleware_and_store_work_together(examples, chatkit_app):
    text = BASE + '[sessions]\nstore = "dict"\n[middleware.powered_by]\nvalue = "Example Inc."\n'
    async with chatkit_app(text) as client:
        created = await client.post("/api/create-session", json={})
        session = created.json()["sessionId"]
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "mail me at a@b.example"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["message"]["content"] == "You said: mail me at [email]"
        assert reply.headers["x-powered-by"] == "Example Inc."
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
        assert [m["content"] for m in history] == ["mail me at [email]", "You said: mail me at [email]"]
        # The provider's usage, plus the time to first token the core adds for the console.
        usage = history[1]["usage"]
        assert isinstance(usage.pop("ttftMs"), int)
        assert usage == {"prompt_tokens": 4, "completion_tokens": 6}


async def test_limiter_refuses_past_its_limit(examples, chatkit_app):
    async with chatkit_app(BASE.replace('"none"', '"per_minute"\nchats_per_minute = 2')) as client:
        session = (await client.post("/api/create-session", json={})).json()["sessionId"]
        statuses = [(await client.post("/api/chat", json={"sessionId": session, "message": "hi"})).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 429]


async def test_retriever_grounds_the_answer(examples, chatkit_app):
    text = BASE + '[knowledge]\ntype = "faq"\nfaq = { "When are you open?" = "Monday to Friday, 9 to 5." }\n'
    async with chatkit_app(text) as client:
        session = (await client.post("/api/create-session", json={})).json()["sessionId"]
        reply = await client.post("/api/chat", json={"sessionId": session, "message": "when are you open"})
        assert reply.json()["message"]["sources"] == [{"title": "When are you open?", "url": ""}]


async def test_cache_answers_a_repeated_first_question(examples, chatkit_app):
    text = BASE + '[cache]\nenabled = true\ntype = "dict"\nnamespace = "docs"\n'
    async with chatkit_app(text) as client:
        replies = []
        for _ in range(2):
            session = (await client.post("/api/create-session", json={})).json()["sessionId"]
            reply = await client.post("/api/chat", json={"sessionId": session, "message": "Are you open?"})
            replies.append(reply.json()["message"])
    assert [r["cached"] for r in replies] == [False, True] and replies[0]["content"] == replies[1]["content"]
    assert len(examples["cache"].DictCache.shared["docs"]) == 1


def test_two_runtimes_share_a_provider_s_slots(examples):
    text = '[chain]\nconcurrency_store = "process://"\n' + BASE + "max_concurrency = 2\n"
    first, second = (build_runtime(config_from(text)) for _ in range(2))
    shared = examples["concurrency"].ProcessSlots.shared["main"]
    assert first.chain.slots["main"] is second.chain.slots["main"] is shared


def test_environment_variable_declared_by_the_provider(examples):
    config = config_from(BASE, {"PARROT_MODEL": "parrot-2"})
    assert build_runtime(config).providers[0].model == "parrot-2"


def test_command_runs(examples, tmp_path, capsys):
    path = tmp_path / "chatkit.toml"
    path.write_text(BASE)
    args = parser().parse_args(["providers", "--config", str(path), "--separator", ","])
    assert isinstance(args, argparse.Namespace) and args.run(args) == 0
    assert capsys.readouterr().out == "main\n"


async def test_provider_honours_the_cap_and_says_it_stopped_there(examples, chatkit_app):
    async with chatkit_app(BASE + "[chat]\nmax_tokens = 3\n") as client:
        session = (await client.post("/api/create-session", json={})).json()["sessionId"]
        capped = (await client.post("/api/chat", json={"sessionId": session, "message": "one two three"})).json()
        assert capped["message"]["content"] == "You said: one" and capped["message"]["truncated"] is True
        health = (await client.get("/health")).json()
    assert health["providers"] == [{"name": "main", "type": "parrot", "status": "up"}]
    async with chatkit_app(BASE + "[chat]\nmax_tokens = 0\n") as client:  # 0: no cap
        session = (await client.post("/api/create-session", json={})).json()["sessionId"]
        whole = (await client.post("/api/chat", json={"sessionId": session, "message": "one two three"})).json()
    assert whole["message"]["content"] == "You said: one two three" and whole["message"]["truncated"] is False


async def test_retriever_file_is_found_beside_the_config_from_any_folder(examples, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "faq.json").write_text('{"Do you deliver?": "Within the city, every morning."}')
    (site / "chatkit.toml").write_text(BASE + '[knowledge]\ntype = "faq"\nfaq_file = "faq.json"\n')
    monkeypatch.chdir(tmp_path)  # not the config's folder
    runtime = build_runtime(load_config(site / "chatkit.toml"))
    assert runtime.knowledge is not None and runtime.knowledge.options.faq_file == str(site / "faq.json")
    async with runtime.running():
        found = await runtime.knowledge.find("do you deliver")
    assert [(p.title, p.text) for p in found] == [("Do you deliver?", "Within the city, every morning.")]


def said(text: str, role: str = "user") -> Message:
    return Message(id=new_message_id(), role=role, content=text, created_at=now_rfc3339())


async def test_store_lists_searches_and_rates_for_the_console(examples):
    store = examples["store"].DictStore(examples["store"].DictOptions())
    sessions = []
    for topic in ("sourdough", "rye", "delivery"):
        session = await store.create({})
        answer = said(f"About {topic}: ask at the counter.", "assistant")
        assert await store.append(session.id, said(f"Tell me about {topic}"))
        assert await store.append(session.id, answer)
        sessions.append((session, answer))
        await store.create({})  # never written in: not listed
    first = await store.list_conversations(ConversationQuery(), limit=2)
    assert [c.title for c in first.items] == ["Tell me about delivery", "Tell me about rye"] and first.next
    rest = await store.list_conversations(ConversationQuery(), cursor=first.next, limit=2)
    assert [c.title for c in rest.items] == ["Tell me about sourdough"] and rest.next is None
    with pytest.raises(BadCursor):
        await store.list_conversations(ConversationQuery(), cursor="made-up")
    searched = await store.list_conversations(ConversationQuery(text="RYE counter"))
    assert [c.id for c in searched.items] == [sessions[1][0].id]
    rated = await store.set_feedback(sessions[0][0].id, sessions[0][1].id, Feedback(rating="down"))
    assert rated is not None and rated.feedback == Feedback(rating="down")
    down = await store.list_conversations(ConversationQuery(thumbs_down=True))
    assert [c.id for c in down.items] == [sessions[0][0].id]
    assert await store.erase_inactive(time.time() + 1) == 6 and await store.count() == 0


async def test_store_turns_the_console_on(examples, chatkit_app):
    async with chatkit_app(BASE + '[sessions]\nstore = "dict"\n' + ADMIN) as client:
        session = (await client.post("/api/create-session", json={})).json()["sessionId"]
        await client.post("/api/chat", json={"sessionId": session, "message": "Is the rye ready?"})
        assert (await sign_in(client)).status_code in (302, 303)
        listed = await client.get("/admin/conversations?q=rye")
        assert listed.status_code == 200 and "Is the rye ready?" in listed.text
