"""Every ``# example:`` block of docs/plugins.md, registered as a plugin and used as documented."""

from __future__ import annotations

import argparse
import re
import sys
import types
from collections.abc import Iterator

import pytest

from chatkit_core.cli import parser
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.plugins import problems
from chatkit_core.testing.app import config_from, registered
from tests.conftest import ROOT

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
        assert usage == {"prompt_tokens": 4, "completion_tokens": 1}


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
